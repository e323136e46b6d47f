#pragma once
// The Plackett-Luce distribution over rankings (Plackett 1975, Luce 1959): row q of a [Q, n]
// score view ranks that query's valid items, choosing position k among the items left with
// probability p_k(j) = exp(s_j) / sum_{i unplaced} exp(s_i). ALGORITHMS
// ranking_flow_offline_meta.md §1(b).
//
// Rankings are [R, k] int32 arrays, R = Q K: the K rankings of query q are rows qK ... qK + K - 1;
// entry c is the item at 0-based position c, and -1 marks an empty slot (a query with fewer valid
// items than k). Padded items (mask 0) are never sampled and never enter a denominator; their
// scores are never read, so they may be NaN or -inf.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Core>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/ranking/detail/pl_query.hpp"

namespace polo {

/// Owning [R, k] rankings: row r holds item indices, best first; -1 is an empty slot.
using Rankings = Eigen::Array<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Log-probabilities of rankings and their gradients with respect to the scores.
template <class S>
struct PLLogProb {
  SeqArrayd value;     ///< log pi(y_r), [R]
  TokenArray<S> grad;  ///< d log pi(y_r) / d scores of its query, [R, n]; 0 at padded items
};

/// Plackett-Luce over each row of `scores [Q, n]`; `mask [Q, n]` (null = every item valid) marks
/// the items of ragged queries. A query with no valid item yields empty rankings (all -1).
template <class S>
struct PlackettLuce {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>,
                "polo::PlackettLuce: Scalar must be float or double");

  TokenView<const S> scores{};  ///< s, [Q, n]
  MaskView mask{};              ///< nonzero where an item exists; null = all do

  [[nodiscard]] Index queries() const noexcept { return scores.rows(); }
  [[nodiscard]] Index items() const noexcept { return scores.cols(); }

  /// Draws `num_samples` rankings per query into `out [Q num_samples, k]` (k = out.cols(), the
  /// top-k prefix) by the Gumbel trick: sort s_j + g_j decreasingly, g_j ~ Gumbel(0, 1), and keep
  /// the first k. With E_j = -log u_j (u_j from `polo::uniform_open`, as `polo::gumbel` draws it),
  /// g_j = -log E_j, so s_j + g_j > s_i + g_i exactly when E_j / e^{s_j} < E_i / e^{s_i} (the
  /// exponential race): the same ranking from the same generator stream as
  /// s_j + polo::gumbel(gen), with one log per item instead of two. (A query whose scores spread
  /// over ~700, where e^{s - max} underflows, compares s_j - max - log E_j instead.) The top k
  /// come from partial selection, never a full sort: for k <= 32 a bound on the k-th smallest key
  /// from the 3k highest-scored items, a branch-free pass that keeps the items at or below it
  /// (about 3k of 100) and ranking those by counting; beyond, nth_element and a sort of the k
  /// chosen.
  template <std::uniform_random_bit_generator G>
  void sample(G& gen, Index num_samples, TokenView<std::int32_t> out) const {
    constexpr std::string_view where = "polo::PlackettLuce::sample";
    check(where);
    if (num_samples < 1) detail::fail_argument(where, "num_samples", ">= 1", num_samples);
    require_out(where, out, queries() * num_samples);
    const Index k = out.cols();
    detail::PLQuery w;
    w.reserve(items(), k);
    Selection sel(items());
    Eigen::ArrayXd inv_e(items());  // 1 / e_j, by valid slot t (item w.items[t])
    Eigen::ArrayXd keys(items());
    Eigen::ArrayXd draws;
    for (Index q = 0; q < queries(); ++q) {
      detail::pl_load_query(where, scores, mask, q, w);
      const S* z = scores.row(q);
      const Index nv = w.valid_count();
      bool race = true;
      for (Index t = 0; t < nv; ++t) {
        const double e = w.e[static_cast<std::size_t>(w.items[static_cast<std::size_t>(t)])];
        race = race && e > 1e-300;
        inv_e[t] = 1.0 / e;
      }
      sel.load_head(w, std::min(k, nv));
      // All the query's uniforms first (in the order polo::gumbel would draw them), then one
      // vectorized log over the block.
      draws.resize(num_samples * nv);
      for (Index t = 0; t < draws.size(); ++t)
        draws[t] = uniform_open(gen);
      draws = -draws.log();  // E = -log u ~ Exp(1)
      for (Index s = 0; s < num_samples; ++s) {
        const auto exp1 = draws.segment(s * nv, nv);
        if (race) {
          keys.head(nv) = exp1 * inv_e.head(nv);
        } else {
          for (Index t = 0; t < nv; ++t) {
            const std::int32_t j = w.items[static_cast<std::size_t>(t)];
            keys[t] = std::log(exp1[t]) - (static_cast<double>(z[j]) - w.max);
          }
        }
        sel.write_smallest(keys.data(), w.items, out.row(q * num_samples + s), k);
      }
    }
  }

