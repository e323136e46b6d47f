#pragma once
// What a component must offer. Every shipped component is checked against its concept with a
// static_assert next to it.

#include <concepts>
#include <random>

#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// A model whose parameters live in one flat vector with a gradient vector of the same size.
/// `backward` calls accumulate into `gradients()`; `zero_grad()` clears them.
template <class M>
concept Parametric = requires(M& m, const M& cm) {
  typename M::Scalar;
  { cm.num_parameters() } -> std::convertible_to<Index>;
  { m.parameters() } -> std::same_as<Vector<typename M::Scalar>&>;
  { m.gradients() } -> std::same_as<Vector<typename M::Scalar>&>;
  m.zero_grad();
};

/// Updates a flat parameter vector in place from its gradient (a descent step).
template <class O, class Scalar = double>
concept Optimizer = requires(O& opt, Vector<Scalar>& params, const Vector<Scalar>& grads,
                             double lr) {
  opt.step(params, grads);
  { opt.learning_rate() } -> std::convertible_to<double>;
  opt.set_learning_rate(lr);
};

/// What an environment returns from `step`.
template <class Observation>
struct StepResult {
  Observation observation;  ///< the next observation (the final one when the episode ended)
  double reward = 0.0;
  bool terminated = false;  ///< a terminal state: no bootstrap
  bool truncated = false;   ///< a time limit: bootstrap from the final observation's value
};

/// An episodic environment. `reset` takes the generator that randomizes the initial state.
template <class E>
concept Environment = requires(E& env, Rng& gen, const typename E::Action& action) {
  typename E::Observation;
  typename E::Action;
  { env.reset(gen) } -> std::convertible_to<typename E::Observation>;
  { env.step(action) } -> std::convertible_to<StepResult<typename E::Observation>>;
};

/// Chooses an action for an observation, drawing any randomness from the generator.
template <class P, class Observation>
concept Policy = requires(P& policy, const Observation& obs, Rng& gen) {
  policy.act(obs, gen);
};

/// A token-level loss: called on its batch, returns a result with the value, the gradient with
/// respect to the `[B, T]` log-probs and typed metrics.
template <class L, class Batch>
concept TokenLoss = requires(const L& loss, const Batch& batch) {
  { loss(batch).value } -> std::convertible_to<double>;
  loss(batch).grad_logp;
  loss(batch).metrics;
};

/// A pairwise preference loss: called on its batch of per-sequence log-probs, returns a result with
/// the value, the gradients with respect to the policy's chosen and rejected log-probs `[B]` and
/// typed metrics.
template <class L, class Batch>
concept PreferenceLoss = requires(const L& loss, const Batch& batch) {
  { loss(batch).value } -> std::convertible_to<double>;
  loss(batch).grad_chosen_logp;
  loss(batch).grad_rejected_logp;
  loss(batch).metrics;
};

}  // namespace polo
