#pragma once
// DPO on the arithmetic task (polo/envs/arithmetic.hpp) with the autoregressive token policy
// (polo/nn/token_policy.hpp). Shared by examples/dpo_arithmetic.cpp and its smoke test.
//
// 1. Reference: a short supervised warm-up on noisy demonstrations (the correct answer with each
//    digit replaced by a uniform random digit with probability `warmup_noise`), so the reference
//    answers some prompts right and samples both right and wrong answers.
// 2. Pairs: `samples_per_prompt` completions of each of `pair_prompts` training prompts (and of
//    every held-out prompt, for evaluation) are sampled from the reference; a prompt with a right
//    and a wrong sample gives the pair (first right, first wrong). Its true preference
//    probability is alpha = 1 (the verifier is unanimous), clamped to 1 - 1e-3 as Chen et al.
//    do. The reference's summed log-probs of both are computed once.
// 3. DPO: each step takes the next `batch_pairs` pairs of a shuffled pass over the training
//    pairs, scores both completions under the policy (one teacher-forced pass), and takes one
//    Adam step of polo::DPO chained to the tokens.
//
// Evaluated before and after: held-out greedy exact-match accuracy, and on the held-out pairs the
// DPO reward accuracy, the ranking accuracy R (and R~) of Chen et al., the idealized ranking
// accuracy R* of the optimal DPO policy, and the share of the pairs the reference mis-ranks that
// the policy now ranks right.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/envs/arithmetic.hpp"
#include "polo/metrics/ranking_accuracy.hpp"
#include "polo/nn/clip.hpp"
#include "polo/nn/optim.hpp"
#include "polo/nn/token_policy.hpp"
#include "polo/preference/dpo.hpp"
#include "polo/preference/inputs.hpp"
#include "trainers/arithmetic_warmup.hpp"

namespace polo::examples {

/// The scale each loss type trains at on this task. Sigmoid's (beta 2, Adam 2e-3, 600 steps) is
/// the base; docs/algorithms/dpo.md ("Example") has the measurements behind each override.
struct DPOLossScale {
  double beta = 2.0;  ///< large next to the paper's 0.1: docs/algorithms/ranking_accuracy.md
  double learning_rate = 2e-3;
  Index steps = 600;
  double label_smoothing = 0.0;
};

[[nodiscard]] inline DPOLossScale dpo_arithmetic_loss_scale(DpoLossType type) {
  DPOLossScale s;
  switch (type) {
    case DpoLossType::ipo:
      // (Delta - 1/(2 beta))^2 pulls every margin back to 1/(2 beta): 0.25 nats at beta 2, 2 here.
      s.beta = 0.25;
      break;
    case DpoLossType::sppo_hard:
      // Regresses rho_w to +1/(2 beta) and rho_l to -1/(2 beta): +-2 nats here, not +-0.25.
      s.beta = 0.25;
      break;
    case DpoLossType::nca_pair:
      // Its chosen term stops raising rho_w at beta rho_w = ln 2: 2.8 nats here, 0.35 at beta 2.
      s.beta = 0.25;
      break;
    case DpoLossType::sigmoid_norm:
      // z = beta x the per-token margin; answers average 3.5 tokens, so 2 x 3.5 keeps sigmoid's z.
      s.beta = 7.0;
      break;
    case DpoLossType::aot:
      // Rank matching evens out the margins, so a pair far past its own reference margin is
      // pushed on while any rank lags (rejected log-prob -6.1 vs sigmoid's -5.1 at beta 2);
      // beta 5 saturates the ranks at sigmoid's distance (-4.7).
      s.beta = 5.0;
      break;
    case DpoLossType::exo_pair:
      // eps 1e-3 (EXO's value; exo_pair needs eps > 0). It drives z to logit(1 - eps) = 6.9:
      // 3.5 nats of margin at beta 2, 1.7 at beta 4. Its weight falls like |z| e^z below z = 0
      // (mode seeking), so a pair one large step knocks below its rejected answer is abandoned,
      // not pulled back as by sigmoid's sigma(-z) -> 1: a quarter of the step, 3.3x the steps.
      s.beta = 4.0;
      s.label_smoothing = 1e-3;
      s.learning_rate = 5e-4;
      s.steps = 2000;
      break;
    default:
      break;
  }
  return s;
}

struct DPOArithmeticConfig {
  std::uint64_t seed = 1;
  // DPO; NaN (steps: 0) takes the loss type's value from dpo_arithmetic_loss_scale.
  Index steps = 0;
  Index batch_pairs = 64;
  double learning_rate = std::numeric_limits<double>::quiet_NaN();
  double max_grad_norm = 1.0;
  DpoLossType loss_type = DpoLossType::sigmoid;
  double beta = std::numeric_limits<double>::quiet_NaN();
  /// eps of exo_pair, robust, aot, aot_unpaired, and of sigmoid with sigmoid_label_smoothing.
  double label_smoothing = std::numeric_limits<double>::quiet_NaN();
  /// sigmoid is cDPO, -(1 - eps) log sigma(z) - eps log sigma(-z) (TRL <= 0.28).
  bool sigmoid_label_smoothing = false;
  // pairs
  Index pair_prompts = 8000;      ///< training prompts sampled for pairs (of the 8,000)
  Index samples_per_prompt = 16;  ///< reference samples per prompt
  double alpha_epsilon = kIdealizedAlphaEpsilon;
  // reference warm-up
  Index warmup_steps = 400;
  Index warmup_batch = 128;
  double warmup_noise = 0.1;
  double warmup_learning_rate = 3e-3;
  // model
  std::vector<Index> hidden{128, 128};
  Index eval_every = 25;  ///< held-out evaluation every this many steps (and after the last)

