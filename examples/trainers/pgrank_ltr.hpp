#pragma once
// Learning to rank on the synthetic LETOR-style data set (polo/envs/ltr.hpp) with an MLP scorer
// and Adam, by PG-Rank, PL-Rank, ListMLE or a pointwise regression of the grades. Shared by
// examples/pgrank_ltr.cpp and its smoke test.

#include <chrono>
#include <cstdint>
#include <functional>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/envs/ltr.hpp"
#include "polo/nn/mlp.hpp"
#include "polo/nn/optim.hpp"
#include "polo/ranking/listmle.hpp"
#include "polo/ranking/metrics.hpp"
#include "polo/ranking/pg_rank.hpp"
#include "polo/ranking/pl_rank.hpp"
#include "polo/ranking/plackett_luce.hpp"

namespace polo::examples {

enum class LtrMethod { pgrank, plrank, listmle, pointwise };

inline std::string_view method_name(LtrMethod m) {
  switch (m) {
    case LtrMethod::pgrank:
      return "pgrank";
    case LtrMethod::plrank:
      return "plrank";
    case LtrMethod::listmle:
      return "listmle";
    case LtrMethod::pointwise:
      return "pointwise";
  }
  return "?";
}

struct LtrTrainConfig {
  LtrMethod method = LtrMethod::plrank;
  std::uint64_t seed = 1;       ///< initialization, batches and samples
  std::uint64_t data_seed = 7;  ///< the data set (fixed across runs so seeds compare)
  Index steps = 1500;           ///< Adam updates
  Index batch_queries = 16;
  Index samples = 16;           ///< K rankings per query (PG-Rank, PL-Rank)
  Index top_k = 10;             ///< sampled prefix length = nDCG cutoff
  double learning_rate = 1e-3;  ///< torch.optim.Adam's default
  Index hidden = 64;
  Index eval_every = 100;         ///< steps between validation evaluations (and log rows)
  Index variance_resamples = 20;  ///< re-samplings for the gradient-variance measurement
  LtrConfig data{};
};

struct LtrLog {
  Index step = 0;
  double train_objective = 0.0;  ///< mean sampled nDCG@k (estimators) or loss of the batch
  double validation_ndcg = 0.0;
  double seconds = 0.0;
};

struct LtrSummary {
  double train_ndcg_at_10 = 0.0;
  double validation_ndcg_at_10 = 0.0;
  double test_ndcg_at_10 = 0.0;
  double initial_test_ndcg_at_10 = 0.0;  ///< the untrained (random) scorer
  double wall_seconds = 0.0;             ///< training only
  double queries_per_second = 0.0;       ///< training queries processed per second
  Index steps = 0;
  /// Trace of the covariance of the score gradient over re-samplings of the training set, for
  /// both estimators at equal K, at initialization and after training.
  double grad_variance_pgrank_initial = 0.0;
  double grad_variance_plrank_initial = 0.0;
  double grad_variance_pgrank_final = 0.0;
  double grad_variance_plrank_final = 0.0;
};

class LtrTrainer {
 public:
  explicit LtrTrainer(LtrTrainConfig config)
      : config_(std::move(config)),
        data_(make_data(config_)),
        gen_(config_.seed),
        net_({data_.features, config_.hidden, config_.hidden, 1}, Activation::relu),
        train_x_(data_.train.features.cast<float>()),
        validation_x_(data_.validation.features.cast<float>()),
        test_x_(data_.test.features.cast<float>()),
        adam_(0, AdamOptions{}) {
    detail::require_positive("polo::examples::LtrTrainer", "steps",
                             static_cast<double>(config_.steps));
    detail::require_positive("polo::examples::LtrTrainer", "batch_queries",
                             static_cast<double>(config_.batch_queries));
    if (config_.samples < 2) {
      detail::fail_argument("polo::examples::LtrTrainer", "samples", ">= 2", config_.samples);
    }
    net_.init_torch_default(gen_);
    adam_ = Adam<float>(net_.num_parameters(), AdamOptions{.learning_rate = config_.learning_rate});
  }

  [[nodiscard]] const LtrDataset& data() const noexcept { return data_; }
  [[nodiscard]] const LtrTrainConfig& config() const noexcept { return config_; }

  /// Mean nDCG@k of the scorer's ranking (items by decreasing score) over the split's queries
  /// that have a relevant item (all of them here).
  double evaluate(const LtrSplit& split) {
    const Eigen::MatrixXf& out = net_.forward(features_of(split), eval_ws_);
    double sum = 0.0;
    double count = 0.0;
    std::vector<double> rel;
    for (Index q = 0; q < split.queries(); ++q) {
      const Index n = split.size(q);
      const TokenView<const float> s(out.data() + split.begin(q), 1, n);
      const Rankings y = PlackettLuce<float>{s}.mode(config_.top_k);
      const std::span<const double> r(split.relevance.data() + split.begin(q),
                                      static_cast<std::size_t>(n));
      if (ideal_dcg_at_k(r, config_.top_k) <= 0.0) continue;
      sum += ndcg_at_k(std::span<const std::int32_t>(y.data(), static_cast<std::size_t>(y.cols())),
                       r, config_.top_k);
      count += 1.0;
    }
    return count > 0.0 ? sum / count : 0.0;
  }

