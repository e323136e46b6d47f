#pragma once
// A small autoregressive token policy for verifiable-reward tasks with short responses: one MLP
// (polo::MLP) maps the prompt's encoding, the position and the tokens emitted so far to logits
// over the vocabulary. Position t of a sequence sees the column
//
//   [ prompt features (F) | one-hot of t (T) | one-hot of token k in slot k, k < t ((T - 1) V) ]
//
// so every position is a separate sample of one batched forward pass, and the whole [B, T] batch
// of log-probs (teacher forcing) costs one matrix product per layer. The softmax arithmetic is
// polo::Categorical's. Generation runs T batched forward passes over all B rows and stops a row
// after its end token; the positions after it are masked out.
//
// Two workspaces are usual: one for generation and one for scoring and backward (a backward needs
// the last `evaluate` on its workspace).

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Core>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/distributions/categorical.hpp"
#include "polo/nn/activation.hpp"
#include "polo/nn/mlp.hpp"

namespace polo {

struct TokenPolicyOptions {
  Index prompt_features = 0;  ///< F, width of a prompt's encoding (>= 0)
  Index vocab_size = 0;       ///< V (>= 2)
  Index max_length = 0;       ///< T, tokens per response at most (>= 1)
  Index end_token = -1;       ///< generation stops after it; -1: every response has T tokens
  std::vector<Index> hidden{128, 128};
  Activation activation = Activation::tanh;
};

/// Completions of a batch, [B, T] row-major. Positions at and after `lengths[i]` are masked out
/// (mask 0, token `pad`, logp 0).
template <class S>
struct Completions {
  TokenArray<Index> tokens;    ///< [B, T]
  MaskArray mask;              ///< [B, T], 1 at the valid prefix of each row
  std::vector<Index> lengths;  ///< [B], tokens emitted (the end token included)
  TokenArray<S> logp;          ///< [B, T], log-prob under the generating policy

  [[nodiscard]] Index rows() const noexcept { return tokens.rows(); }
  /// Row i's valid tokens.
  [[nodiscard]] std::span<const Index> completion(Index i) const {
    return {tokens.data() + i * tokens.cols(), static_cast<std::size_t>(lengths[i])};
  }
  /// Valid tokens of the whole batch.
  [[nodiscard]] Index num_tokens() const noexcept {
    Index n = 0;
    for (const Index l : lengths)
      n += l;
    return n;
  }
};

template <class S>
class TokenPolicy {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>,
                "polo::TokenPolicy: Scalar must be float or double");

 public:
  using Scalar = S;
  using Matrix = typename MLP<S>::Matrix;
  static constexpr std::string_view name = "polo::TokenPolicy";

  /// Reused across calls; buffers are resized only when the batch shape changes.
  struct Workspace {
    Matrix input;                    ///< [input_size(), N]
    typename MLP<S>::Workspace net;  ///< the MLP's forward state
    Matrix grad_logits;              ///< [V, N]
    std::vector<Index> actions;      ///< the token of each column
    std::vector<Index> column_row;   ///< (row, position) of each column (evaluate)
    std::vector<Index> column_pos;
    std::vector<Index> row_prompt;  ///< prompt column of each row
    std::vector<char> alive;        ///< generation: row still emitting
    SeqArray<S> logp, entropy;      ///< per column
    SeqArray<S> grad_logp, grad_entropy;
    Index rows = -1;  ///< shape of the last evaluate; -1 after a generation
    Index cols = -1;
  };

  explicit TokenPolicy(TokenPolicyOptions options)
      : options_(validated(std::move(options))), net_(layer_sizes(options_), options_.activation) {}

  // ---- shape and parameters (polo::Parametric) ----------------------------------------------

  [[nodiscard]] const TokenPolicyOptions& options() const noexcept { return options_; }
  [[nodiscard]] Index prompt_features() const noexcept { return options_.prompt_features; }
  [[nodiscard]] Index vocab_size() const noexcept { return options_.vocab_size; }
  [[nodiscard]] Index max_length() const noexcept { return options_.max_length; }
  [[nodiscard]] Index end_token() const noexcept { return options_.end_token; }
  /// The MLP's input width, F + T + (T - 1) V.
  [[nodiscard]] Index input_size() const noexcept { return net_.input_size(); }

