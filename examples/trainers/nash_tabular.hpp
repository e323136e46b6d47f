#pragma once
// Tabular preference games for examples/nash_preferences.cpp and its smoke test: one prompt, K
// responses, a softmax policy over them, and a preference matrix with a cyclic part that no
// Bradley-Terry model explains. DNO and INPO iterate towards its von Neumann winner; DPO on
// offline pairs settles on a Bradley-Terry fit.
//
// Each DNO / INPO iteration t minimizes the library loss over a batch of response pairs drawn
// from pi_t with Adam, starting from pi_t (as the papers do with an LLM), and the minimizer
// becomes pi_{t+1}. A batch is K (K - 1) ordered pairs with weights: the empirical frequencies
// of `pairs_per_iteration` sampled pairs and labels, or (pairs_per_iteration = 0) their exact
// expectation under pi_t and P.

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/nn/optim.hpp"
#include "polo/nn/schedule.hpp"
#include "polo/preference/dno.hpp"
#include "polo/preference/dpo.hpp"
#include "polo/preference/inpo.hpp"
#include "polo/preference/nash.hpp"

namespace polo::examples {

/// The example's 5 x 5 preference matrix: P = sigmoid(r_i - r_j + C_ij) with Bradley-Terry
/// scores r and a skew-symmetric cycle C on responses 0 > 1 > 2 > 0 of uneven strength, so the
/// Nash policy mixes the three cyclic responses unevenly and gives 3 and 4 nothing.
inline Eigen::MatrixXd cyclic_preferences() {
  const double r[] = {0.6, 0.4, 0.5, 0.2, -0.4};
  Eigen::MatrixXd c = Eigen::MatrixXd::Zero(5, 5);
  c(0, 1) = 2.0;
  c(1, 2) = 1.5;
  c(2, 0) = 2.5;
  c -= Eigen::MatrixXd(c.transpose());
  Eigen::MatrixXd p(5, 5);
  for (Index i = 0; i < 5; ++i) {
    for (Index j = 0; j < 5; ++j)
      p(i, j) = i == j ? 0.5 : sigmoid(r[i] - r[j] + c(i, j));
  }
  return p;
}

struct NashConfig {
  Index iterations = 200;
  /// Pairs drawn from pi_t per iteration (0: the exact expectation over pairs and labels).
  Index pairs_per_iteration = 0;
  Index inner_steps = 300;     ///< Adam steps per iteration
  double learning_rate = 0.1;  ///< Adam's, decayed linearly to 0 within each iteration
  double dno_eta = 1.0;
  double inpo_eta = 1.0;
  double inpo_tau = 0.1;         ///< tau_t = inpo_tau / (1 + t / inpo_tau_decay)
  double inpo_tau_decay = 50.0;  ///< iterations for tau to halve (0: fixed tau)
  double fixed_tau = 0.1;        ///< the comparison INPO run with a constant tau
  double dpo_beta = 0.1;
  Index dpo_pairs = 2000;  ///< offline pairs drawn from pi_ref, labelled by P
  std::uint64_t seed = 1;

  [[nodiscard]] double tau_at(Index t) const {
    return inpo_tau_decay > 0.0 ? inpo_tau / (1.0 + static_cast<double>(t) / inpo_tau_decay)
                                : inpo_tau;
  }
};

/// One row of the log: exploitability of each method's policy after iteration `iteration`.
struct NashIterationLog {
  Index iteration = 0;
  double dno = 0.0;       ///< DNO's averaged iterate (Algorithm 1's output)
  double dno_last = 0.0;  ///< DNO's last iterate (cycles)
  double inpo = 0.0;      ///< INPO with the decaying tau
  double inpo_fixed_tau = 0.0;
  double dpo = 0.0;
  double tau = 0.0;  ///< INPO's tau this iteration
  double dno_loss = 0.0;
  double inpo_loss = 0.0;
  double dpo_loss = 0.0;
};

struct NashSummary {
  Eigen::MatrixXd preferences;
  NashSolution nash;
  Eigen::VectorXd dno;  ///< averaged iterate
  Eigen::VectorXd dno_last;
  Eigen::VectorXd inpo;
  Eigen::VectorXd inpo_fixed_tau;
  Eigen::VectorXd dpo;
  NashIterationLog final;
};

namespace nash_detail {  // not "detail": that would hide polo::detail inside polo::examples

// Element loops rather than Eigen's vectorized exp / log: GCC 12 with -march=native (AVX-512)
// reports a false maybe-uninitialized inside Eigen's packet math, and K is tiny.
inline Eigen::VectorXd softmax(const Vector<double>& logits) {
  Eigen::VectorXd p(logits.size());
  log_softmax(std::span<const double>(logits.data(), static_cast<std::size_t>(logits.size())),
              std::span<double>(p.data(), static_cast<std::size_t>(p.size())));
  for (Index i = 0; i < p.size(); ++i)
    p[i] = std::exp(p[i]);
  return p;
}

inline Eigen::VectorXd log_of(const Eigen::VectorXd& v) {
  Eigen::VectorXd out(v.size());
  for (Index i = 0; i < v.size(); ++i)
    out[i] = std::log(v[i]);
  return out;
}

/// K (K - 1) ordered pairs (a, b), a != b, with a weight each.
struct PairBatch {
  std::vector<Index> a, b;
  SeqArrayd weight;

