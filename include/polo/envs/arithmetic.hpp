#pragma once
// A verifiable-reward task for GRPO-style training: the prompt is two integers a, b in
// [0, 10^d - 1] (d = `operand_digits`, 2 by default: 0..99), the response is the decimal digits
// of a + b, most significant first and without leading zeros, then an end token. The reward is 1
// for exactly that response and 0 for anything else (a wrong digit, a missing or early end token,
// a truncated answer).
//
// Tokens: the digits 0..9 are tokens 0..9 and the end token is 10 (vocabulary 11). A prompt is
// identified by `id = a * 10^d + b`. The split into training and held-out prompts is fixed: the
// ids are shuffled by Fisher-Yates with polo::uniform_int on std::mt19937_64(split_seed) (seed 0
// by default), the first `train_size` become the training prompts and the rest the held-out
// ones, each list sorted by id. polo's samplers are portable, so every platform gets the same
// split. With d = 2 that is 8,000 training and 2,000 held-out prompts.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Core>

#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// The two operands of a prompt.
struct ArithmeticPrompt {
  Index a = 0;
  Index b = 0;
};

class ArithmeticTask {
 public:
  static constexpr Index base = 10;       ///< digit tokens 0..9
  static constexpr Index end_token = 10;  ///< ends every response
  static constexpr Index vocab_size = 11;
  static constexpr std::string_view name = "polo::ArithmeticTask";

  struct Options {
    Index operand_digits = 2;  ///< d: operands in [0, 10^d - 1]; 1 to 4
    Index train_size = -1;     ///< training prompts; -1: 80% of the 10^(2d) prompts (8,000)
    std::uint64_t split_seed = 0;
  };

  ArithmeticTask() : ArithmeticTask(Options{}) {}