  [[nodiscard]] MLP<S>& network() noexcept { return net_; }
  [[nodiscard]] const MLP<S>& network() const noexcept { return net_; }
  [[nodiscard]] Index num_parameters() const noexcept { return net_.num_parameters(); }
  [[nodiscard]] Vector<S>& parameters() noexcept { return net_.parameters(); }
  [[nodiscard]] const Vector<S>& parameters() const noexcept { return net_.parameters(); }
  [[nodiscard]] Vector<S>& gradients() noexcept { return net_.gradients(); }
  [[nodiscard]] const Vector<S>& gradients() const noexcept { return net_.gradients(); }
  void zero_grad() noexcept { net_.zero_grad(); }

  /// Orthogonal init with a small output gain (0.01): the first policy is near uniform.
  template <std::uniform_random_bit_generator G>
  void init(G& gen, double output_gain = 0.01) {
    net_.init_orthogonal(gen, std::numbers::sqrt2, output_gain);
  }

  // ---- generation ----------------------------------------------------------------------------

  /// Samples `groups.size(g)` completions of prompt g (column g of `prompts` [F, P], P =
  /// groups.count()); the rows of group g are consecutive. One polo::uniform per row and position
  /// (in row order) until every row has ended: deterministic under a seed.
  template <std::uniform_random_bit_generator G>
  void sample(const Matrix& prompts, const Groups& groups, G& gen, Completions<S>& out,
              Workspace& ws) const {
    generate("polo::TokenPolicy::sample", prompts, groups, out, ws,
             [&](TokenView<const S> z, std::span<Index> a) { Categorical::sample(z, gen, a); });
  }

  /// One greedy (arg-max) completion per prompt column.
  void greedy(const Matrix& prompts, Completions<S>& out, Workspace& ws) const {
    const Groups one = Groups::uniform(prompts.cols(), 1);
    generate("polo::TokenPolicy::greedy", prompts, one, out, ws,
             [](TokenView<const S> z, std::span<Index> a) { Categorical::mode(z, a); });
  }

  // ---- scoring and backward ------------------------------------------------------------------

  /// Teacher-forced log-probs of `tokens` [B, T'] (T' <= T) at the valid positions of `mask`
  /// (null: all), and optionally the entropies of those positions' distributions; 0 where masked.
  /// Row i belongs to prompt g with groups.begin(g) <= i < groups.end(g). A position sees the
  /// tokens before it that are valid. Keeps in `ws` what `backward` needs.
  void evaluate(const Matrix& prompts, const Groups& groups, TokenView<const Index> tokens,
                MaskView mask, TokenView<S> logp, TokenView<S> entropy, Workspace& ws) const {
    constexpr std::string_view where = "polo::TokenPolicy::evaluate";
    const Index rows = tokens.rows();
    const Index cols = tokens.cols();
    if (cols > max_length()) {
      detail::fail_argument(where, "tokens columns",
                            fmt::format("<= max_length ({})", max_length()), cols);
    }
    require_prompts(where, prompts, groups, rows);
    map_rows(groups, ws);
    detail::require_mask_shape(where, mask, rows, cols);
    detail::require_shape(where, "logp", logp, rows, cols);
    const bool want_entropy = !entropy.is_null();
    if (want_entropy) detail::require_shape(where, "entropy", entropy, rows, cols);

    ws.column_row.clear();
    ws.column_pos.clear();
    ws.actions.clear();
    for (Index i = 0; i < rows; ++i) {
      for (Index t = 0; t < cols; ++t) {
        if (!mask(i, t)) continue;
        const Index a = tokens(i, t);
        if (a < 0 || a >= vocab_size()) {
          detail::fail_argument(where, fmt::format("tokens at row {}, column {}", i, t),
                                fmt::format("in [0, {})", vocab_size()), a);
        }
        ws.column_row.push_back(i);
        ws.column_pos.push_back(t);
        ws.actions.push_back(a);
      }
    }
    const auto n = static_cast<Index>(ws.actions.size());
    ws.input.resize(input_size(), n);
    ws.input.setZero();
    for (Index c = 0; c < n; ++c) {
      const Index i = ws.column_row[static_cast<std::size_t>(c)];
      const Index t = ws.column_pos[static_cast<std::size_t>(c)];
      S* col = ws.input.col(c).data();
      write_context(col, prompts, ws.row_prompt[static_cast<std::size_t>(i)], t);
      S* slots = col + prompt_features() + max_length();
      for (Index k = 0; k < t; ++k) {
        if (mask(i, k)) slots[k * vocab_size() + tokens(i, k)] = S{1};
      }
    }
    const Matrix& z = net_.forward(ws.input, ws.net);
    ws.logp.resize(n);
    const TokenView<const S> logits(z.data(), n, vocab_size());
    const std::span<const Index> actions(ws.actions);
    if (want_entropy) {
      ws.entropy.resize(n);
      Categorical::log_prob_and_entropy(logits, actions, SeqView<S>(ws.logp),
                                        SeqView<S>(ws.entropy));
    } else {
      Categorical::log_prob(logits, actions, SeqView<S>(ws.logp));
    }
    for (Index i = 0; i < rows; ++i) {
      std::fill_n(logp.row(i), cols, S{0});
      if (want_entropy) std::fill_n(entropy.row(i), cols, S{0});
    }
    for (Index c = 0; c < n; ++c) {
      const Index i = ws.column_row[static_cast<std::size_t>(c)];
      const Index t = ws.column_pos[static_cast<std::size_t>(c)];
      logp.row(i)[t] = ws.logp[c];
      if (want_entropy) entropy.row(i)[t] = ws.entropy[c];
    }
    ws.rows = rows;
    ws.cols = cols;
  }