  explicit PairBatch(Index k) {
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) {
        if (i == j) continue;
        a.push_back(i);
        b.push_back(j);
      }
    }
    weight = SeqArrayd::Zero(static_cast<Index>(a.size()));
  }
  [[nodiscard]] Index size() const { return static_cast<Index>(a.size()); }
  [[nodiscard]] Index index(Index i, Index j, Index k) const { return i * (k - 1) + j - (j > i); }

  /// Per-pair log-probs of responses a and b under `logp`.
  void gather(const Eigen::VectorXd& logp, SeqArrayd& la, SeqArrayd& lb) const {
    la.resize(size());
    lb.resize(size());
    for (Index i = 0; i < size(); ++i) {
      la[i] = logp[a[static_cast<std::size_t>(i)]];
      lb[i] = logp[b[static_cast<std::size_t>(i)]];
    }
  }

  /// d value / d logits from d value / d log pi(a_i) and d log pi(b_i):
  /// d log pi(y) / d logit_k = 1[y = k] - pi_k.
  [[nodiscard]] Vector<double> chain(const Eigen::VectorXd& pi, const SeqArrayd& ga,
                                     const SeqArrayd& gb) const {
    Vector<double> g = Vector<double>::Zero(pi.size());
    double total = 0.0;
    for (Index i = 0; i < size(); ++i) {
      g[a[static_cast<std::size_t>(i)]] += ga[i];
      g[b[static_cast<std::size_t>(i)]] += gb[i];
      total += ga[i] + gb[i];
    }
    g -= total * pi;
    return g;
  }
};

/// Weights of (winner a, loser b): drawn pairs from pi and Bernoulli labels from P, as
/// frequencies, or their expectation pi(a) pi(b) P(a > b).
inline void labelled_pair_weights(PairBatch& batch, const Eigen::MatrixXd& p,
                                  const Eigen::VectorXd& pi, Index draws, Rng& gen) {
  const Index k = p.rows();
  batch.weight.setZero();
  if (draws == 0) {
    for (Index i = 0; i < batch.size(); ++i) {
      const Index a = batch.a[static_cast<std::size_t>(i)];
      const Index b = batch.b[static_cast<std::size_t>(i)];
      batch.weight[i] = pi[a] * pi[b] * p(a, b);
    }
    return;
  }
  const std::span<const double> probs(pi.data(), static_cast<std::size_t>(k));
  for (Index n = 0; n < draws; ++n) {
    const Index y = categorical(gen, probs);
    const Index z = categorical(gen, probs);
    if (y == z) continue;  // a tie teaches nothing (and is not a pair)
    const bool y_wins = uniform(gen) < p(y, z);
    const Index w = y_wins ? y : z;
    const Index l = y_wins ? z : y;
    batch.weight[batch.index(w, l, k)] += 1.0 / static_cast<double>(draws);
  }
}

/// Weights of unordered pairs (a, b) drawn from pi (each kept in the order drawn), or pi(a) pi(b).
inline void pair_weights(PairBatch& batch, const Eigen::VectorXd& pi, Index draws, Rng& gen) {
  const Index k = pi.size();
  batch.weight.setZero();
  if (draws == 0) {
    for (Index i = 0; i < batch.size(); ++i)
      batch.weight[i] =
          pi[batch.a[static_cast<std::size_t>(i)]] * pi[batch.b[static_cast<std::size_t>(i)]];
    return;
  }
  const std::span<const double> probs(pi.data(), static_cast<std::size_t>(k));
  for (Index n = 0; n < draws; ++n) {
    const Index y = categorical(gen, probs);
    const Index z = categorical(gen, probs);
    if (y != z) batch.weight[batch.index(y, z, k)] += 1.0 / static_cast<double>(draws);
  }
}

/// Minimizes `loss_and_grad(logits, grad) -> value` from `logits` with Adam, the learning rate
/// decayed linearly to 0 so that the last steps settle; returns the final value.
template <class F>
double minimize(Vector<double>& logits, const NashConfig& config, F&& loss_and_grad) {
  Adam<double> adam(logits.size(), AdamOptions{.learning_rate = config.learning_rate});
  const LinearSchedule lr{config.learning_rate, 0.0, config.inner_steps};
  Vector<double> grad(logits.size());
  double value = 0.0;
  for (Index s = 0; s < config.inner_steps; ++s) {
    value = loss_and_grad(logits, grad);
    adam.set_learning_rate(lr(s));
    adam.step(logits, grad);
  }
  return value;
}

}  // namespace nash_detail