  /// Owning form: [Q num_samples, top_k].
  template <std::uniform_random_bit_generator G>
  [[nodiscard]] Rankings sample(G& gen, Index num_samples, Index top_k) const {
    if (top_k < 1) detail::fail_argument("polo::PlackettLuce::sample", "top_k", ">= 1", top_k);
    if (num_samples < 1) {
      detail::fail_argument("polo::PlackettLuce::sample", "num_samples", ">= 1", num_samples);
    }
    Rankings out(queries() * num_samples, top_k);
    sample(gen, num_samples, out);
    return out;
  }

  /// The most probable ranking of each query (items by decreasing score, ties by index) into
  /// `out [Q, k]`.
  void mode(TokenView<std::int32_t> out) const {
    constexpr std::string_view where = "polo::PlackettLuce::mode";
    check(where);
    require_out(where, out, queries());
    detail::PLQuery w;
    w.reserve(items(), out.cols());
    Selection sel(items());
    std::vector<double> keys(static_cast<std::size_t>(items()));
    for (Index q = 0; q < queries(); ++q) {
      detail::pl_load_query(where, scores, mask, q, w);
      const Index nv = w.valid_count();
      for (Index t = 0; t < nv; ++t)
        keys[static_cast<std::size_t>(t)] =
            -static_cast<double>(scores(q, w.items[static_cast<std::size_t>(t)]));
      sel.load_head(w, std::min(out.cols(), nv));
      sel.write_smallest(keys.data(), w.items, out.row(q), out.cols());
    }
  }

  [[nodiscard]] Rankings mode(Index top_k) const {
    if (top_k < 1) detail::fail_argument("polo::PlackettLuce::mode", "top_k", ">= 1", top_k);
    Rankings out(queries(), top_k);
    mode(out);
    return out;
  }

  /// log pi(y_r) of each ranking row (a full ranking or a top-k prefix: the marginal probability
  /// of that prefix) into `out [R]`, and, when `grad` is given, d log pi(y_r) / d s into
  /// `grad [R, n]`: sum_{k<m} ([y_k = j] - p_k(j)).
  void log_prob(TokenView<const std::int32_t> rankings, SeqView<double> out,
                TokenView<S> grad = {}) const {
    constexpr std::string_view where = "polo::PlackettLuce::log_prob";
    check(where);
    const Index per = detail::pl_samples_per_query(where, rankings, queries());
    detail::require_shape(where, "out", out, rankings.rows());
    if (!grad.is_null()) detail::require_shape(where, "grad", grad, rankings.rows(), items());
    detail::PLQuery w;
    w.reserve(items(), rankings.cols());
    std::vector<double> ones(static_cast<std::size_t>(rankings.cols()), 1.0);
    for (Index q = 0; q < queries(); ++q) {
      detail::pl_load_query(where, scores, mask, q, w);
      for (Index s = 0; s < per; ++s) {
        const Index r = q * per + s;
        const std::int32_t* y = rankings.row(r);
        const Index m = detail::pl_load_ranking(where, scores.row(q), y, rankings.cols(), r, q, w);
        out[r] = detail::pl_log_prob(scores.row(q), y, m, w);
        if (!grad.is_null()) {
          S* g = grad.row(r);
          std::fill(g, g + items(), S{0});
          detail::pl_accumulate_grad(y, m, ones.data(), 1.0, w, g);
        }
        detail::pl_unload_ranking(y, m, w);
      }
    }
  }

  [[nodiscard]] SeqArrayd log_prob(TokenView<const std::int32_t> rankings) const {
    SeqArrayd out(rankings.rows());
    log_prob(rankings, out);
    return out;
  }