  /// Back-propagates d loss / d logp (`grad_logp` [B, T'], read at the valid positions of the last
  /// `evaluate` on `ws` only) and optionally d loss / d entropy through that evaluation: ADDS
  /// d loss / d parameters to `gradients()`.
  void backward(TokenView<const S> grad_logp, TokenView<const S> grad_entropy, Workspace& ws) {
    constexpr std::string_view where = "polo::TokenPolicy::backward";
    if (ws.rows < 0) {
      detail::fail_argument(where, "workspace", "filled by evaluate() of this policy",
                            "a workspace without it");
    }
    const bool has_logp = !grad_logp.is_null();
    const bool has_entropy = !grad_entropy.is_null();
    if (has_logp) detail::require_shape(where, "grad_logp", grad_logp, ws.rows, ws.cols);
    if (has_entropy) detail::require_shape(where, "grad_entropy", grad_entropy, ws.rows, ws.cols);
    const auto n = static_cast<Index>(ws.actions.size());
    ws.grad_logp.resize(n);
    ws.grad_entropy.resize(n);
    for (Index c = 0; c < n; ++c) {
      const Index i = ws.column_row[static_cast<std::size_t>(c)];
      const Index t = ws.column_pos[static_cast<std::size_t>(c)];
      ws.grad_logp[c] = has_logp ? grad_logp.row(i)[t] : S{0};
      ws.grad_entropy[c] = has_entropy ? grad_entropy.row(i)[t] : S{0};
    }
    const Matrix& z = ws.net.activations.back();
    ws.grad_logits.resize(vocab_size(), n);
    Categorical::backward(TokenView<const S>(z.data(), n, vocab_size()),
                          std::span<const Index>(ws.actions),
                          has_logp ? SeqView<const S>(ws.grad_logp) : SeqView<const S>{},
                          has_entropy ? SeqView<const S>(ws.grad_entropy) : SeqView<const S>{},
                          TokenView<S>(ws.grad_logits.data(), n, vocab_size()));
    net_.backward(ws.grad_logits, ws.net, skip_input_grad);
  }

 private:
  static TokenPolicyOptions validated(TokenPolicyOptions o) {
    detail::require(o.prompt_features >= 0, name, "prompt_features", ">= 0",
                    static_cast<double>(o.prompt_features));
    detail::require(o.vocab_size >= 2, name, "vocab_size", ">= 2",
                    static_cast<double>(o.vocab_size));
    detail::require(o.max_length >= 1, name, "max_length", ">= 1",
                    static_cast<double>(o.max_length));
    if (o.end_token < -1 || o.end_token >= o.vocab_size) {
      detail::fail_argument(name, "end_token",
                            fmt::format("-1 (none) or a token in [0, {})", o.vocab_size),
                            o.end_token);
    }
    return o;
  }