  /// This config with every unset DPO setting replaced by its loss type's value.
  [[nodiscard]] DPOArithmeticConfig resolved() const {
    const DPOLossScale s = dpo_arithmetic_loss_scale(loss_type);
    DPOArithmeticConfig c = *this;
    if (std::isnan(c.beta)) c.beta = s.beta;
    if (std::isnan(c.learning_rate)) c.learning_rate = s.learning_rate;
    if (std::isnan(c.label_smoothing)) c.label_smoothing = s.label_smoothing;
    if (c.steps == 0) c.steps = s.steps;
    return c;
  }

  /// The loss of the resolved config.
  [[nodiscard]] DPO loss() const {
    const DPOArithmeticConfig c = resolved();
    DPO l;
    l.beta = c.beta;
    l.loss_type = c.loss_type;
    l.label_smoothing = c.label_smoothing;
    l.sigmoid_label_smoothing = c.sigmoid_label_smoothing;
    return l;
  }

  void validate() const {
    constexpr std::string_view where = "polo::examples::DPOArithmeticConfig";
    const DPOArithmeticConfig c = resolved();
    detail::require(c.steps >= 1, where, "steps", ">= 1 (0: the loss type's default)",
                    static_cast<double>(c.steps));
    detail::require(batch_pairs >= 1, where, "batch_pairs", ">= 1",
                    static_cast<double>(batch_pairs));
    const auto train = static_cast<Index>(ArithmeticTask{}.train_prompts().size());
    detail::require(pair_prompts >= 1 && pair_prompts <= train, where, "pair_prompts",
                    "in [1, 8000] (the training prompts)", static_cast<double>(pair_prompts));
    detail::require(samples_per_prompt >= 2, where, "samples_per_prompt", ">= 2",
                    static_cast<double>(samples_per_prompt));
    validate_arithmetic_warmup(*this, where);
    detail::require_positive(where, "learning_rate", c.learning_rate);
    detail::require_positive(where, "max_grad_norm", max_grad_norm);
    detail::require(eval_every >= 1, where, "eval_every", ">= 1", static_cast<double>(eval_every));
    loss().validate();
  }
};

/// Pair diagnostics on the held-out pairs.
struct DPOPairEval {
  double reward_accuracy = 0.0;   ///< DPO rewards/accuracies: 1[beta rho_w > beta rho_l]
  double reward_margin = 0.0;     ///< DPO rewards/margins
  double loss = 0.0;              ///< DPO loss
  double ranking_accuracy = 0.0;  ///< R: 1[log pi(y_w) >= log pi(y_l)]
  double length_normalized_ranking_accuracy = 0.0;  ///< R~
  double flipped_fraction = 0.0;  ///< of the pairs the reference mis-ranks, share ranked right
};

struct DPOStepLog {
  Index step = 0;
  double loss = 0.0;             ///< this batch
  double reward_accuracy = 0.0;  ///< this batch
  double reward_margin = 0.0;    ///< this batch
  double chosen_logp = 0.0;      ///< this batch, mean summed log-prob of y_w
  double rejected_logp = 0.0;    ///< this batch, mean summed log-prob of y_l
  double grad_norm = 0.0;        ///< before clipping
  double accuracy = std::numeric_limits<double>::quiet_NaN();  ///< held-out, when evaluated
  DPOPairEval held_out{};  ///< when evaluated (accuracy not NaN)
};

struct DPOArithmeticSummary {
  double initial_accuracy = 0.0;  ///< held-out greedy exact match of the reference
  double final_accuracy = 0.0;
  DPOPairEval before;                          ///< held-out pairs under the reference
  DPOPairEval after;                           ///< held-out pairs after DPO
  double idealized_ranking_accuracy = 0.0;     ///< R* at the DPO beta, held-out pairs
  IdealizedRankingRange idealized_range{};     ///< R* over the paper's betas
  double reference_misranked = 0.0;            ///< share of held-out pairs the reference mis-ranks
  double mean_flip_threshold_misranked = 0.0;  ///< mean -log sigmoid(beta c) over those pairs
  double reference_sample_accuracy = 0.0;      ///< share of right samples when building pairs
  Index train_pairs = 0;
  Index held_out_pairs = 0;
  double warmup_seconds = 0.0;
  double dpo_seconds = 0.0;
};

class DPOArithmeticTrainer {
 public:
  using Policy = TokenPolicy<float>;
  using Matrix = Policy::Matrix;