  [[nodiscard]] PLLogProb<S> log_prob_and_grad(TokenView<const std::int32_t> rankings) const {
    PLLogProb<S> out{SeqArrayd(rankings.rows()), TokenArray<S>(rankings.rows(), items())};
    log_prob(rankings, out.value, out.grad);
    return out;
  }

  /// Entropy of the first position, H_q = -sum_j p_0(j) log p_0(j) (the softmax over the valid
  /// items; 0 for a query without one), into `out [Q]`; with `grad`, dH_q / ds_qj =
  /// -p_0(j) (log p_0(j) + H_q) into `grad [Q, n]`.
  void first_entropy(SeqView<double> out, TokenView<S> grad = {}) const {
    constexpr std::string_view where = "polo::PlackettLuce::first_entropy";
    check(where);
    detail::require_shape(where, "out", out, queries());
    if (!grad.is_null()) detail::require_shape(where, "grad", grad, queries(), items());
    detail::PLQuery w;
    w.reserve(items(), 1);
    for (Index q = 0; q < queries(); ++q) {
      detail::pl_load_query(where, scores, mask, q, w);
      double total = 0.0;
      for (const std::int32_t j : w.items)
        total += w.e[static_cast<std::size_t>(j)];
      const double log_total = w.items.empty() ? 0.0 : std::log(total);
      double h = 0.0;
      for (const std::int32_t j : w.items) {
        const double logp = static_cast<double>(scores(q, j)) - w.max - log_total;
        h -= w.e[static_cast<std::size_t>(j)] / total * logp;
      }
      out[q] = h;
      if (grad.is_null()) continue;
      S* g = grad.row(q);
      std::fill(g, g + items(), S{0});
      for (const std::int32_t j : w.items) {
        const double logp = static_cast<double>(scores(q, j)) - w.max - log_total;
        g[j] = static_cast<S>(-w.e[static_cast<std::size_t>(j)] / total * (logp + h));
      }
    }
  }

  [[nodiscard]] SeqArrayd first_entropy() const {
    SeqArrayd out(queries());
    first_entropy(out);
    return out;
  }

 private:
  void check(std::string_view where) const {
    if (scores.is_null()) detail::fail_argument(where, "scores", "given ([Q, n])", "none");
    detail::require_mask_shape(where, mask, scores.rows(), scores.cols());
  }

  static void require_out(std::string_view where, TokenView<std::int32_t> out, Index rows) {
    if (out.cols() < 1) detail::fail_argument(where, "out cols (top k)", ">= 1", out.cols());
    detail::require_shape(where, "out", out, rows, out.cols());
  }

  /// Top-k selection by smallest key, ties by index. Keys come by valid slot t (item
  /// items[t], increasing with t). For k <= 32 a threshold pass: a "head" of the 3m likely winners
  /// (highest scores) gives a bound >= the m-th smallest key, one branch-free pass keeps only the
  /// items at or below it, and counting the smaller ones ranks those, all without data-dependent
  /// branches (the old insertion buffer mispredicted on every insertion). Equal keys or many
  /// candidates: nth_element and a sort of the candidates. Beyond k = 32, nth_element and a sort.
  struct Selection {
    std::vector<std::int32_t> head;   ///< slots of the head (the highest scores)
    std::vector<std::int32_t> cand;   ///< slots that pass the threshold
    std::vector<double> cand_keys;    ///< their keys, contiguous (+inf padded)
    std::vector<std::int32_t> order;  ///< scratch of sort_prefix
    explicit Selection(Index n)
        : head(static_cast<std::size_t>(n)),
          cand(static_cast<std::size_t>(n)),
          cand_keys(static_cast<std::size_t>(n) + 8) {}