  explicit ArithmeticTask(Options options) : options_(options) {
    if (options_.operand_digits < 1 || options_.operand_digits > 4) {
      detail::fail_argument(name, "operand_digits", "in [1, 4]", options_.operand_digits);
    }
    operand_limit_ = 1;
    for (Index k = 0; k < options_.operand_digits; ++k) {
      operand_limit_ *= base;
    }
    const Index total = num_prompts();
    if (options_.train_size < 0) options_.train_size = total * 4 / 5;
    if (options_.train_size > total) {
      detail::fail_argument(name, "train_size",
                            fmt::format("in [0, {}] (the number of prompts)", total),
                            options_.train_size);
    }
    std::vector<Index> ids(static_cast<std::size_t>(total));
    std::iota(ids.begin(), ids.end(), Index{0});
    Rng gen(options_.split_seed);
    for (Index i = total - 1; i > 0; --i) {
      const Index j = uniform_int(gen, i + 1);
      std::swap(ids[static_cast<std::size_t>(i)], ids[static_cast<std::size_t>(j)]);
    }
    const auto cut = ids.begin() + options_.train_size;
    train_.assign(ids.begin(), cut);
    held_out_.assign(cut, ids.end());
    std::sort(train_.begin(), train_.end());
    std::sort(held_out_.begin(), held_out_.end());
  }

  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] Index operand_digits() const noexcept { return options_.operand_digits; }
  /// 10^d: operands are below it.
  [[nodiscard]] Index operand_limit() const noexcept { return operand_limit_; }
  [[nodiscard]] Index num_prompts() const noexcept { return operand_limit_ * operand_limit_; }
  /// Longest correct response: d + 1 digits and the end token.
  [[nodiscard]] Index max_length() const noexcept { return options_.operand_digits + 2; }
  /// Width of `encode`: one one-hot block of 10 per digit of each operand.
  [[nodiscard]] Index prompt_features() const noexcept {
    return 2 * options_.operand_digits * base;
  }

  /// The fixed split (sorted ids).
  [[nodiscard]] std::span<const Index> train_prompts() const noexcept { return train_; }
  [[nodiscard]] std::span<const Index> held_out_prompts() const noexcept { return held_out_; }

  [[nodiscard]] ArithmeticPrompt prompt(Index id) const {
    require_id(id);
    return {id / operand_limit_, id % operand_limit_};
  }
  [[nodiscard]] Index id(Index a, Index b) const {
    if (a < 0 || a >= operand_limit_ || b < 0 || b >= operand_limit_) {
      detail::fail_argument(name, "operands", fmt::format("in [0, {}]", operand_limit_ - 1),
                            fmt::format("{} and {}", a, b));
    }
    return a * operand_limit_ + b;
  }

  /// Writes the prompt's features into `out` (`prompt_features()` values): for a, then b, one
  /// block of 10 per digit, most significant first, holding the one-hot of that digit.
  template <class S>
  void encode(Index id, std::span<S> out) const {
    if (static_cast<Index>(out.size()) != prompt_features()) {
      detail::fail_argument(name, "encode output size",
                            fmt::format("{} (prompt_features())", prompt_features()), out.size());
    }
    const ArithmeticPrompt p = prompt(id);
    std::fill(out.begin(), out.end(), S{0});
    const Index d = options_.operand_digits;
    Index block = 0;
    for (const Index operand : {p.a, p.b}) {
      Index rest = operand;
      for (Index k = d - 1; k >= 0; --k) {  // least significant digit into the last block
        out[static_cast<std::size_t>((block + k) * base + rest % base)] = S{1};
        rest /= base;
      }
      block += d;
    }
  }

  /// The encodings of `ids` as the columns of `out` (resized to [prompt_features(), n]).
  template <class S>
  void encode(std::span<const Index> ids,
              Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& out) const {
    out.resize(prompt_features(), static_cast<Index>(ids.size()));
    for (Index j = 0; j < out.cols(); ++j) {
      encode(ids[static_cast<std::size_t>(j)], std::span<S>(out.col(j).data(), out.rows()));
    }
  }

  /// The correct response: the digits of a + b, then the end token.
  [[nodiscard]] std::vector<Index> answer(Index id) const {
    const ArithmeticPrompt p = prompt(id);
    std::vector<Index> tokens;
    Index sum = p.a + p.b;
    do {
      tokens.push_back(sum % base);
      sum /= base;
    } while (sum > 0);
    std::reverse(tokens.begin(), tokens.end());
    tokens.push_back(end_token);
    return tokens;
  }

  /// True iff `completion` (the response's tokens, end token included when one was emitted) is
  /// exactly the digits of a + b followed by the end token.
  [[nodiscard]] bool correct(Index id, std::span<const Index> completion) const {
    const ArithmeticPrompt p = prompt(id);
    Index sum = p.a + p.b;
    Index digits = 0;
    for (Index s = sum; digits == 0 || s > 0; s /= base) {
      ++digits;
    }
    if (static_cast<Index>(completion.size()) != digits + 1) return false;
    if (completion.back() != end_token) return false;
    for (Index k = digits - 1; k >= 0; --k) {
      if (completion[static_cast<std::size_t>(k)] != sum % base) return false;
      sum /= base;
    }
    return true;
  }

  /// The verifiable reward: 1 for the exact answer followed by the end token, else 0.
  [[nodiscard]] double reward(Index id, std::span<const Index> completion) const {
    return correct(id, completion) ? 1.0 : 0.0;
  }

  /// "37+45=".
  [[nodiscard]] std::string prompt_text(Index id) const {
    const ArithmeticPrompt p = prompt(id);
    return fmt::format("{}+{}=", p.a, p.b);
  }

  /// A response as text: digits as themselves, the end token as "<end>", anything else as "<?>".
  [[nodiscard]] static std::string decode(std::span<const Index> completion) {
    std::string text;
    for (const Index t : completion) {
      if (t >= 0 && t < base) {
        text += static_cast<char>('0' + t);
      } else if (t == end_token) {
        text += "<end>";
      } else {
        text += "<?>";
      }
    }
    return text;
  }

 private:
  void require_id(Index id) const {
    if (id < 0 || id >= num_prompts()) {
      detail::fail_argument(name, "prompt id", fmt::format("in [0, {})", num_prompts()), id);
    }
  }

  Options options_;
  Index operand_limit_ = 0;
  std::vector<Index> train_;
  std::vector<Index> held_out_;
};

}  // namespace polo