  static std::vector<Index> layer_sizes(const TokenPolicyOptions& o) {
    std::vector<Index> sizes{o.prompt_features + o.max_length + (o.max_length - 1) * o.vocab_size};
    sizes.insert(sizes.end(), o.hidden.begin(), o.hidden.end());
    sizes.push_back(o.vocab_size);
    return sizes;
  }

  void require_prompts(std::string_view where, const Matrix& prompts, const Groups& groups,
                       Index rows) const {
    if (prompts.rows() != prompt_features()) {
      detail::fail_argument(
          where, "prompts rows",
          fmt::format("{} (prompt_features; prompts is [F, P])", prompt_features()),
          prompts.rows());
    }
    if (groups.count() != prompts.cols()) {
      detail::fail_argument(where, "groups count",
                            fmt::format("{} (one group per prompt column)", prompts.cols()),
                            groups.count());
    }
    groups.require_covers(where, rows);
  }

  void map_rows(const Groups& groups, Workspace& ws) const {
    ws.row_prompt.resize(static_cast<std::size_t>(groups.batch_size()));
    for (Index g = 0; g < groups.count(); ++g) {
      for (Index i = groups.begin(g); i < groups.end(g); ++i) {
        ws.row_prompt[static_cast<std::size_t>(i)] = g;
      }
    }
  }

  /// The prompt and position parts of a (zeroed) input column.
  void write_context(S* col, const Matrix& prompts, Index prompt, Index t) const {
    const S* p = prompts.col(prompt).data();
    std::copy_n(p, prompt_features(), col);
    col[prompt_features() + t] = S{1};
  }

  template <class Choose>
  void generate(std::string_view where, const Matrix& prompts, const Groups& groups,
                Completions<S>& out, Workspace& ws, Choose&& choose) const {
    const Index rows = groups.batch_size();
    require_prompts(where, prompts, groups, rows);
    map_rows(groups, ws);
    const Index len = max_length();
    const Index pad = end_token() >= 0 ? end_token() : 0;
    out.tokens.resize(rows, len);
    out.tokens.setConstant(pad);
    out.mask.resize(rows, len);
    out.mask.setZero();
    out.logp.resize(rows, len);
    out.logp.setZero();
    out.lengths.assign(static_cast<std::size_t>(rows), 0);
    ws.alive.assign(static_cast<std::size_t>(rows), 1);
    ws.actions.resize(static_cast<std::size_t>(rows));
    ws.logp.resize(rows);
    ws.rows = -1;  // a generation is not an evaluation: no backward through it
    Index alive = rows;
    for (Index t = 0; t < len && alive > 0; ++t) {
      ws.input.resize(input_size(), rows);
      ws.input.setZero();
      for (Index i = 0; i < rows; ++i) {
        S* col = ws.input.col(i).data();
        write_context(col, prompts, ws.row_prompt[static_cast<std::size_t>(i)], t);
        S* slots = col + prompt_features() + len;
        for (Index k = 0; k < t; ++k) {
          slots[k * vocab_size() + out.tokens(i, k)] = S{1};
        }
      }
      const Matrix& z = net_.forward(ws.input, ws.net);
      const TokenView<const S> logits(z.data(), rows, vocab_size());
      choose(logits, std::span<Index>(ws.actions));
      Categorical::log_prob(logits, std::span<const Index>(ws.actions), SeqView<S>(ws.logp));
      for (Index i = 0; i < rows; ++i) {
        const auto k = static_cast<std::size_t>(i);
        if (!ws.alive[k]) continue;
        const Index a = ws.actions[k];
        out.tokens(i, t) = a;
        out.mask(i, t) = 1;
        out.logp(i, t) = ws.logp[i];
        ++out.lengths[k];
        if (a == end_token()) {
          ws.alive[k] = 0;
          --alive;
        }
      }
    }
  }

  TokenPolicyOptions options_;
  MLP<S> net_;
};

static_assert(Parametric<TokenPolicy<float>>);
static_assert(Parametric<TokenPolicy<double>>);

}  // namespace polo
