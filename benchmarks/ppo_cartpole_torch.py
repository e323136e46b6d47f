#!/usr/bin/python3
"""PyTorch eager reference for polo's PPO CartPole benchmark.

Implements the CleanRL ``ppo.py`` default recipe (discrete PPO, 4 vector envs,
128-step rollouts, GAE, clipped surrogate + clipped value loss, entropy bonus,
global grad-norm clipping, linearly annealed Adam) on a numpy CartPole that
reproduces Gymnasium's CartPole-v1 dynamics, batched over the envs.

Launch with Debian's interpreter (it has python3-torch and python3-numpy):

    /usr/bin/python3 benchmarks/ppo_cartpole_torch.py --steps 500000 --seed 1 \
        --threads 1 --json out.json

The JSON result holds steps, wall_seconds, steps_per_second,
final_mean_return, steps_to_solve, seed, torch_version and threads.
"""

import argparse
import collections
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical

# ---------------------------------------------------------------- recipe --

NUM_ENVS = 4
NUM_STEPS = 128
BATCH_SIZE = NUM_ENVS * NUM_STEPS  # 512
NUM_MINIBATCHES = 4
MINIBATCH_SIZE = BATCH_SIZE // NUM_MINIBATCHES  # 128
UPDATE_EPOCHS = 4
LEARNING_RATE = 2.5e-4
ADAM_EPS = 1e-5
GAMMA = 0.99
GAE_LAMBDA = 0.95
CLIP_COEF = 0.2
ENT_COEF = 0.01
VF_COEF = 0.5
MAX_GRAD_NORM = 0.5

SOLVE_WINDOW = 20
SOLVE_THRESHOLD = 475.0
PROGRESS_EVERY = 10  # updates


# -------------------------------------------------------------- cartpole --


class VecCartPole:
    """NUM_ENVS copies of Gymnasium CartPole-v1, stepped as numpy arrays.

    State is kept in float64 (as Gymnasium does); observations are float32.
    Episodes end on termination (pole or cart out of bounds) or truncation
    (500 steps). A finished env is reset immediately: the observation returned
    for it is the first observation of its new episode, and the last
    observation of the finished episode is returned separately.
    """

    GRAVITY = 9.8
    MASSCART = 1.0
    MASSPOLE = 0.1
    TOTAL_MASS = MASSPOLE + MASSCART
    LENGTH = 0.5  # half the pole's length
    POLEMASS_LENGTH = MASSPOLE * LENGTH
    FORCE_MAG = 10.0
    TAU = 0.02
    THETA_THRESHOLD = 12 * 2 * math.pi / 360
    X_THRESHOLD = 2.4
    MAX_EPISODE_STEPS = 500

    def __init__(self, num_envs, rng):
        self.num_envs = num_envs
        self.rng = rng
        self.state = np.zeros((num_envs, 4), dtype=np.float64)
        self.elapsed = np.zeros(num_envs, dtype=np.int64)

    def _reset_rows(self, rows):
        self.state[rows] = self.rng.uniform(-0.05, 0.05, size=(len(rows), 4))
        self.elapsed[rows] = 0

    def reset(self):
        self._reset_rows(np.arange(self.num_envs))
        return self.state.astype(np.float32)

    def step(self, actions):
        """Advance every env by one step.

        Returns (obs, reward, terminated, truncated, final_obs): obs already
        holds the reset observation for envs whose episode ended; final_obs
        holds the pre-reset observation of every env (only meaningful where
        terminated | truncated).
        """
        s = self.state
        x, x_dot, theta, theta_dot = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
        force = np.where(actions == 1, self.FORCE_MAG, -self.FORCE_MAG)
        costheta = np.cos(theta)
        sintheta = np.sin(theta)

        temp = (force + self.POLEMASS_LENGTH * theta_dot**2 * sintheta) / self.TOTAL_MASS
        thetaacc = (self.GRAVITY * sintheta - costheta * temp) / (
            self.LENGTH * (4.0 / 3.0 - self.MASSPOLE * costheta**2 / self.TOTAL_MASS)
        )
        xacc = temp - self.POLEMASS_LENGTH * thetaacc * costheta / self.TOTAL_MASS

        # Explicit Euler, same update order as Gymnasium's "euler" integrator
        # (positions use the old velocities). x etc. are views into s, so
        # these update the state in place.
        x += self.TAU * x_dot
        x_dot += self.TAU * xacc
        theta += self.TAU * theta_dot
        theta_dot += self.TAU * thetaacc
        self.elapsed += 1

        terminated = (
            (x < -self.X_THRESHOLD)
            | (x > self.X_THRESHOLD)
            | (theta < -self.THETA_THRESHOLD)
            | (theta > self.THETA_THRESHOLD)
        )
        # TimeLimit semantics: truncated once 500 steps have elapsed, even if
        # the same step also terminated (termination then wins for bootstrapping).
        truncated = self.elapsed >= self.MAX_EPISODE_STEPS
        reward = np.ones(self.num_envs, dtype=np.float32)

        final_obs = self.state.astype(np.float32)
        done = terminated | truncated
        if done.any():
            self._reset_rows(np.flatnonzero(done))
            obs = self.state.astype(np.float32)
        else:
            obs = final_obs
        return obs, reward, terminated, truncated, final_obs