    /// The head: the min(3m, n_valid) slots of the highest e (the most likely winners).
    void load_head(const detail::PLQuery& w, Index m) {
      const Index nv = w.valid_count();
      const Index h = std::min(3 * m, nv);
      head.resize(static_cast<std::size_t>(nv));
      for (Index t = 0; t < nv; ++t)
        head[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(t);
      if (h > 0 && h < nv) {
        std::nth_element(head.begin(), head.begin() + (h - 1), head.end(),
                         [&](std::int32_t a, std::int32_t b) {
                           const double ea = w.e[static_cast<std::size_t>(w.items[a])];
                           const double eb = w.e[static_cast<std::size_t>(w.items[b])];
                           return ea > eb || (ea == eb && a < b);
                         });
      }
      head.resize(static_cast<std::size_t>(h));
    }

    void write_smallest(const double* keys, const std::vector<std::int32_t>& items,
                        std::int32_t* row, Index k) {
      const auto nv = static_cast<Index>(items.size());
      const Index m = std::min<Index>(k, nv);
      if (m > 0 && k <= 32) {
        constexpr double inf = std::numeric_limits<double>::infinity();
        // The bound: split the head (3m likely winners) into m groups; the largest of the groups'
        // smallest keys is the key of one of m distinct items, so it is >= the m-th smallest key.
        double bound = inf;
        if (m < nv) {
          const auto nh = static_cast<Index>(head.size());
          double top = -inf;
          for (Index i = 0; i < m; ++i) {
            double low = keys[head[static_cast<std::size_t>(i)]];
            for (Index g = i + m; g < nh; g += m)
              low = std::min(low, keys[head[static_cast<std::size_t>(g)]]);
            top = std::max(top, low);
          }
          bound = top;
        }
        // Branch-free filter: every item of the top m has a key <= bound.
        Index c = 0;
        std::int32_t* pass = cand.data();
        double* ck = cand_keys.data();
        for (Index t = 0; t < nv; ++t) {
          pass[c] = static_cast<std::int32_t>(t);
          ck[c] = keys[t];
          c += keys[t] <= bound ? 1 : 0;
        }
        // Rank of each candidate by counting the smaller ones. Equal keys (rare) share a rank and
        // collide in the row: then the sort below orders them by slot.
        bool tie = c > 64;
        if (!tie) {
          const Index padded = (c + 7) / 8 * 8;
          std::fill(ck + c, ck + padded, inf);
          double rank[64] = {};
          count_less(ck, c, padded, rank);
          std::fill(row, row + m, -1);
          for (Index i = 0; i < c; ++i) {
            const auto r = static_cast<Index>(rank[i]);
            if (r >= m) continue;
            tie = tie || row[r] != -1;
            row[r] = items[static_cast<std::size_t>(pass[i])];
          }
        }
        if (tie) {
          sort_prefix(ck, pass, c, m, items, row);
        }
      } else if (m > 0) {
        for (Index t = 0; t < nv; ++t) {
          cand[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(t);
          cand_keys[static_cast<std::size_t>(t)] = keys[t];
        }
        sort_prefix(cand_keys.data(), cand.data(), nv, m, items, row);
      }
      std::fill(row + m, row + k, -1);
    }

    /// less[i] += #{j < c : key[j] < key[i]} for i < padded (a multiple of 8; keys padded with
    /// +inf): column-wise with a fixed inner width, so that it vectorizes.
    static void count_less(const double* key, Index c, Index padded, double* less) {
      for (Index j = 0; j < c; ++j) {
        const double kj = key[j];
        for (Index i = 0; i < padded; i += 8)
          for (Index l = 0; l < 8; ++l)
            less[i + l] += kj < key[i + l] ? 1.0 : 0.0;
      }
    }

    /// The m smallest of c candidates (keys ck, slots pass in increasing order) by nth_element
    /// and a sort of the m chosen, ties by slot.
    void sort_prefix(const double* ck, const std::int32_t* pass, Index c, Index m,
                     const std::vector<std::int32_t>& items, std::int32_t* row) {
      order.resize(static_cast<std::size_t>(c));
      for (Index i = 0; i < c; ++i)
        order[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
      const auto better = [&](std::int32_t a, std::int32_t b) {
        return ck[a] < ck[b] || (ck[a] == ck[b] && a < b);
      };
      const auto mm = static_cast<std::ptrdiff_t>(m);
      if (m < c) std::nth_element(order.begin(), order.begin() + (mm - 1), order.end(), better);
      std::sort(order.begin(), order.begin() + mm, better);
      for (Index p = 0; p < m; ++p)
        row[p] = items[static_cast<std::size_t>(pass[order[static_cast<std::size_t>(p)]])];
    }
  };
};

}  // namespace polo
