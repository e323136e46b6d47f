#pragma once
// Tabular self-improvement for examples/srpo_pit.cpp and its smoke test: one prompt, K responses
// of increasing quality, Bradley-Terry preferences between them, and offline preference pairs
// drawn from a uniform behaviour policy. Two ways to learn to improve a given reference response
// y_ref:
//
//  - SRPO trains a self-improvement policy pi+(y | y_ref) (a K x K logit table) jointly with a
//    generative policy pi(y) with polo::SRPO;
//  - PIT trains a gap reward r_gap(y, y_ref) (a K x K table) with polo::PITRewardLoss, then its
//    RL stage's KL-regularized optimum M_PIT(y | y_ref) ∝ M_SFT(y | y_ref) exp(r_gap / beta).
//
// Both start from the same reference improver M_SFT(y | y_ref) ∝ exp(-|y - y_ref|), which edits
// locally and wins about half the time. The win rate of an improver is
// E_{y_ref ~ uniform} E_{y ~ M(. | y_ref)} P(y > y_ref).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/nn/optim.hpp"
#include "polo/preference/pit.hpp"
#include "polo/preference/srpo.hpp"

namespace polo::examples {

struct SelfImproveConfig {
  Index responses = 6;
  double quality_step = 0.5;  ///< quality of response y is quality_step * y
  Index pairs = 4000;         ///< offline pairs, drawn uniformly and labelled by P
  Index steps = 500;          ///< Adam steps on each loss
  double learning_rate = 0.05;
  double srpo_beta = 0.1;  ///< TRL PR #1772's default
  double srpo_alpha = 0.8;
  double pit_beta = 0.25;  ///< KL strength of PIT's RL stage
  Index revisions = 3;     ///< rounds of revising the revision (inference)
  Index log_every = 10;
  std::uint64_t seed = 1;
};

struct SelfImproveLog {
  Index step = 0;
  double srpo_loss = 0.0;
  double srpo_win_rate = 0.0;        ///< pi+ over y_ref
  double generative_win_rate = 0.0;  ///< P(pi > pi_ref)
  double pit_loss = 0.0;
  double pit_win_rate = 0.0;  ///< M_PIT (from the current r_gap) over y_ref
  /// Share of response pairs a better than b with r_gap(a, b) > r_gap(b, a).
  double pit_gap_ordering = 0.0;
};

struct SelfImproveSummary {
  Eigen::MatrixXd preferences;
  double reference_win_rate = 0.0;  ///< M_SFT over y_ref: the "before" of both methods
  double srpo_win_rate = 0.0;
  double pit_win_rate = 0.0;
  double generative_win_rate = 0.0;
  /// Win rate over the original y_ref after 1, 2, ... revisions.
  std::vector<double> reference_revisions, srpo_revisions, pit_revisions;
  SelfImproveLog final;
};

namespace self_improve_detail {  // not "detail": that would hide polo::detail

/// Row-wise softmax of a K x K logit table (row = the response being revised).
inline Eigen::MatrixXd softmax_rows(const Vector<double>& logits, Index k, Index offset) {
  Eigen::MatrixXd m(k, k);
  for (Index r = 0; r < k; ++r) {
    double hi = -std::numeric_limits<double>::infinity();
    for (Index c = 0; c < k; ++c)
      hi = std::max(hi, logits[offset + r * k + c]);
    double z = 0.0;
    for (Index c = 0; c < k; ++c) {
      m(r, c) = std::exp(logits[offset + r * k + c] - hi);
      z += m(r, c);
    }
    for (Index c = 0; c < k; ++c)
      m(r, c) /= z;
  }
  return m;
}

/// E_{y_ref uniform} P(y > y_ref) for y ~ revise^n(. | y_ref) (n rounds of revision).
inline double revision_win_rate(const Eigen::MatrixXd& p, const Eigen::MatrixXd& revise,
                                Index rounds) {
  const Index k = p.rows();
  double total = 0.0;
  for (Index ref = 0; ref < k; ++ref) {
    Eigen::VectorXd dist = Eigen::VectorXd::Zero(k);
    dist[ref] = 1.0;
    for (Index n = 0; n < rounds; ++n) {
      Eigen::VectorXd next = Eigen::VectorXd::Zero(k);
      for (Index a = 0; a < k; ++a) {
        for (Index b = 0; b < k; ++b)
          next[b] += dist[a] * revise(a, b);
      }
      dist = next;
    }
    for (Index y = 0; y < k; ++y)
      total += dist[y] * p(y, ref);
  }
  return total / static_cast<double>(k);
}

}  // namespace self_improve_detail

/// Trains SRPO and PIT on the same offline pairs; `on_log` sees a row every `log_every` steps.
inline SelfImproveSummary run_self_improvement(
    const SelfImproveConfig& config,
    const std::function<void(const SelfImproveLog&)>& on_log = {}) {
  const Index k = config.responses;
  SelfImproveSummary out;
  out.preferences.resize(k, k);
  for (Index a = 0; a < k; ++a) {
    for (Index b = 0; b < k; ++b)
      out.preferences(a, b) = sigmoid(config.quality_step * static_cast<double>(a - b));
  }
  const Eigen::MatrixXd& p = out.preferences;
  Rng gen(config.seed);

  // The reference improver M_SFT(y | y_ref) ∝ exp(-|y - y_ref|) and generative pi_ref uniform.
  Eigen::MatrixXd sft(k, k);
  for (Index r = 0; r < k; ++r) {
    double z = 0.0;
    for (Index c = 0; c < k; ++c) {
      sft(r, c) = std::exp(-std::abs(static_cast<double>(c - r)));
      z += sft(r, c);
    }
    sft.row(r) /= z;
  }
  const double ref_logp = -std::log(static_cast<double>(k));

  // Offline data: ordered (winner, loser) counts as per-pair weights.
  std::vector<Index> win, lose;
  for (Index a = 0; a < k; ++a) {
    for (Index b = 0; b < k; ++b) {
      if (a != b) {
        win.push_back(a);
        lose.push_back(b);
      }
    }
  }
  const auto n = static_cast<Index>(win.size());
  SeqArrayd weight = SeqArrayd::Zero(n);
  for (Index d = 0; d < config.pairs; ++d) {
    const Index y = uniform_int(gen, k);
    Index z = uniform_int(gen, k - 1);
    z += z >= y ? 1 : 0;  // a different response
    const bool y_wins = uniform(gen) < p(y, z);
    const Index w = y_wins ? y : z;
    const Index l = y_wins ? z : y;
    weight[w * (k - 1) + l - (l > w ? 1 : 0)] += 1.0 / static_cast<double>(config.pairs);
  }

  // SRPO parameters: pi's K logits, then pi+'s K x K table, initialized at the references.
  Vector<double> srpo_params(k + k * k);
  srpo_params.head(k).setZero();
  for (Index r = 0; r < k; ++r) {
    for (Index c = 0; c < k; ++c)
      srpo_params[k + r * k + c] = std::log(sft(r, c));
  }
  Vector<double> gap = Vector<double>::Zero(k * k);  // r_gap(y, y_ref) at y_ref * k + y
  Adam<double> srpo_adam(srpo_params.size(), AdamOptions{.learning_rate = config.learning_rate});
  Adam<double> pit_adam(gap.size(), AdamOptions{.learning_rate = config.learning_rate});
  const SRPO srpo{.beta = config.srpo_beta, .alpha = config.srpo_alpha};
  const PITRewardLoss pit;

  std::array<SeqArrayd, 6> pol, ref;
  for (auto& a : pol)
    a.resize(n);
  for (auto& a : ref)
    a.resize(n);
  for (Index i = 0; i < n; ++i) {
    const Index w = win[static_cast<std::size_t>(i)];
    const Index l = lose[static_cast<std::size_t>(i)];
    ref[0][i] = ref_logp;
    ref[1][i] = ref_logp;
    ref[2][i] = std::log(sft(l, w));
    ref[3][i] = std::log(sft(l, l));
    ref[4][i] = std::log(sft(w, w));
    ref[5][i] = std::log(sft(w, l));
  }
  SeqArrayd g_wl(n), g_ww(n), g_ll(n), g_lw(n);

  auto pit_improver = [&] {
    Eigen::MatrixXd m(k, k);
    for (Index r = 0; r < k; ++r) {
      double z = 0.0;
      for (Index c = 0; c < k; ++c) {
        m(r, c) = sft(r, c) * std::exp(gap[r * k + c] / config.pit_beta);
        z += m(r, c);
      }
      m.row(r) /= z;
    }
    return m;
  };
  auto generative_win_rate = [&](const Eigen::VectorXd& pi) {
    double total = 0.0;
    for (Index a = 0; a < k; ++a) {
      for (Index b = 0; b < k; ++b)
        total += pi[a] * p(a, b) / static_cast<double>(k);
    }
    return total;
  };

  SelfImproveLog row;
  Vector<double> grad_srpo(srpo_params.size());
  Vector<double> grad_gap(gap.size());
  for (Index step = 1; step <= config.steps; ++step) {
    // SRPO on every observed pair at once, weighted by its frequency.
    const Eigen::MatrixXd plus = self_improve_detail::softmax_rows(srpo_params, k, k);
    Eigen::VectorXd pi(k);
    {
      double hi = -std::numeric_limits<double>::infinity();  // a loop: see nash_tabular.hpp
      for (Index y = 0; y < k; ++y)
        hi = std::max(hi, srpo_params[y]);
      double z = 0.0;
      for (Index y = 0; y < k; ++y) {
        pi[y] = std::exp(srpo_params[y] - hi);
        z += pi[y];
      }
      pi /= z;
    }
    for (Index i = 0; i < n; ++i) {
      const Index w = win[static_cast<std::size_t>(i)];
      const Index l = lose[static_cast<std::size_t>(i)];
      pol[0][i] = std::log(pi[w]);
      pol[1][i] = std::log(pi[l]);
      pol[2][i] = std::log(plus(l, w));
      pol[3][i] = std::log(plus(l, l));
      pol[4][i] = std::log(plus(w, w));
      pol[5][i] = std::log(plus(w, l));
    }
    const auto s = srpo({pol[0], pol[1], pol[2], pol[3], pol[4], pol[5], ref[0], ref[1], ref[2],
                         ref[3], ref[4], ref[5], weight});
    grad_srpo.setZero();
    // d log softmax(x)_y / d x_c = 1[y = c] - softmax_c, for pi and for each row of pi+.
    auto add_pi = [&](Index y, double g) {
      for (Index c = 0; c < k; ++c)
        grad_srpo[c] += g * ((c == y ? 1.0 : 0.0) - pi[c]);
    };
    auto add_plus = [&](Index context, Index y, double g) {
      for (Index c = 0; c < k; ++c)
        grad_srpo[k + context * k + c] += g * ((c == y ? 1.0 : 0.0) - plus(context, c));
    };
    for (Index i = 0; i < n; ++i) {
      const Index w = win[static_cast<std::size_t>(i)];
      const Index l = lose[static_cast<std::size_t>(i)];
      add_pi(w, s.grad_chosen_logp[i]);
      add_pi(l, s.grad_rejected_logp[i]);
      add_plus(l, w, s.grad_chosen_given_rejected_logp[i]);
      add_plus(l, l, s.grad_rejected_given_rejected_logp[i]);
      add_plus(w, w, s.grad_chosen_given_chosen_logp[i]);
      add_plus(w, l, s.grad_rejected_given_chosen_logp[i]);
    }
    srpo_adam.step(srpo_params, grad_srpo);

    // PIT's gap reward model on the same pairs.
    for (Index i = 0; i < n; ++i) {
      const Index w = win[static_cast<std::size_t>(i)];
      const Index l = lose[static_cast<std::size_t>(i)];
      g_wl[i] = gap[l * k + w];
      g_ww[i] = gap[w * k + w];
      g_ll[i] = gap[l * k + l];
      g_lw[i] = gap[w * k + l];
    }
    const auto r = pit({g_wl, g_ww, g_ll, g_lw, weight});
    grad_gap.setZero();
    for (Index i = 0; i < n; ++i) {
      const Index w = win[static_cast<std::size_t>(i)];
      const Index l = lose[static_cast<std::size_t>(i)];
      grad_gap[l * k + w] += r.grad_chosen_over_rejected[i];
      grad_gap[w * k + w] += r.grad_chosen_over_chosen[i];
      grad_gap[l * k + l] += r.grad_rejected_over_rejected[i];
      grad_gap[w * k + l] += r.grad_rejected_over_chosen[i];
    }
    pit_adam.step(gap, grad_gap);

    if (step % config.log_every == 0 || step == config.steps) {
      row.step = step;
      row.srpo_loss = s.value;
      row.srpo_win_rate = self_improve_detail::revision_win_rate(p, plus, 1);
      row.generative_win_rate = generative_win_rate(pi);
      row.pit_loss = r.value;
      row.pit_win_rate = self_improve_detail::revision_win_rate(p, pit_improver(), 1);
      double ordered = 0.0;
      for (Index a = 0; a < k; ++a) {
        for (Index b = 0; b < a; ++b)
          ordered += gap[b * k + a] > gap[a * k + b] ? 1.0 : 0.0;
      }
      row.pit_gap_ordering = ordered / static_cast<double>(k * (k - 1) / 2);
      if (on_log) on_log(row);
    }
  }
  out.final = row;
  const Eigen::MatrixXd plus = self_improve_detail::softmax_rows(srpo_params, k, k);
  const Eigen::MatrixXd pit_m = pit_improver();
  out.reference_win_rate = self_improve_detail::revision_win_rate(p, sft, 1);
  out.srpo_win_rate = self_improve_detail::revision_win_rate(p, plus, 1);
  out.pit_win_rate = self_improve_detail::revision_win_rate(p, pit_m, 1);
  out.generative_win_rate = row.generative_win_rate;
  for (Index rounds = 1; rounds <= config.revisions; ++rounds) {
    out.reference_revisions.push_back(self_improve_detail::revision_win_rate(p, sft, rounds));
    out.srpo_revisions.push_back(self_improve_detail::revision_win_rate(p, plus, rounds));
    out.pit_revisions.push_back(self_improve_detail::revision_win_rate(p, pit_m, rounds));
  }
  return out;
}

}  // namespace polo::examples