  /// Trace of the covariance of d(loss)/d(scores) over `variance_resamples` draws of K rankings
  /// for every training query, at the current scorer: PG-Rank (LOO) and PL-Rank-2.
  std::pair<double, double> gradient_variances() {
    const LtrSplit& split = data_.train;
    std::vector<Index> all(static_cast<std::size_t>(split.queries()));
    std::iota(all.begin(), all.end(), Index{0});
    load_batch(split, all);
    const Eigen::MatrixXf& out = net_.forward(batch_x_, ws_);
    scatter(out);
    Rng gen(config_.seed + 1000);
    auto measure = [&](auto&& loss) {
      const Index r = config_.variance_resamples;
      TokenArrayd sum = TokenArrayd::Zero(scores_.rows(), scores_.cols());
      TokenArrayd sq = sum;
      TokenArrayf grad(scores_.rows(), scores_.cols());
      for (Index t = 0; t < r; ++t) {
        rankings_.resize(scores_.rows() * config_.samples, config_.top_k);
        PlackettLuce<float>{scores_, mask_}.sample(gen, config_.samples, rankings_);
        loss.compute(RankingInputs<float>{scores_, relevance_, rankings_, mask_},
                     TokenView<float>(grad));
        // Per-query gradients (not / Q), in double.
        const TokenArrayd g = grad.cast<double>() * static_cast<double>(scores_.rows());
        sum += g;
        sq += g * g;
      }
      const double n = static_cast<double>(r);
      return ((sq - sum * sum / n) / (n - 1.0)).sum() / static_cast<double>(scores_.rows());
    };
    const double pg = measure(PGRank{});
    const double pl = measure(PLRank{});
    return {pg, pl};
  }

  LtrSummary run(const std::function<void(const LtrLog&)>& on_log = {}) {
    LtrSummary summary;
    summary.initial_test_ndcg_at_10 = evaluate(data_.test);
    std::tie(summary.grad_variance_pgrank_initial, summary.grad_variance_plrank_initial) =
        gradient_variances();
    const auto start = std::chrono::steady_clock::now();
    double train_seconds = 0.0;
    Index queries_seen = 0;
    std::vector<Index> order(static_cast<std::size_t>(data_.train.queries()));
    std::iota(order.begin(), order.end(), Index{0});
    std::size_t cursor = order.size();
    std::vector<Index> batch;
    double objective_sum = 0.0;
    Index objective_count = 0;
    for (Index step = 1; step <= config_.steps; ++step) {
      batch.clear();
      for (Index b = 0; b < config_.batch_queries; ++b) {
        if (cursor == order.size()) {
          shuffle(order);
          cursor = 0;
        }
        batch.push_back(order[cursor++]);
      }
      objective_sum += train_step(batch);
      ++objective_count;
      queries_seen += static_cast<Index>(batch.size());
      if (step % config_.eval_every == 0 || step == config_.steps) {
        train_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        LtrLog log{step, objective_sum / static_cast<double>(objective_count),
                   evaluate(data_.validation), train_seconds};
        objective_sum = 0.0;
        objective_count = 0;
        if (on_log) on_log(log);
      }
    }
    summary.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    summary.queries_per_second = static_cast<double>(queries_seen) / summary.wall_seconds;
    summary.steps = config_.steps;
    summary.train_ndcg_at_10 = evaluate(data_.train);
    summary.validation_ndcg_at_10 = evaluate(data_.validation);
    summary.test_ndcg_at_10 = evaluate(data_.test);
    std::tie(summary.grad_variance_pgrank_final, summary.grad_variance_plrank_final) =
        gradient_variances();
    return summary;
  }

 private:
  static LtrDataset make_data(const LtrTrainConfig& c) {
    Rng gen(c.data_seed);
    return make_ltr_dataset(c.data, gen);
  }

  void shuffle(std::vector<Index>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      const auto j = static_cast<std::size_t>(uniform_int(gen_, static_cast<Index>(i)));
      std::swap(v[i - 1], v[j]);
    }
  }

  /// Gathers the batch's documents into `batch_x_` and lays out the padded [B, n_max] arrays.
  const Eigen::MatrixXf& features_of(const LtrSplit& split) const {
    if (&split == &data_.train) return train_x_;
    if (&split == &data_.validation) return validation_x_;
    return test_x_;
  }