  explicit DPOArithmeticTrainer(const DPOArithmeticConfig& config)
      : config_((config.validate(), config.resolved())),
        gen_(config.seed),
        policy_(arithmetic_policy_options(task_, config.hidden)),
        reference_(arithmetic_policy_options(task_, config.hidden)),
        loss_(config.loss()) {
    policy_.init(gen_);
    task_.encode(task_.held_out_prompts(), held_out_encoding_);
  }

  /// The warm-up (the reference) and the pairs, which do not depend on the DPO settings; run()
  /// does it first if it has not been done.
  void prepare() {
    if (prepared_) return;
    const auto start = Clock::now();
    arithmetic_warmup(policy_, task_, gen_, arithmetic_warmup_settings(config_), train_ws_);
    reference_.parameters() = policy_.parameters();
    setup_.initial_accuracy = held_out_accuracy();

    std::vector<Index> train_ids(task_.train_prompts().begin(), task_.train_prompts().end());
    shuffle(train_ids);
    train_ids.resize(static_cast<std::size_t>(config_.pair_prompts));
    Index right = 0;
    Index sampled = 0;
    build_pairs(train_ids, train_, right, sampled);
    const std::vector<Index> held_ids(task_.held_out_prompts().begin(),
                                      task_.held_out_prompts().end());
    build_pairs(held_ids, held_out_, right, sampled);
    if (train_.count() == 0 || held_out_.count() == 0) {
      detail::fail_argument("polo::examples::DPOArithmeticTrainer", "the reference",
                            "a policy that samples both right and wrong answers",
                            fmt::format("{} right of {} samples", right, sampled));
    }
    setup_.reference_sample_accuracy = static_cast<double>(right) / static_cast<double>(sampled);
    setup_.train_pairs = train_.count();
    setup_.held_out_pairs = held_out_.count();
    setup_.warmup_seconds = seconds_since(start);
    prepared_ = true;
  }

  /// A trainer with this one's reference and pairs (prepared here if need be) and the DPO
  /// settings of `dpo`: steps, batch_pairs, learning_rate, max_grad_norm, loss_type, beta,
  /// label_smoothing, sigmoid_label_smoothing, alpha_epsilon, eval_every. The other settings stay
  /// this trainer's. Its run() gives what a fresh trainer with those settings gives, without a
  /// second warm-up.
  [[nodiscard]] DPOArithmeticTrainer with_dpo(const DPOArithmeticConfig& dpo) {
    if (ran_) {
      detail::fail_argument("polo::examples::DPOArithmeticTrainer", "with_dpo",
                            "a trainer that has not run (its policy is the reference)",
                            "one that has");
    }
    prepare();
    DPOArithmeticConfig c = config_;
    c.steps = dpo.steps;
    c.batch_pairs = dpo.batch_pairs;
    c.learning_rate = dpo.learning_rate;
    c.max_grad_norm = dpo.max_grad_norm;
    c.loss_type = dpo.loss_type;
    c.beta = dpo.beta;
    c.label_smoothing = dpo.label_smoothing;
    c.sigmoid_label_smoothing = dpo.sigmoid_label_smoothing;
    c.alpha_epsilon = dpo.alpha_epsilon;
    c.eval_every = dpo.eval_every;
    c.validate();
    DPOArithmeticTrainer t = *this;
    t.config_ = c.resolved();
    t.loss_ = c.loss();
    return t;
  }