/// Runs DNO, INPO (decaying and fixed tau) and DPO side by side; `on_iteration` sees each
/// iteration's log row.
inline NashSummary run_nash_preferences(
    const NashConfig& config,
    const std::function<void(const NashIterationLog&)>& on_iteration = {}) {
  NashSummary out;
  out.preferences = cyclic_preferences();
  const Eigen::MatrixXd& p = out.preferences;
  const Index k = p.rows();
  out.nash = nash_policy(p);
  Rng gen(config.seed);

  const Eigen::VectorXd ref = Eigen::VectorXd::Constant(k, 1.0 / static_cast<double>(k));
  const Eigen::VectorXd ref_logp = nash_detail::log_of(ref);
  Vector<double> dno_logits = Vector<double>::Zero(k);
  Vector<double> inpo_logits = Vector<double>::Zero(k);
  Vector<double> fixed_logits = Vector<double>::Zero(k);
  Vector<double> dpo_logits = Vector<double>::Zero(k);
  Eigen::VectorXd dno_sum = Eigen::VectorXd::Zero(k);

  nash_detail::PairBatch batch(k);
  SeqArrayd la, lb, pa, pb, ra, rb, wa, wb;
  batch.gather(ref_logp, ra, rb);

  // DPO's offline data: pairs from pi_ref, labelled by P, drawn once.
  nash_detail::PairBatch dpo_batch(k);
  nash_detail::labelled_pair_weights(dpo_batch, p, ref, config.dpo_pairs, gen);
  const DPO dpo{.beta = config.dpo_beta};
  Adam<double> dpo_adam(k, AdamOptions{.learning_rate = config.learning_rate});

  // One INPO iteration from `logits` with this tau.
  auto inpo_step = [&](Vector<double>& logits, double tau) {
    const Eigen::VectorXd prev = nash_detail::softmax(logits);
    batch.gather(nash_detail::log_of(prev), pa, pb);
    nash_detail::labelled_pair_weights(batch, p, prev, config.pairs_per_iteration, gen);
    const INPO loss{.eta = config.inpo_eta, .tau = tau};
    return nash_detail::minimize(logits, config, [&](const Vector<double>& x, Vector<double>& g) {
      const Eigen::VectorXd pi = nash_detail::softmax(x);
      batch.gather(nash_detail::log_of(pi), la, lb);
      const auto r = loss({la, lb, ra, rb, pa, pb, batch.weight});
      g = batch.chain(pi, r.grad_chosen_logp, r.grad_rejected_logp);
      return r.value;
    });
  };

  for (Index t = 0; t < config.iterations; ++t) {
    NashIterationLog row;
    row.iteration = t + 1;

    // DNO, Algorithm 1: pairs from pi_t, soft targets from the oracle's win rates against pi_t.
    {
      const Eigen::VectorXd prev = nash_detail::softmax(dno_logits);
      dno_sum += prev;  // the average runs over pi_1 .. pi_T
      const Eigen::VectorXd rates = p * prev;
      batch.gather(nash_detail::log_of(prev), pa, pb);
      batch.gather(rates, wa, wb);
      nash_detail::pair_weights(batch, prev, config.pairs_per_iteration, gen);
      const DNO loss{.eta = config.dno_eta};
      row.dno_loss = nash_detail::minimize(
          dno_logits, config, [&](const Vector<double>& x, Vector<double>& g) {
            const Eigen::VectorXd pi = nash_detail::softmax(x);
            batch.gather(nash_detail::log_of(pi), la, lb);
            const auto r = loss({la, lb, pa, pb, {}, wa, wb, batch.weight});
            g = batch.chain(pi, r.grad_chosen_logp, r.grad_rejected_logp);
            return r.value;
          });
    }
    // INPO with the decaying tau and with the fixed one.
    row.tau = config.tau_at(t);
    row.inpo_loss = inpo_step(inpo_logits, row.tau);
    inpo_step(fixed_logits, config.fixed_tau);
    // DPO: more epochs on the same offline pairs.
    {
      const LinearSchedule lr{config.learning_rate, 0.0, config.inner_steps};
      Vector<double> g(k);
      for (Index s = 0; s < config.inner_steps; ++s) {
        const Eigen::VectorXd pi = nash_detail::softmax(dpo_logits);
        dpo_batch.gather(nash_detail::log_of(pi), la, lb);
        const auto r = dpo({la, lb, ra, rb, {}, {}, dpo_batch.weight});
        g = dpo_batch.chain(pi, r.grad_chosen_logp, r.grad_rejected_logp);
        row.dpo_loss = r.value;
        dpo_adam.set_learning_rate(lr(s));
        dpo_adam.step(dpo_logits, g);
      }
    }

    out.dno_last = nash_detail::softmax(dno_logits);
    out.dno = (dno_sum + out.dno_last) / static_cast<double>(t + 2);
    out.inpo = nash_detail::softmax(inpo_logits);
    out.inpo_fixed_tau = nash_detail::softmax(fixed_logits);
    out.dpo = nash_detail::softmax(dpo_logits);
    row.dno = exploitability(p, out.dno);
    row.dno_last = exploitability(p, out.dno_last);
    row.inpo = exploitability(p, out.inpo);
    row.inpo_fixed_tau = exploitability(p, out.inpo_fixed_tau);
    row.dpo = exploitability(p, out.dpo);
    out.final = row;
    if (on_iteration) on_iteration(row);
  }
  return out;
}

}  // namespace polo::examples