  void load_batch(const LtrSplit& split, const std::vector<Index>& queries) {
    Index total = 0;
    Index widest = 0;
    for (const Index q : queries) {
      total += split.size(q);
      widest = std::max(widest, split.size(q));
    }
    const auto b = static_cast<Index>(queries.size());
    batch_x_.resize(split.features.rows(), total);
    scores_.resize(b, widest);
    relevance_.setZero(b, widest);
    mask_.setZero(b, widest);
    starts_.assign(queries.size() + 1, 0);
    for (Index i = 0; i < b; ++i) {
      const Index q = queries[static_cast<std::size_t>(i)];
      const Index n = split.size(q);
      const Index at = starts_[static_cast<std::size_t>(i)];
      batch_x_.middleCols(at, n) = features_of(split).middleCols(split.begin(q), n);
      relevance_.row(i).head(n) =
          split.relevance.segment(split.begin(q), n).transpose().cast<float>();
      mask_.row(i).head(n).setOnes();
      starts_[static_cast<std::size_t>(i) + 1] = at + n;
    }
  }

  /// Network output [1, N] -> padded scores [B, n_max] (padding left at 0 and masked).
  void scatter(const Eigen::MatrixXf& out) {
    scores_.setZero();
    for (Index i = 0; i < scores_.rows(); ++i) {
      const Index at = starts_[static_cast<std::size_t>(i)];
      const Index n = starts_[static_cast<std::size_t>(i) + 1] - at;
      scores_.row(i).head(n) = out.row(0).segment(at, n);
    }
  }

  /// One Adam update on `queries`; returns the batch's mean sampled utility (estimators) or loss.
  double train_step(const std::vector<Index>& queries) {
    load_batch(data_.train, queries);
    const Eigen::MatrixXf& out = net_.forward(batch_x_, ws_);
    scatter(out);
    grad_.resize(scores_.rows(), scores_.cols());
    double objective = 0.0;
    switch (config_.method) {
      case LtrMethod::pgrank:
      case LtrMethod::plrank: {
        rankings_.resize(scores_.rows() * config_.samples, config_.top_k);
        PlackettLuce<float>{scores_, mask_}.sample(gen_, config_.samples, rankings_);
        const RankingInputs<float> sampled{scores_, relevance_, rankings_, mask_};
        objective = config_.method == LtrMethod::pgrank
                        ? PGRank{}.compute(sampled, TokenView<float>(grad_)).metrics.mean_utility
                        : PLRank{}.compute(sampled, TokenView<float>(grad_)).metrics.mean_utility;
        break;
      }
      case LtrMethod::listmle: {
        rankings_ = listmle_targets(TokenView<const float>(relevance_), MaskView(mask_),
                                    scores_.cols(), gen_);
        objective = ListMLE{}
                        .compute(RankingInputs<float>{scores_, {}, rankings_, mask_},
                                 TokenView<float>(grad_))
                        .value;
        break;
      }
      case LtrMethod::pointwise: {
        // Mean squared error of the grade over the batch's documents.
        const double docs = static_cast<double>(starts_.back());
        grad_.setZero();
        for (Index i = 0; i < scores_.rows(); ++i) {
          for (Index j = 0; j < scores_.cols(); ++j) {
            if (mask_(i, j) == 0) continue;
            const double e = static_cast<double>(scores_(i, j)) - relevance_(i, j);
            objective += e * e / docs;
            grad_(i, j) = static_cast<float>(2.0 * e / docs);
          }
        }
        break;
      }
    }
    grad_out_.resize(1, starts_.back());
    for (Index i = 0; i < scores_.rows(); ++i) {
      const Index at = starts_[static_cast<std::size_t>(i)];
      const Index n = starts_[static_cast<std::size_t>(i) + 1] - at;
      grad_out_.row(0).segment(at, n) = grad_.row(i).head(n);
    }
    net_.zero_grad();
    net_.backward(grad_out_, ws_, skip_input_grad);
    adam_.step(net_.parameters(), net_.gradients());
    return objective;
  }

  LtrTrainConfig config_;
  LtrDataset data_;
  Rng gen_;
  MLP<float>
      net_;  // float: the benchmarks' scalar (and GCC 12 warns on Eigen's AVX-512 double GEMV)
  Eigen::MatrixXf train_x_;
  Eigen::MatrixXf validation_x_;
  Eigen::MatrixXf test_x_;
  Adam<float> adam_;
  MLP<float>::Workspace ws_;
  MLP<float>::Workspace eval_ws_;
  Eigen::MatrixXf batch_x_;
  Eigen::MatrixXf grad_out_;
  TokenArrayf scores_;
  TokenArrayf relevance_;
  TokenArrayf grad_;
  MaskArray mask_;
  Rankings rankings_;
  std::vector<Index> starts_;
};

}  // namespace polo::examples