  /// prepare(), then config.steps DPO steps, calling `on_step` after each. Once per trainer.
  DPOArithmeticSummary run(const std::function<void(const DPOStepLog&)>& on_step = {}) {
    if (ran_) {
      detail::fail_argument("polo::examples::DPOArithmeticTrainer", "run",
                            "one call per trainer (with_dpo copies a prepared one)",
                            "a second call");
    }
    ran_ = true;
    prepare();
    DPOArithmeticSummary summary = setup_;
    auto start = Clock::now();
    reference_diagnostics(summary);
    summary.before = evaluate_pairs(held_out_);
    summary.warmup_seconds += seconds_since(start);
    start = Clock::now();

    Adam<float> adam(policy_.num_parameters(), AdamOptions{.learning_rate = config_.learning_rate});
    order_.resize(static_cast<std::size_t>(train_.count()));
    for (Index j = 0; j < train_.count(); ++j)
      order_[at(j)] = j;
    cursor_ = order_.size();
    for (Index step = 1; step <= config_.steps; ++step) {
      DPOStepLog log;
      log.step = step;
      dpo_step(adam, log);
      if (step % config_.eval_every == 0 || step == config_.steps) {
        log.accuracy = held_out_accuracy();
        log.held_out = evaluate_pairs(held_out_);
      }
      if (step == config_.steps) {
        summary.final_accuracy = log.accuracy;
        summary.after = log.held_out;
      }
      if (on_step) on_step(log);
    }
    summary.dpo_seconds = seconds_since(start);
    return summary;
  }

  /// Greedy exact-match accuracy of the current policy over the held-out prompts.
  double held_out_accuracy() {
    return arithmetic_held_out_accuracy(policy_, task_, held_out_encoding_, eval_, gen_ws_);
  }

  [[nodiscard]] const DPOArithmeticConfig& config() const noexcept { return config_; }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  static std::size_t at(Index i) { return static_cast<std::size_t>(i); }