# ----------------------------------------------------------------- agent --


def layer_init(layer, gain):
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim=4, num_actions=2, hidden=64):
        super().__init__()
        root2 = math.sqrt(2.0)
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden), root2),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden), root2),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), 1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden), root2),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden), root2),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, num_actions), 0.01),
        )

    def value(self, obs):
        return self.critic(obs).squeeze(-1)

    def act(self, obs):
        """Sample actions; returns (action, log_prob, value)."""
        dist = Categorical(logits=self.actor(obs), validate_args=False)
        action = dist.sample()
        return action, dist.log_prob(action), self.value(obs)

    def evaluate(self, obs, action):
        """Returns (log_prob(action), entropy, value) under the current policy."""
        dist = Categorical(logits=self.actor(obs), validate_args=False)
        return dist.log_prob(action), dist.entropy(), self.value(obs)


# -------------------------------------------------------------- training --


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=500_000, help="total env steps (default 500000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--json", type=str, default=None, help="write the result JSON here")
    p.add_argument("--quiet", action="store_true", help="no periodic progress lines")
    return p.parse_args(argv)


def train(args):
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    num_updates = args.steps // BATCH_SIZE
    if num_updates < 1:
        sys.exit(f"--steps must be at least one batch ({BATCH_SIZE})")

    envs = VecCartPole(NUM_ENVS, rng)
    agent = Agent()
    optimizer = torch.optim.Adam(agent.parameters(), lr=LEARNING_RATE, eps=ADAM_EPS)

    obs_buf = torch.zeros((NUM_STEPS, NUM_ENVS, 4))
    actions_buf = torch.zeros((NUM_STEPS, NUM_ENVS), dtype=torch.long)
    logprobs_buf = torch.zeros((NUM_STEPS, NUM_ENVS))
    values_buf = torch.zeros((NUM_STEPS, NUM_ENVS))
    rewards_buf = torch.zeros((NUM_STEPS, NUM_ENVS))
    # terminated: no bootstrap; ended (terminated | truncated): GAE does not
    # flow across the boundary; trunc_values: V(final_obs) where truncated.
    terminated_buf = torch.zeros((NUM_STEPS, NUM_ENVS))
    ended_buf = torch.zeros((NUM_STEPS, NUM_ENVS))
    trunc_values_buf = torch.zeros((NUM_STEPS, NUM_ENVS))

    recent_returns = collections.deque(maxlen=SOLVE_WINDOW)
    ep_return = np.zeros(NUM_ENVS, dtype=np.float64)
    episodes = 0
    steps_to_solve = None
    global_step = 0

    next_obs = torch.from_numpy(envs.reset())

    for update in range(1, num_updates + 1):
        frac = 1.0 - (update - 1.0) / num_updates
        optimizer.param_groups[0]["lr"] = frac * LEARNING_RATE

        # ---- rollout
        with torch.no_grad():
            for t in range(NUM_STEPS):
                global_step += NUM_ENVS
                obs_buf[t] = next_obs
                action, logprob, value = agent.act(next_obs)
                actions_buf[t] = action
                logprobs_buf[t] = logprob
                values_buf[t] = value

                obs_np, reward, terminated, truncated, final_obs = envs.step(action.numpy())
                rewards_buf[t] = torch.from_numpy(reward)
                terminated_buf[t] = torch.from_numpy(terminated.astype(np.float32))
                ended = terminated | truncated
                ended_buf[t] = torch.from_numpy(ended.astype(np.float32))
                trunc_values_buf[t] = 0.0
                bootstrap = truncated & ~terminated
                if bootstrap.any():
                    rows = np.flatnonzero(bootstrap)
                    trunc_values_buf[t, rows] = agent.value(torch.from_numpy(final_obs[rows]))
                next_obs = torch.from_numpy(obs_np)

                ep_return += reward
                if ended.any():
                    for i in np.flatnonzero(ended):
                        recent_returns.append(ep_return[i])
                        ep_return[i] = 0.0
                        episodes += 1
                    if (
                        steps_to_solve is None
                        and len(recent_returns) == SOLVE_WINDOW
                        and sum(recent_returns) / SOLVE_WINDOW >= SOLVE_THRESHOLD
                    ):
                        steps_to_solve = global_step

            # ---- GAE
            next_value = agent.value(next_obs)
            advantages = torch.zeros((NUM_STEPS, NUM_ENVS))
            lastgaelam = torch.zeros(NUM_ENVS)
            for t in reversed(range(NUM_STEPS)):
                following = next_value if t == NUM_STEPS - 1 else values_buf[t + 1]
                # Episode ended at t: the successor value is V(final_obs) if
                # truncated, 0 if terminated; otherwise it is V(s_{t+1}).
                succ = torch.where(ended_buf[t] > 0, trunc_values_buf[t], following)
                succ = succ * (1.0 - terminated_buf[t])
                delta = rewards_buf[t] + GAMMA * succ - values_buf[t]
                lastgaelam = delta + GAMMA * GAE_LAMBDA * (1.0 - ended_buf[t]) * lastgaelam
                advantages[t] = lastgaelam
            returns = advantages + values_buf

        # ---- optimize
        b_obs = obs_buf.reshape(-1, 4)
        b_actions = actions_buf.reshape(-1)
        b_logprobs = logprobs_buf.reshape(-1)
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values_buf.reshape(-1)

        for _epoch in range(UPDATE_EPOCHS):
            perm = torch.from_numpy(np.random.permutation(BATCH_SIZE))
            for start in range(0, BATCH_SIZE, MINIBATCH_SIZE):
                mb = perm[start : start + MINIBATCH_SIZE]
                newlogprob, entropy, newvalue = agent.evaluate(b_obs[mb], b_actions[mb])
                ratio = (newlogprob - b_logprobs[mb]).exp()

                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)

                pg_loss = torch.max(
                    -mb_adv * ratio,
                    -mb_adv * torch.clamp(ratio, 1.0 - CLIP_COEF, 1.0 + CLIP_COEF),
                ).mean()

                mb_returns = b_returns[mb]
                mb_values = b_values[mb]
                v_unclipped = (newvalue - mb_returns) ** 2
                v_clipped = mb_values + torch.clamp(newvalue - mb_values, -CLIP_COEF, CLIP_COEF)
                v_clipped = (v_clipped - mb_returns) ** 2
                v_loss = 0.5 * torch.max(v_unclipped, v_clipped).mean()

                loss = pg_loss - ENT_COEF * entropy.mean() + VF_COEF * v_loss

                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
                optimizer.step()

        if not args.quiet and (update % PROGRESS_EVERY == 0 or update == num_updates):
            elapsed = time.perf_counter() - t_start
            mean_ret = sum(recent_returns) / len(recent_returns) if recent_returns else float("nan")
            print(
                f"update {update}/{num_updates} step {global_step} "
                f"mean_return(last {len(recent_returns)}) {mean_ret:.1f} "
                f"episodes {episodes} sps {global_step / elapsed:.0f}",
                flush=True,
            )

    wall = time.perf_counter() - t_start
    final_mean = sum(recent_returns) / len(recent_returns) if recent_returns else None
    return {
        "steps": global_step,
        "wall_seconds": wall,
        "steps_per_second": global_step / wall,
        "final_mean_return": final_mean,
        "steps_to_solve": steps_to_solve,
        "seed": args.seed,
        "torch_version": torch.__version__,
        "threads": args.threads,
    }


def main(argv=None):
    args = parse_args(argv)
    result = train(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    final = result["final_mean_return"]
    print(
        f"ppo_cartpole_torch: seed {result['seed']} steps {result['steps']} "
        f"wall {result['wall_seconds']:.1f}s sps {result['steps_per_second']:.0f} "
        f"final_mean_return {'n/a' if final is None else f'{final:.1f}'} "
        f"steps_to_solve {result['steps_to_solve']} "
        f"(torch {result['torch_version']}, threads {result['threads']})"
    )


if __name__ == "__main__":
    main()
