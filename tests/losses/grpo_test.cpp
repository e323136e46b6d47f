// GRPO family: ALGORITHMS vectors V8-V13, hand-derived CISPO and SAPO values, finite differences
// for every loss type x importance level x beta x IS correction x delta, the special cases
// (on-policy, empty rows, one-token sequences, padding width) and every error path.

#include <cmath>
#include <limits>
#include <vector>

#include "loss_test_support.hpp"
#include "polo/losses/grpo.hpp"
#include "test_support.hpp"

namespace grpo_test {

using polo_loss_test::kVectorTol;
using polo_loss_test::random_logp_away_from;
using polo_loss_test::random_mask;

using polo::GRPO;
using polo::GRPOInputs;
using polo::GrpoLossType;
using polo::ImportanceSamplingLevel;
using polo::Index;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo_test::check_tokens;
using polo_test::Contains;
using polo_test::kNaN;
using polo_test::tokens;

/// The shared GRPO fixture of §8 with V7's TRL advantages (hard-coded: group.hpp is not used).
struct Fixture : polo_loss_test::GrpoFixture {
  SeqArrayd adv = (SeqArrayd(4) << 1.30531, -0.783186, 0.261062, -0.783186).finished();
  GRPOInputs<double> inputs() const { return {logp, old, ref, adv, {}, mask}; }
};

GRPO v8_loss(GrpoLossType type, double beta = 0.0) {
  return GRPO{.epsilon_low = 0.2,
              .epsilon_high = 0.28,
              .beta = beta,
              .loss_type = type,
              .max_completion_length = 3.0};
}

const std::vector<GrpoLossType> kAllTypes = {GrpoLossType::grpo,    GrpoLossType::bnpo,
                                             GrpoLossType::dr_grpo, GrpoLossType::dapo,
                                             GrpoLossType::cispo,   GrpoLossType::sapo};

TEST_CASE("GRPO reproduces V8 for each loss type (beta 0)", "[losses][grpo]") {
  const Fixture f;
  const auto grpo = v8_loss(GrpoLossType::grpo)(f.inputs());
  CHECK(grpo.value == Approx(-0.0257263).epsilon(kVectorTol));
  check_tokens(grpo.grad_logp,
               tokens({{-0.120216, -0.0984244, 0},
                       {0, 0.108194, 0},
                       {-0.0652655, 0, 0},
                       {0.0590547, 0.0797154, 0.0721295}}),
               1e-6);
  const TokenArrayd bnpo_grad = tokens({{-0.160288, -0.131233, 0},
                                        {0, 0.0961727, 0},
                                        {-0.0290069, 0, 0},
                                        {0.0787395, 0.106287, 0.0961727}});
  const auto bnpo = v8_loss(GrpoLossType::bnpo)(f.inputs());
  CHECK(bnpo.value == Approx(-0.0591826).epsilon(kVectorTol));
  check_tokens(bnpo.grad_logp, bnpo_grad, 1e-6);
  const auto dr = v8_loss(GrpoLossType::dr_grpo)(f.inputs());
  CHECK(dr.value == Approx(-0.044387).epsilon(kVectorTol));
  check_tokens(dr.grad_logp,
               tokens({{-0.120216, -0.0984244, 0},
                       {0, 0.0721295, 0},
                       {-0.0217552, 0, 0},
                       {0.0590547, 0.0797154, 0.0721295}}),
               1e-6);
  GRPO dapo_loss = v8_loss(GrpoLossType::dapo);
  dapo_loss.num_items_in_batch = 9.0;
  const auto dapo = dapo_loss(f.inputs());
  CHECK(dapo.value == Approx(-0.0591826).epsilon(kVectorTol));
  check_tokens(dapo.grad_logp, bnpo_grad, 1e-6);
  // the local count is 9 as well
  CHECK(v8_loss(GrpoLossType::dapo)(f.inputs()).value == Approx(dapo.value).epsilon(1e-14));

  // TRL's metrics: (0, 2) is clipped high (A > 0, r > 1.28), (1, 0) low (A < 0, r < 0.8)
  CHECK(grpo.metrics.valid_tokens == 9.0);
  CHECK(grpo.metrics.clip_ratio_low == Approx(1.0 / 9));
  CHECK(grpo.metrics.clip_ratio_high == Approx(1.0 / 9));
  CHECK(grpo.metrics.clip_ratio_region == Approx(2.0 / 9));
  CHECK(grpo.metrics.kl_mean == 0.0);
  double r_sum = 0.0;
  for (Index i = 0; i < 4; ++i) {
    for (Index t = 0; t < 3; ++t) {
      if (f.mask(i, t) != 0.0) r_sum += std::exp(f.logp(i, t) - f.old(i, t));
    }
  }
  CHECK(grpo.metrics.ratio_mean == Approx(r_sum / 9));
  // per-token losses are 0 where masked and aggregate to the value
  CHECK(bnpo.per_token(2, 1) == 0.0);
  CHECK(bnpo.per_token.sum() / 9.0 == Approx(bnpo.value));
}

TEST_CASE("GRPO reproduces V9 (beta 0.04, k3 in the loss)", "[losses][grpo]") {
  const Fixture f;
  const auto grpo = v8_loss(GrpoLossType::grpo, 0.04)(f.inputs());
  CHECK(grpo.value == Approx(-0.0246047).epsilon(kVectorTol));
  check_tokens(grpo.grad_logp,
               tokens({{-0.119612, -0.0991624, 0.00131156},
                       {-0.00110701, 0.109101, 0},
                       {-0.0634528, 0, 0},
                       {0.0578885, 0.0800327, 0.0727337}}),
               1e-6);
  const TokenArrayd token_grad = tokens({{-0.159482, -0.132217, 0.00174875},
                                         {-0.000984012, 0.0969783, 0},
                                         {-0.0282012, 0, 0},
                                         {0.0771846, 0.10671, 0.0969783}});
  for (const auto type : {GrpoLossType::bnpo, GrpoLossType::dapo}) {
    const auto out = v8_loss(type, 0.04)(f.inputs());
    CHECK(out.value == Approx(-0.0579428).epsilon(kVectorTol));
    check_tokens(out.grad_logp, token_grad, 1e-6);
    CHECK(out.metrics.kl_mean == Approx(0.030995).epsilon(kVectorTol));  // V10's masked mean
  }
  const auto dr = v8_loss(GrpoLossType::dr_grpo, 0.04)(f.inputs());
  CHECK(dr.value == Approx(-0.0434571).epsilon(kVectorTol));
  check_tokens(dr.grad_logp,
               tokens({{-0.119612, -0.0991624, 0.00131156},
                       {-0.000738009, 0.0727337, 0},
                       {-0.0211509, 0, 0},
                       {0.0578885, 0.0800327, 0.0727337}}),
               1e-6);
}

TEST_CASE("GRPO KL term alone reproduces V10 (k3 and IS-corrected r k3)", "[losses][grpo]") {
  // Zero advantages leave only beta * token-mean(k) (bnpo with beta 1).
  const Fixture f;
  const SeqArrayd zero = SeqArrayd::Zero(4);
  const GRPOInputs<double> in{f.logp, f.old, f.ref, zero, {}, f.mask};
  const GRPO plain{.beta = 1.0, .loss_type = GrpoLossType::bnpo};
  const auto k3 = plain(in);
  CHECK(k3.value == Approx(0.030995).epsilon(kVectorTol));
  check_tokens(k3.grad_logp,
               tokens({{0.020141, -0.0246003, 0.0437188},
                       {-0.0246003, 0.020141, 0},
                       {0.020141, 0, 0},
                       {-0.0388732, 0.0105736, 0.020141}}),
               1e-6);
  GRPO corrected = plain;
  corrected.kl_importance_correction = true;
  const auto is = corrected(in);
  CHECK(is.value == Approx(0.0362224).epsilon(kVectorTol));
  CHECK(is.metrics.kl_mean == Approx(0.0362224).epsilon(kVectorTol));
  check_tokens(is.grad_logp,
               tokens({{0.0245594, -0.0201075, 0.0828791},
                       {-0.0164626, 0.0245594, 0},
                       {0.0222222, 0, 0},
                       {-0.0301612, 0.0135711, 0.0245594}}),
               1e-6);
}

TEST_CASE("GRPO micro-batches reproduce V11: dapo is invariant to the split, bnpo is not",
          "[losses][grpo]") {
  const Fixture f;
  const GRPOInputs<double> in = f.inputs();
  auto split_sum = [&](const GRPO& loss, TokenArrayd& grad) {
    double sum = 0.0;
    for (const Index first : {Index{0}, Index{2}}) {
      const GRPOInputs<double> part{in.logp.middle_rows(first, 2),
                                    in.old_logp.middle_rows(first, 2),
                                    in.ref_logp.middle_rows(first, 2),
                                    in.advantages.segment(first, 2),
                                    {},
                                    in.mask.middle_rows(first, 2)};
      sum += loss.compute(part, polo::TokenView<double>(grad.data() + first * 3, 2, 3)).value;
    }
    return sum;
  };
  TokenArrayd grad(4, 3);
  GRPO bnpo = v8_loss(GrpoLossType::bnpo);
  bnpo.gradient_accumulation_steps = 2.0;
  CHECK(split_sum(bnpo, grad) == Approx(0.00347898).epsilon(kVectorTol));
  check_tokens(grad,
               tokens({{-0.144259, -0.118109, 0},
                       {0, 0.0865554, 0},
                       {-0.0326327, 0, 0},
                       {0.088582, 0.119573, 0.108194}}),
               1e-6);
  GRPO dapo = v8_loss(GrpoLossType::dapo);
  dapo.num_items_in_batch = 9.0;
  dapo.gradient_accumulation_steps = 2.0;  // dapo does not divide by S
  CHECK(split_sum(dapo, grad) == Approx(-0.0591826).epsilon(kVectorTol));
  const auto whole = v8_loss(GrpoLossType::dapo)(f.inputs());
  check_tokens(grad, whole.grad_logp, 1e-15);
}

TEST_CASE("GRPO on-policy reproduces V12: grpo loss 0, gradient not", "[losses][grpo]") {
  const Fixture f;
  const double a = -0.108776;
  for (const bool with_old : {true, false}) {
    // no old_logp is TRL's single update: old = logp.detach(), same value and gradient
    const GRPOInputs<double> in{
        f.logp, with_old ? polo::TokenView<const double>(f.logp) : polo::TokenView<const double>{},
        f.ref,  f.adv,
        {},     f.mask};
    const auto grpo = v8_loss(GrpoLossType::grpo)(in);
    CHECK(grpo.value == Approx(0.0).margin(1e-12));
    check_tokens(grpo.grad_logp,
                 tokens({{a, a, a},
                         {0.0978982, 0.0978982, 0},
                         {-0.0652655, 0, 0},
                         {0.0652655, 0.0652655, 0.0652655}}),
                 1e-6);
    CHECK(grpo.metrics.ratio_mean == 1.0);
    CHECK(grpo.metrics.clip_ratio_region == 0.0);
    const auto bnpo = v8_loss(GrpoLossType::bnpo)(in);
    CHECK(bnpo.value == Approx(-0.0290069).epsilon(kVectorTol));
    const double b = -0.145034;
    const double c = 0.0870206;
    check_tokens(bnpo.grad_logp, tokens({{b, b, b}, {c, c, 0}, {-0.0290069, 0, 0}, {c, c, c}}),
                 1e-6);
    const auto dr = v8_loss(GrpoLossType::dr_grpo)(in);
    CHECK(dr.value == Approx(-0.0217552).epsilon(kVectorTol));
    const double d = 0.0652655;
    check_tokens(dr.grad_logp, tokens({{a, a, a}, {d, d, 0}, {-0.0217552, 0, 0}, {d, d, d}}), 1e-6);
  }
}

TEST_CASE("GRPO sequence level reproduces V13 (GSPO)", "[losses][grpo]") {
  const Fixture f;
  const TokenArrayd log_ratio =
      tokens({{1e-3, 1e-3, 1e-3}, {5e-4, 1e-4, kNaN}, {-9e-4, kNaN, kNaN}, {-5e-4, -5e-4, -5e-4}});
  const TokenArrayd old = f.logp - log_ratio;  // NaN at the masked positions
  const GRPOInputs<double> in{f.logp, old, {}, f.adv, {}, f.mask};
  const GRPO gspo = polo::gspo();
  CHECK(gspo.importance_sampling_level == ImportanceSamplingLevel::sequence);
  CHECK(gspo.loss_type == GrpoLossType::grpo);
  const auto out = gspo(in);
  CHECK(out.value == Approx(-7.18096e-05).epsilon(kVectorTol));
  check_tokens(out.grad_logp,
               tokens({{0, 0, 0}, {0.0979276, 0.0979276, 0}, {-0.0652068, 0, 0}, {0, 0, 0}}), 1e-6);
  // seq 0 (A > 0, s = 1.001) clipped high, seq 3 (A < 0, s = 0.9995) clipped low: per sequence
  CHECK(out.metrics.clip_ratio_high == Approx(0.25));
  CHECK(out.metrics.clip_ratio_low == Approx(0.25));
  CHECK(out.metrics.clip_ratio_region == Approx(0.5));
  CHECK(out.metrics.ratio_mean ==
        Approx((std::exp(1e-3) + std::exp(3e-4) + std::exp(-9e-4) + std::exp(-5e-4)) / 4));
  CHECK(out.metrics.valid_tokens == 9.0);
}

TEST_CASE("GRPO cispo and sapo against hand-derived values", "[losses][grpo]") {
  // B = 2, T = 2; row 1 has one valid token. log-ratios (0.2, 0; 0.3, -), A = (1, -2):
  //   r = (e^0.2 = 1.2214028, 1; e^0.3 = 1.3498588)
  const TokenArrayd logp = tokens({{-0.5, -1.0}, {-0.3, kNaN}});
  const TokenArrayd old = tokens({{-0.7, -1.0}, {-0.6, kNaN}});
  const TokenArrayd mask = tokens({{1, 1}, {1, 0}});
  const SeqArrayd adv = (SeqArrayd(2) << 1.0, -2.0).finished();
  const GRPOInputs<double> in{logp, old, {}, adv, {}, mask};

  // CISPO, eps_high 1.2: l = -min(r, 1.2) A logp, d/dlogp = -min(r, 1.2) A.
  //   (0,0): -1.2 * 1 * -0.5 = 0.6,  grad -1.2   (r = 1.2214 truncated at 1.2)
  //   (0,1): -1 * 1 * -1.0   = 1.0,  grad -1
  //   (1,0): -1.2 * -2 * -0.3 = -0.72, grad 2.4  (r = 1.3499 truncated)
  //   dapo normalization N = 3: value 0.88 / 3, grad / 3.
  const GRPO cispo{.epsilon_high = 1.2, .loss_type = GrpoLossType::cispo};
  const auto c = cispo(in);
  CHECK(c.value == Approx(0.88 / 3.0).epsilon(1e-12));
  check_tokens(c.grad_logp, tokens({{-0.4, -1.0 / 3.0}, {0.8, 0}}), 1e-12);
  CHECK(c.metrics.clip_ratio_high == Approx(1.0 / 3.0));  // A > 0 and r > eps_high: (0, 0)
  CHECK(c.metrics.clip_ratio_low == 0.0);
  check_tokens(c.per_token, tokens({{0.6, 1.0}, {-0.72, 0}}), 1e-12);

  // SAPO: l = -(4 / tau) sigma(tau (r - 1)) A, d/dlogp = -4 A r sigma (1 - sigma);
  // tau = 1 for A > 0, 1.05 for A < 0. grpo normalization: w_0 = 1 / (2 * 2), w_1 = 1 / (2 * 1).
  //   (0,0): sigma(0.2214028) = 0.5551257, l = -2.2205028, dl = -4 * 1.2214028 * 0.5551257 *
  //          0.4448743 = -1.2065562
  //   (0,1): sigma(0) = 0.5, l = -2, dl = -1
  //   (1,0): sigma(1.05 * 0.3498588) = 0.5908189, l = (8 / 1.05) * 0.5908189 = 4.5014774,
  //          dl = 8 * 1.3498588 * 0.5908189 * 0.4091811 = 2.6106477
  //   value = ((-2.2205028 - 2) / 2 + 4.5014774) / 2 = 1.1956130
  const GRPO sapo{.loss_type = GrpoLossType::sapo};
  const auto s = sapo(in);
  CHECK(s.value == Approx(1.1956130).epsilon(1e-7));
  check_tokens(s.grad_logp, tokens({{-0.3016390, -0.25}, {1.3053239, 0}}), 1e-7);
  check_tokens(s.per_token, tokens({{-2.2205028, -2.0}, {4.5014774, 0}}), 1e-7);
  CHECK(s.metrics.clip_ratio_region == 0.0);
}

/// Every sequence ratio of `logp` keeps >= 1e-4 from the kinks (sequence-level check).
bool sequence_ratios_away(const TokenArrayd& logp, const TokenArrayd& old,
                          const polo::MaskArray& mask, const std::vector<double>& kinks) {
  for (Index i = 0; i < logp.rows(); ++i) {
    double n = 0.0;
    double sum = 0.0;
    for (Index t = 0; t < logp.cols(); ++t) {
      if (mask(i, t)) {
        n += 1.0;
        sum += logp(i, t) - old(i, t);
      }
    }
    if (n == 0.0) continue;
    for (const double kink : kinks) {
      if (std::abs(std::exp(sum / n) - kink) < 1e-4) return false;
    }
  }
  return true;
}

TEST_CASE("GRPO gradient matches finite differences for every variant",
          "[losses][grpo][gradcheck]") {
  polo::Rng gen(17);
  const Index rows = 4;
  const Index cols = 6;
  const TokenArrayd old = polo_test::random_tokens(gen, rows, cols, -2.0, -0.2);
  const TokenArrayd ref = polo_test::random_tokens(gen, rows, cols, -2.0, -0.2);
  const SeqArrayd adv = polo_test::random_seq(gen, rows, -2.0, 2.0);
  const TokenArrayd token_adv = polo_test::random_tokens(gen, rows, cols, -2.0, 2.0);
  const polo::MaskArray mask = random_mask(gen, rows, cols);
  int checked = 0;
  for (const auto type : kAllTypes) {
    for (const auto level : {ImportanceSamplingLevel::token, ImportanceSamplingLevel::sequence}) {
      for (const double beta : {0.0, 0.04}) {
        for (const bool is : {false, true}) {
          for (const double delta : {0.0, 1.15}) {
            const bool gated = type == GrpoLossType::cispo || type == GrpoLossType::sapo;
            if (delta > 0.0 && gated) continue;
            const GRPO loss{.epsilon_low = 0.2,
                            .epsilon_high = type == GrpoLossType::cispo ? 1.1 : 0.28,
                            .delta = delta,
                            .beta = beta,
                            .kl_importance_correction = is,
                            .loss_type = type,
                            .importance_sampling_level = level,
                            .max_completion_length = 8.0,
                            .num_items_in_batch = type == GrpoLossType::dapo ? 30.0 : 0.0,
                            .gradient_accumulation_steps = 2.0};
            const std::vector<double> kinks = {0.8, 1.28, 1.1, 1.15};
            TokenArrayd logp = random_logp_away_from(gen, old, kinks, -0.6, 0.6);
            if (level == ImportanceSamplingLevel::sequence) {
              while (!sequence_ratios_away(logp, old, mask, kinks)) {
                logp = random_logp_away_from(gen, old, kinks, -0.6, 0.6);
              }
            }
            // token advantages at token level on every other variant (and for cispo always)
            const bool use_token_adv =
                (level == ImportanceSamplingLevel::token && is) || type == GrpoLossType::cispo;
            auto inputs = [&](const TokenArrayd& x) {
              return use_token_adv ? GRPOInputs<double>{x, old, ref, {}, token_adv, mask}
                                   : GRPOInputs<double>{x, old, ref, adv, {}, mask};
            };
            INFO("type " << static_cast<int>(type) << " level " << static_cast<int>(level)
                         << " beta " << beta << " is " << is << " delta " << delta);
            const auto out = loss(inputs(logp));
            if (type != GrpoLossType::cispo) {
              auto f = [&](const TokenArrayd& x) { return loss(inputs(x)).value; };
              POLO_CHECK_GRADIENT(f, logp, out.grad_logp);
            } else {
              // cispo's coefficient sg[min(r, eps_high)] is a constant: differentiate with old_logp
              // moved along with logp (the ratio stays put), with the KL term checked apart.
              GRPO surrogate_only = loss;
              surrogate_only.beta = 0.0;
              const TokenArrayd grad0 = surrogate_only(inputs(logp)).grad_logp;
              auto f = [&](const TokenArrayd& x) {
                const TokenArrayd moved = old + (x - logp);
                return surrogate_only({x, moved, ref, {}, token_adv, mask}).value;
              };
              POLO_CHECK_GRADIENT(f, logp, grad0);
              const SeqArrayd zero = SeqArrayd::Zero(rows);
              const GRPO kl_only{
                  .beta = beta, .kl_importance_correction = is, .loss_type = GrpoLossType::dapo};
              auto g = [&](const TokenArrayd& x) {
                return kl_only({x, old, ref, zero, {}, mask}).value;
              };
              const TokenArrayd kl_grad = out.grad_logp - grad0;
              POLO_CHECK_GRADIENT(g, logp, kl_grad);
            }
            CHECK((out.grad_logp.row(rows - 1) == 0.0).all());
            // compute() writes the same gradient without allocating and returns the same value
            TokenArrayd grad(rows, cols);
            grad.setConstant(42.0);
            const auto v = loss.compute(inputs(logp), polo::TokenView<double>(grad));
            CHECK(v.value == out.value);
            CHECK((grad == out.grad_logp).all());
            ++checked;
          }
        }
      }
    }
  }
  CHECK(checked == 2 * 2 * 2 * (4 * 2 + 2));
}

TEST_CASE("GRPO with ratio 1 and beta 0: value -Agg(A), gradient -w A", "[losses][grpo]") {
  polo::Rng gen(7);
  const TokenArrayd logp = polo_test::random_tokens(gen, 4, 5, -2.0, -0.1);
  const TokenArrayd adv = polo_test::random_tokens(gen, 4, 5, -2.0, 2.0);
  const polo::MaskArray mask = random_mask(gen, 4, 5);
  const double s = 2.0;  // gradient accumulation: all but dapo divide by it
  struct Case {
    GrpoLossType type;
    polo::Aggregation agg;
    double scale;
  };
  const std::vector<Case> cases = {
      {GrpoLossType::grpo, polo::Aggregation::seq_mean_token_mean(), 1.0 / s},
      {GrpoLossType::bnpo, polo::Aggregation::token_mean(), 1.0 / s},
      {GrpoLossType::dr_grpo, polo::Aggregation::token_sum_over(4.0 * 7.0), 1.0 / s},
      {GrpoLossType::dapo, polo::Aggregation::token_mean(), 1.0},
  };
  for (const auto& c : cases) {
    const GRPO loss{
        .loss_type = c.type, .max_completion_length = 7.0, .gradient_accumulation_steps = s};
    const auto out = loss({logp, {}, {}, {}, adv, mask});
    const auto w = polo::aggregation_weights(c.agg, mask, 4, 5);
    CHECK(out.value == Approx(-c.scale * polo::aggregate(polo::TokenView<const double>(adv),
                                                         polo::MaskView(mask), c.agg)));
    for (Index i = 0; i < 4; ++i) {
      for (Index t = 0; t < 5; ++t) {
        const double expected =
            mask(i, t) ? -c.scale * w[static_cast<std::size_t>(i)] * adv(i, t) : 0.0;
        CHECK(out.grad_logp(i, t) == Approx(expected).margin(1e-15));
      }
    }
    CHECK(out.metrics.ratio_mean == 1.0);
    CHECK(out.metrics.clip_ratio_region == 0.0);
  }
}

TEST_CASE("GRPO: a row without a valid token contributes nothing", "[losses][grpo]") {
  const Fixture f;
  TokenArrayd logp(5, 3), old(5, 3), ref(5, 3), mask(5, 3);
  logp << f.logp, TokenArrayd::Constant(1, 3, kNaN);
  old << f.old, TokenArrayd::Constant(1, 3, kNaN);
  ref << f.ref, TokenArrayd::Constant(1, 3, -polo_test::kInf);
  mask << f.mask, TokenArrayd::Zero(1, 3);
  SeqArrayd adv(5);
  adv << f.adv, kNaN;  // never read: the row has no valid token
  for (const auto level : {ImportanceSamplingLevel::token, ImportanceSamplingLevel::sequence}) {
    for (const auto type : kAllTypes) {
      GRPO loss = v8_loss(type, 0.04);
      loss.importance_sampling_level = level;
      const auto with_empty = loss({logp, old, ref, adv, {}, mask});
      const auto without = loss(f.inputs());
      REQUIRE(std::isfinite(with_empty.value));
      CHECK((with_empty.grad_logp.row(4) == 0.0).all());
      CHECK((with_empty.per_token.row(4) == 0.0).all());
      // grpo, sapo and dr_grpo divide by B (TRL's mean over rows counts the empty row)
      const bool per_row =
          type == GrpoLossType::grpo || type == GrpoLossType::sapo || type == GrpoLossType::dr_grpo;
      const double factor = per_row ? 4.0 / 5.0 : 1.0;
      CHECK(with_empty.value == Approx(factor * without.value).epsilon(1e-13));
      check_tokens(with_empty.grad_logp.topRows(4), factor * without.grad_logp, 1e-15);
      CHECK(with_empty.metrics.valid_tokens == 9.0);
    }
  }
}

TEST_CASE("GRPO sequence level on one-token sequences equals token level", "[losses][grpo]") {
  polo::Rng gen(23);
  const TokenArrayd old = polo_test::random_tokens(gen, 5, 1, -2.0, -0.2);
  const TokenArrayd logp = random_logp_away_from(gen, old, {0.8, 1.28, 1.15}, -0.6, 0.6);
  const TokenArrayd ref = polo_test::random_tokens(gen, 5, 1, -2.0, -0.2);
  const SeqArrayd adv = polo_test::random_seq(gen, 5, -2.0, 2.0);
  for (const auto type : kAllTypes) {
    GRPO token = v8_loss(type, 0.04);
    token.kl_importance_correction = true;
    GRPO sequence = token;
    sequence.importance_sampling_level = ImportanceSamplingLevel::sequence;
    const GRPOInputs<double> in{logp, old, ref, adv, {}, {}};
    const auto a = token(in);
    const auto b = sequence(in);
    CHECK(b.value == Approx(a.value).epsilon(1e-14));
    check_tokens(b.grad_logp, a.grad_logp, 1e-15);
    CHECK(b.metrics.clip_ratio_region == Approx(a.metrics.clip_ratio_region));
    CHECK(b.metrics.ratio_mean == Approx(a.metrics.ratio_mean));
  }
}

TEST_CASE("GRPO: padding width does not matter, NaN in padding is ignored", "[losses][grpo]") {
  polo::Rng gen(3);
  const TokenArrayd old = polo_test::random_tokens(gen, 3, 4, -2.0, -0.2);
  const TokenArrayd logp = random_logp_away_from(gen, old, {0.8, 1.28}, -0.6, 0.6);
  const TokenArrayd ref = polo_test::random_tokens(gen, 3, 4, -2.0, -0.2);
  const TokenArrayd token_adv = polo_test::random_tokens(gen, 3, 4, -1.0, 1.0);
  const SeqArrayd adv = polo_test::random_seq(gen, 3, -1.0, 1.0);
  const polo::MaskArray mask = random_mask(gen, 3, 4);
  TokenArrayd logp_w(3, 7), old_w(3, 7), ref_w(3, 7), tadv_w(3, 7);
  polo::MaskArray mask_w = polo::MaskArray::Zero(3, 7);
  logp_w.setConstant(kNaN);
  old_w.setConstant(-polo_test::kInf);
  ref_w.setConstant(kNaN);
  tadv_w.setConstant(kNaN);
  logp_w.leftCols(4) = logp;
  old_w.leftCols(4) = old;
  ref_w.leftCols(4) = ref;
  tadv_w.leftCols(4) = token_adv;
  mask_w.leftCols(4) = mask;
  for (Index i = 0; i < 3; ++i) {
    for (Index t = 0; t < 4; ++t) {
      if (!mask(i, t)) logp_w(i, t) = kNaN;  // masked positions inside the data too
    }
  }
  for (const auto level : {ImportanceSamplingLevel::token, ImportanceSamplingLevel::sequence}) {
    for (const auto type : kAllTypes) {
      for (const bool per_token : {false, true}) {
        if (per_token && level == ImportanceSamplingLevel::sequence &&
            type != GrpoLossType::cispo) {
          continue;
        }
        GRPO loss = v8_loss(type, 0.04);
        loss.importance_sampling_level = level;
        loss.max_completion_length = 8.0;
        const auto narrow = per_token ? loss({logp, old, ref, {}, token_adv, mask})
                                      : loss({logp, old, ref, adv, {}, mask});
        const auto wide = per_token ? loss({logp_w, old_w, ref_w, {}, tadv_w, mask_w})
                                    : loss({logp_w, old_w, ref_w, adv, {}, mask_w});
        CHECK(wide.value == Approx(narrow.value).epsilon(1e-14));
        check_tokens(wide.grad_logp.leftCols(4), narrow.grad_logp, 1e-15);
        CHECK((wide.grad_logp.rightCols(3) == 0.0).all());
        CHECK(wide.metrics.kl_mean == Approx(narrow.metrics.kl_mean));
        CHECK(wide.metrics.clip_ratio_region == narrow.metrics.clip_ratio_region);
      }
    }
  }
}

TEST_CASE("GRPO works on float inputs, accumulating in double", "[losses][grpo]") {
  const Fixture f;
  const polo::TokenArrayf logp = f.logp.cast<float>();
  const polo::TokenArrayf old = f.old.cast<float>();
  const polo::TokenArrayf ref = f.ref.cast<float>();
  const polo::SeqArrayf adv = f.adv.cast<float>();
  const polo::MaskArray mask = f.mask.cast<unsigned char>();
  const auto out = v8_loss(GrpoLossType::grpo, 0.04)({logp, old, ref, adv, {}, mask});
  CHECK(out.value == Approx(-0.0246047).epsilon(1e-5));
  CHECK(out.grad_logp(0, 0) == Approx(-0.119612f).epsilon(1e-5));
  polo::TokenArrayf grad_f(4, 3);
  const auto v = v8_loss(GrpoLossType::grpo, 0.04)
                     .compute(GRPOInputs<float>{logp, old, ref, adv, {}, mask},
                              polo::TokenView<float>(grad_f));
  CHECK(v.value == out.value);
}

TEST_CASE("GRPO presets carry the papers' settings", "[losses][grpo]") {
  const GRPO dapo = polo::dapo();
  CHECK(dapo.epsilon_low == 0.2);
  CHECK(dapo.epsilon_high == 0.28);
  CHECK(dapo.beta == 0.0);
  CHECK(dapo.loss_type == GrpoLossType::dapo);
  CHECK(polo::dapo(123.0).num_items_in_batch == 123.0);
  const GRPO dr = polo::dr_grpo(3.0);
  CHECK(dr.loss_type == GrpoLossType::dr_grpo);
  CHECK(dr.max_completion_length == 3.0);
  CHECK(dr.beta == 0.0);
  const GRPO gspo = polo::gspo();
  CHECK(gspo.epsilon_low == 3e-4);
  CHECK(gspo.epsilon_high == 4e-4);
  CHECK(gspo.beta == 0.0);
  // TRL defaults
  const GRPO trl{};
  CHECK(trl.loss_type == GrpoLossType::dapo);
  CHECK(trl.epsilon_low == 0.2);
  CHECK(trl.epsilon_high == 0.2);
  CHECK(trl.beta == 0.0);
  CHECK(trl.importance_sampling_level == ImportanceSamplingLevel::token);
  const Fixture f;
  GRPO dr_v8 = polo::dr_grpo(3.0);
  dr_v8.epsilon_high = 0.28;
  const auto out = dr_v8(f.inputs());
  CHECK(out.value == Approx(-0.044387).epsilon(kVectorTol));
}

TEST_CASE("GRPO validates its hyper-parameters", "[losses][grpo][errors]") {
  const Fixture f;
  const auto in = f.inputs();
  CHECK_THROWS_WITH(GRPO{.epsilon_low = -0.1}(in), "polo::GRPO: epsilon_low must be > 0, got -0.1");
  CHECK_THROWS_AS(GRPO{.epsilon_low = -0.1}(in), polo::invalid_argument);
  CHECK_THROWS_WITH(GRPO{.epsilon_high = 0.0}(in), "polo::GRPO: epsilon_high must be > 0, got 0");
  CHECK_THROWS_WITH(GRPO{.delta = 0.5}(in), "polo::GRPO: delta must be 0 (off) or > 1, got 0.5");
  CHECK_THROWS_WITH(GRPO{.delta = 1.0}(in), Contains("delta must be 0 (off) or > 1"));
  CHECK_THROWS_WITH((GRPO{.delta = 2.0, .loss_type = GrpoLossType::cispo}(in)),
                    Contains("delta must be 0 with loss_type cispo or sapo"));
  CHECK_THROWS_WITH(GRPO{.beta = -0.1}(in), "polo::GRPO: beta must be finite and >= 0, got -0.1");
  CHECK_THROWS_WITH(GRPO{.beta = polo_test::kInf}(in), Contains("beta must be finite"));
  CHECK_THROWS_WITH(GRPO{.loss_type = GrpoLossType::dr_grpo}(in),
                    "polo::GRPO: max_completion_length must be > 0 for loss_type dr_grpo, got 0");
  CHECK_THROWS_WITH(GRPO{.max_completion_length = -1.0}(in),
                    Contains("max_completion_length must be >= 0"));
  CHECK_THROWS_WITH(GRPO{.num_items_in_batch = -1.0}(in),
                    "polo::GRPO: num_items_in_batch must be >= 0, got -1");
  CHECK_THROWS_WITH(GRPO{.gradient_accumulation_steps = 0.0}(in),
                    "polo::GRPO: gradient_accumulation_steps must be > 0, got 0");
  CHECK_THROWS_WITH(GRPO{.sapo_temperature_pos = 0.0}(in),
                    Contains("sapo_temperature_pos must be > 0"));
  CHECK_THROWS_WITH(GRPO{.sapo_temperature_neg = -1.0}(in),
                    Contains("sapo_temperature_neg must be > 0"));
}

TEST_CASE("GRPO checks its inputs and names the field", "[losses][grpo][errors]") {
  const Fixture f;
  const GRPO loss{};
  const TokenArrayd wide = TokenArrayd::Zero(4, 4);
  const SeqArrayd short_adv = SeqArrayd::Zero(3);
  CHECK_THROWS_WITH(v8_loss(GrpoLossType::grpo, 0.04)({f.logp, f.old, {}, f.adv, {}, f.mask}),
                    "polo::GRPO: ref_logp must be given (beta > 0), got none");
  CHECK_THROWS_WITH(loss({f.logp, f.old, {}, f.adv, f.logp, f.mask}),
                    "polo::GRPO: advantages and token_advantages must be exactly one of them "
                    "given ([B] per sequence or [B, T] per token), got both");
  CHECK_THROWS_WITH(loss({f.logp, f.old, {}, {}, {}, f.mask}),
                    Contains("exactly one of them given") && Contains("got neither"));
  CHECK_THROWS_WITH(loss({f.logp, wide, {}, f.adv, {}, f.mask}),
                    "polo::GRPO: old_logp shape must be [4, 3], got [4, 4]");
  CHECK_THROWS_WITH(loss({f.logp, f.old, wide, f.adv, {}, f.mask}),
                    "polo::GRPO: ref_logp shape must be [4, 3], got [4, 4]");
  CHECK_THROWS_WITH(loss({f.logp, f.old, {}, short_adv, {}, f.mask}),
                    "polo::GRPO: advantages size must be [4], got [3]");
  CHECK_THROWS_WITH(loss({f.logp, f.old, {}, {}, wide, f.mask}),
                    "polo::GRPO: token_advantages shape must be [4, 3], got [4, 4]");
  CHECK_THROWS_WITH(loss({f.logp, f.old, {}, f.adv, {}, wide}),
                    "polo::GRPO: mask shape must be [4, 3], got [4, 4]");
  CHECK_THROWS_WITH(polo::gspo()({f.logp, f.old, {}, {}, f.logp, f.mask}),
                    Contains("token_advantages must be absent at importance_sampling_level "
                             "sequence"));
  TokenArrayd grad(4, 2);
  CHECK_THROWS_WITH(loss.compute(f.inputs(), polo::TokenView<double>(grad)),
                    "polo::GRPO: grad_logp shape must be [4, 3], got [4, 2]");
  TokenArrayd one_row(1, 3);
  CHECK_THROWS_WITH(loss.compute(f.inputs(), polo::TokenView<double>(one_row.data(), 4, 3, 0)),
                    Contains("grad_logp row stride"));
}

TEST_CASE("GRPO reports non-finite inputs at valid positions only", "[losses][grpo][errors]") {
  const Fixture f;
  const GRPO loss = v8_loss(GrpoLossType::grpo, 0.04);
  auto expect = [&](const GRPOInputs<double>& in, const char* field, Index row, Index col) {
    try {
      (void)loss(in);
      FAIL("no exception thrown");
    } catch (const polo::nonfinite_error& e) {
      CHECK(e.field() == field);
      CHECK(e.row() == row);
      CHECK(e.col() == col);
      CHECK_THAT(e.what(), Contains("polo::GRPO") && Contains(field));
    }
  };
  TokenArrayd logp = f.logp;
  logp(1, 1) = kNaN;
  expect({logp, f.old, f.ref, f.adv, {}, f.mask}, "logp", 1, 1);
  TokenArrayd old = f.old;
  old(3, 2) = -polo_test::kInf;
  expect({f.logp, old, f.ref, f.adv, {}, f.mask}, "old_logp", 3, 2);
  TokenArrayd ref = f.ref;
  ref(0, 1) = kNaN;
  expect({f.logp, f.old, ref, f.adv, {}, f.mask}, "ref_logp", 0, 1);
  SeqArrayd adv = f.adv;
  adv[2] = polo_test::kInf;
  expect({f.logp, f.old, f.ref, adv, {}, f.mask}, "advantages", 2, 0);
  TokenArrayd tadv = TokenArrayd::Ones(4, 3);
  tadv(3, 0) = kNaN;
  expect({f.logp, f.old, f.ref, {}, tadv, f.mask}, "token_advantages", 3, 0);

  // NaN at masked positions is ignored
  logp = f.logp;
  logp(2, 2) = kNaN;
  old = f.old;
  old(1, 2) = kNaN;
  const auto out = loss({logp, old, f.ref, f.adv, {}, f.mask});
  CHECK(out.value == Approx(-0.0246047).epsilon(kVectorTol));
  CHECK(out.grad_logp(2, 2) == 0.0);

  // finite inputs whose ratio overflows are reported as an overflow, not a bad input
  TokenArrayd big = f.logp;
  big(1, 1) = 800.0;  // A < 0: r = inf makes the unclipped branch +inf
  CHECK_THROWS_WITH(loss({big, f.old, f.ref, f.adv, {}, f.mask}),
                    Contains("the loss must be finite for finite inputs"));
}

TEST_CASE("GRPO docs usage compiles and runs", "[losses][grpo][docs]") {
  polo::Rng gen(41);
  const Index B = 4;
  const Index T = 6;
  const polo::TokenArrayf old_logp = polo_test::random_tokens(gen, B, T, -2.0, -0.1).cast<float>();
  const polo::TokenArrayf logp = old_logp + 0.05F;
  const polo::TokenArrayf ref_logp = old_logp;
  const polo::SeqArrayf advantages = polo_test::random_seq(gen, B).cast<float>();
  polo::MaskArray mask = polo::MaskArray::Ones(B, T);
  mask.rightCols(2).setZero();
  const double total_valid_tokens = 16.0;
  // --- docs/algorithms/grpo.md usage ---
  const polo::GRPO loss{.epsilon_high = 0.28,
                        .beta = 0.04,
                        .loss_type = polo::GrpoLossType::dapo,
                        .num_items_in_batch = total_valid_tokens};
  const auto out = loss({logp, old_logp, ref_logp, advantages, {}, mask});
  polo::TokenArrayf grad(B, T);
  const auto v =
      loss.compute(polo::GRPOInputs<float>{logp, old_logp, ref_logp, advantages, {}, mask},
                   polo::TokenView<float>(grad));
  // ---
  CHECK(v.value == out.value);
  CHECK((grad == out.grad_logp).all());
  CHECK(out.metrics.valid_tokens == 16.0);
  CHECK(std::isfinite(out.value));
}

}  // namespace grpo_test