  /// Preference pairs: pair j is rows 2j (chosen, right) and 2j + 1 (rejected, wrong).
  struct PairSet {
    std::vector<Index> ids;  ///< prompt of each pair
    Matrix prompts;          ///< [F, P] encodings
    TokenArray<Index> tokens;
    MaskArray mask;
    SeqArrayf ref_chosen, ref_rejected;  ///< summed reference log-probs [P]
    SeqArrayf chosen_length, rejected_length;
    [[nodiscard]] Index count() const { return static_cast<Index>(ids.size()); }
  };

  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size() - 1; i > 0; --i) {
      const auto j = static_cast<std::size_t>(uniform_int(gen_, static_cast<Index>(i) + 1));
      std::swap(v[i], v[j]);
    }
  }

  /// Samples from the reference and keeps (first right, first wrong) per prompt that has both.
  void build_pairs(const std::vector<Index>& ids, PairSet& out, Index& right, Index& sampled) {
    const Index k = config_.samples_per_prompt;
    const Index len = task_.max_length();
    const Groups groups = Groups::uniform(static_cast<Index>(ids.size()) * k, k);
    task_.encode(std::span<const Index>(ids), prompts_);
    reference_.sample(prompts_, groups, gen_, rollouts_, gen_ws_);
    std::vector<Index> chosen_rows;
    std::vector<Index> rejected_rows;
    out.ids.clear();
    for (Index g = 0; g < groups.count(); ++g) {
      Index good = -1;
      Index bad = -1;
      for (Index i = groups.begin(g); i < groups.end(g); ++i) {
        const bool ok = task_.correct(ids[at(g)], rollouts_.completion(i));
        right += ok ? 1 : 0;
        ++sampled;
        if (ok && good < 0) good = i;
        if (!ok && bad < 0) bad = i;
      }
      if (good < 0 || bad < 0) continue;
      out.ids.push_back(ids[at(g)]);
      chosen_rows.push_back(good);
      rejected_rows.push_back(bad);
    }
    const Index p = out.count();
    out.tokens.resize(2 * p, len);
    out.mask.resize(2 * p, len);
    for (Index j = 0; j < p; ++j) {
      out.tokens.row(2 * j) = rollouts_.tokens.row(chosen_rows[at(j)]);
      out.tokens.row(2 * j + 1) = rollouts_.tokens.row(rejected_rows[at(j)]);
      out.mask.row(2 * j) = rollouts_.mask.row(chosen_rows[at(j)]);
      out.mask.row(2 * j + 1) = rollouts_.mask.row(rejected_rows[at(j)]);
    }
    task_.encode(std::span<const Index>(out.ids), out.prompts);
    score(reference_, out, out.ref_chosen, out.ref_rejected);
    out.chosen_length.resize(p);
    out.rejected_length.resize(p);
    for (Index j = 0; j < p; ++j) {
      out.chosen_length[j] = static_cast<float>(out.mask.row(2 * j).cast<int>().sum());
      out.rejected_length[j] = static_cast<float>(out.mask.row(2 * j + 1).cast<int>().sum());
    }
  }

  /// Summed log-probs of every pair's two completions under `model`.
  void score(const Policy& model, const PairSet& pairs, SeqArrayf& chosen, SeqArrayf& rejected) {
    const Index p = pairs.count();
    const Groups two = Groups::uniform(2 * p, 2);
    logp_.resize(2 * p, pairs.tokens.cols());
    model.evaluate(pairs.prompts, two, pairs.tokens, pairs.mask, logp_, TokenView<float>{},
                   eval_ws_);
    chosen.resize(p);
    rejected.resize(p);
    for (Index j = 0; j < p; ++j) {
      chosen[j] = summed(2 * j);
      rejected[j] = summed(2 * j + 1);
    }
  }

  /// Row i of logp_ summed in double (padding holds 0).
  [[nodiscard]] float summed(Index i) const {
    double s = 0.0;
    for (Index t = 0; t < logp_.cols(); ++t)
      s += static_cast<double>(logp_(i, t));
    return static_cast<float>(s);
  }

  [[nodiscard]] PreferenceInputs<float> inputs(const SeqArrayf& chosen, const SeqArrayf& rejected,
                                               const PairSet& pairs) const {
    PreferenceInputs<float> in;
    in.chosen_logp = chosen;
    in.rejected_logp = rejected;
    in.ref_chosen_logp = pairs.ref_chosen;
    in.ref_rejected_logp = pairs.ref_rejected;
    in.chosen_length = pairs.chosen_length;
    in.rejected_length = pairs.rejected_length;
    return in;
  }

  void reference_diagnostics(DPOArithmeticSummary& summary) const {
    const PairSet& h = held_out_;
    const SeqArrayf alpha = SeqArrayf::Ones(h.count());
    summary.idealized_ranking_accuracy = idealized_ranking_accuracy(
        h.ref_chosen, h.ref_rejected, alpha, config_.beta, config_.alpha_epsilon);
    summary.idealized_range = idealized_ranking_accuracy_range(
        h.ref_chosen, h.ref_rejected, alpha, kIdealizedBetas, config_.alpha_epsilon);
    const SeqArrayd ref_w = h.ref_chosen.cast<double>();
    const SeqArrayd ref_l = h.ref_rejected.cast<double>();
    const SeqArrayd threshold = flip_threshold(ref_w, ref_l, config_.beta);
    double misranked = 0.0;
    double sum = 0.0;
    for (Index j = 0; j < h.count(); ++j) {
      if (ref_w[j] >= ref_l[j]) continue;
      misranked += 1.0;
      sum += threshold[j];
    }
    summary.reference_misranked = misranked / static_cast<double>(h.count());
    summary.mean_flip_threshold_misranked = misranked > 0.0 ? sum / misranked : 0.0;
  }

  DPOPairEval evaluate_pairs(const PairSet& pairs) {
    SeqArrayf chosen;
    SeqArrayf rejected;
    score(policy_, pairs, chosen, rejected);
    const auto out = loss_(inputs(chosen, rejected, pairs));
    DPOPairEval e;
    e.reward_accuracy = out.metrics.rewards_accuracies;
    e.reward_margin = out.metrics.rewards_margins;
    e.loss = out.value;
    e.ranking_accuracy = ranking_accuracy(chosen, rejected);
    e.length_normalized_ranking_accuracy = length_normalized_ranking_accuracy(
        chosen, rejected, pairs.chosen_length, pairs.rejected_length);
    double misranked = 0.0;
    double flipped = 0.0;
    for (Index j = 0; j < pairs.count(); ++j) {
      if (pairs.ref_chosen[j] >= pairs.ref_rejected[j]) continue;
      misranked += 1.0;
      flipped += chosen[j] >= rejected[j] ? 1.0 : 0.0;
    }
    e.flipped_fraction = misranked > 0.0 ? flipped / misranked : 0.0;
    return e;
  }

  void dpo_step(Adam<float>& adam, DPOStepLog& log) {
    const Index m = std::min(config_.batch_pairs, train_.count());
    const Index len = task_.max_length();
    batch_.ids.resize(at(m));
    batch_.tokens.resize(2 * m, len);
    batch_.mask.resize(2 * m, len);
    batch_.ref_chosen.resize(m);
    batch_.ref_rejected.resize(m);
    batch_.chosen_length.resize(m);
    batch_.rejected_length.resize(m);
    batch_.prompts.resize(train_.prompts.rows(), m);
    for (Index j = 0; j < m; ++j) {
      if (cursor_ == order_.size()) {
        shuffle(order_);
        cursor_ = 0;
      }
      const Index src = order_[cursor_++];
      batch_.ids[at(j)] = train_.ids[at(src)];
      batch_.prompts.col(j) = train_.prompts.col(src);
      for (Index r = 0; r < 2; ++r) {
        batch_.tokens.row(2 * j + r) = train_.tokens.row(2 * src + r);
        batch_.mask.row(2 * j + r) = train_.mask.row(2 * src + r);
      }
      batch_.ref_chosen[j] = train_.ref_chosen[src];
      batch_.ref_rejected[j] = train_.ref_rejected[src];
      batch_.chosen_length[j] = train_.chosen_length[src];
      batch_.rejected_length[j] = train_.rejected_length[src];
    }

    const Groups two = Groups::uniform(2 * m, 2);
    logp_.resize(2 * m, len);
    policy_.evaluate(batch_.prompts, two, batch_.tokens, batch_.mask, logp_, TokenView<float>{},
                     train_ws_);
    chosen_.resize(m);
    rejected_.resize(m);
    for (Index j = 0; j < m; ++j) {
      chosen_[j] = summed(2 * j);
      rejected_[j] = summed(2 * j + 1);
    }
    grad_chosen_.resize(m);
    grad_rejected_.resize(m);
    const auto out = loss_.compute(inputs(chosen_, rejected_, batch_), SeqView<float>(grad_chosen_),
                                   SeqView<float>(grad_rejected_));
    // d value / d token log-prob = d value / d summed log-prob on the completion's tokens.
    grad_.resize(2 * m, len);
    for (Index j = 0; j < m; ++j) {
      for (Index t = 0; t < len; ++t) {
        grad_(2 * j, t) = batch_.mask(2 * j, t) ? grad_chosen_[j] : 0.0F;
        grad_(2 * j + 1, t) = batch_.mask(2 * j + 1, t) ? grad_rejected_[j] : 0.0F;
      }
    }
    policy_.zero_grad();
    policy_.backward(grad_, TokenView<const float>{}, train_ws_);
    log.grad_norm = clip_grad_norm(policy_.gradients(), config_.max_grad_norm);
    adam.step(policy_.parameters(), policy_.gradients());
    log.loss = out.value;
    log.reward_accuracy = out.metrics.rewards_accuracies;
    log.reward_margin = out.metrics.rewards_margins;
    log.chosen_logp = out.metrics.logps_chosen;
    log.rejected_logp = out.metrics.logps_rejected;
  }

  DPOArithmeticConfig config_;
  ArithmeticTask task_;
  Rng gen_;
  Policy policy_;
  Policy reference_;  ///< frozen after the warm-up
  DPO loss_;
  Matrix held_out_encoding_;
  Matrix prompts_;
  PairSet train_;
  PairSet held_out_;
  PairSet batch_;
  std::vector<Index> order_;
  std::size_t cursor_ = 0;
  DPOArithmeticSummary setup_;  ///< what prepare() measured
  bool prepared_ = false;
  bool ran_ = false;
  Completions<float> rollouts_;
  Completions<float> eval_;
  Policy::Workspace gen_ws_;
  Policy::Workspace train_ws_;
  Policy::Workspace eval_ws_;
  TokenArrayf logp_;
  TokenArrayf grad_;
  SeqArrayf chosen_, rejected_, grad_chosen_, grad_rejected_;
};

}  // namespace polo::examples
