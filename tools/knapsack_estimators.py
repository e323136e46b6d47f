#!/usr/bin/env python3
"""Offline: how much of the knapsack bound do online success-rate estimates keep?

Reads the per-visit CSV of tools/knapsack_bound.sh (a uniform run: step, prompt, exact rate under
the sampling policy, successes of its 8 rollouts) and, at every step, allocates the step's 512
rollouts over its 64 prompts from estimates built only from earlier visits, maximizing the
expected number of mixed groups (min 2, max 32, greedy; prompts without history get 8). Each
allocation is scored with the exact rates of that step: sum_i P_mixed(N_i, p_i), against 8 each.

    python3 tools/knapsack_estimators.py /tmp/knap/rates1.csv
"""

import collections
import heapq
import math
import sys

TOTAL, PER_STEP, UNIFORM, LO, HI = 512, 64, 8, 2, 32


def p_mixed(n, p):
    return 1.0 - p**n - (1.0 - p) ** n


def beta_moment(a, b, n):
    """E[p^n] for p ~ Beta(a, b)."""
    m = 1.0
    for k in range(n):
        m *= (a + k) / (a + b + k)
    return m


def allocate(gain_tables, fixed):
    """Greedy on decreasing marginal gains; gain_tables[i][n] = value of n rollouts."""
    sizes = [UNIFORM if f else LO for f in fixed]
    left = TOTAL - sum(sizes)
    heap = [(-(t[LO + 1] - t[LO]), i) for i, t in enumerate(gain_tables) if t is not None]
    heapq.heapify(heap)
    while left > 0 and heap:
        _, i = heapq.heappop(heap)
        sizes[i] += 1
        left -= 1
        n, t = sizes[i], gain_tables[i]
        if n < HI:
            heapq.heappush(heap, (-(t[n + 1] - t[n]), i))
    return sizes


def table_plugin(p):
    return [p_mixed(n, p) for n in range(HI + 1)]


def table_posterior(a, b):
    return [1.0 - beta_moment(a, b, n) - beta_moment(b, a, n) for n in range(HI + 1)]


def main(path):
    steps = collections.defaultdict(list)
    with open(path) as f:
        next(f)
        for line in f:
            s, prompt, rate, succ, n = line.strip().split(",")
            steps[int(s)].append((int(prompt), float(rate), int(succ), int(n)))
    history = collections.defaultdict(list)  # prompt -> [(step, successes, rollouts, rate)]
    estimators = {
        "oracle (exact rates)": None,
        "exact rate at the last visit (stale, no noise)": ("stale", 0, 0.0),
        "plain, last 16 rewards": ("plain", 16, 0.0),
        "plain, last visit": ("plain", 8, 0.0),
        "Beta(1,1) mean, last 16": ("mean", 16, 1.0),
        "Beta(1,1) mean, last visit": ("mean", 8, 1.0),
        "Beta(.5,.5) mean, last 16": ("mean", 16, 0.5),
        "Beta(1,1) posterior P_mixed, last 16": ("post", 16, 1.0),
        "Beta(1,1) posterior P_mixed, last visit": ("post", 8, 1.0),
        "Beta(.5,.5) posterior P_mixed, last visit": ("post", 8, 0.5),
    }
    score = {k: 0.0 for k in estimators}
    recent = {k: 0.0 for k in estimators}  # steps whose prompts were all seen <= 10 steps ago
    uniform = uniform_recent = 0.0
    prompts = prompts_recent = 0
    for s in sorted(steps):
        batch = steps[s]
        rates = [r for _, r, _, _ in batch]
        step_uniform = sum(p_mixed(UNIFORM, p) for p in rates)
        uniform += step_uniform
        prompts += len(batch)
        is_recent = all(history[q] and s - history[q][-1][0] <= 10 for q, _, _, _ in batch)
        if is_recent:
            uniform_recent += step_uniform
            prompts_recent += len(batch)
        for name, spec in estimators.items():
            tables, fixed = [], []
            for prompt, rate, _, _ in batch:
                if spec is None:
                    tables.append(table_plugin(rate))
                    fixed.append(False)
                    continue
                kind, memory, prior = spec
                if kind == "stale":
                    last = history[prompt]
                    tables.append(table_plugin(last[-1][3]) if last else None)
                    fixed.append(not last)
                    continue
                rewards = []
                for _, succ, n, _ in reversed(history[prompt]):
                    rewards = [1] * succ + [0] * (n - succ) + rewards
                    if len(rewards) >= memory:
                        break
                rewards = rewards[-memory:] if len(rewards) > memory else rewards
                if len(rewards) < 8:
                    tables.append(None)
                    fixed.append(True)
                    continue
                k, m = sum(rewards), len(rewards)
                if kind == "plain":
                    tables.append(table_plugin(k / m))
                elif kind == "mean":
                    tables.append(table_plugin((k + prior) / (m + 2 * prior)))
                else:
                    tables.append(table_posterior(k + prior, m - k + prior))
                fixed.append(False)
            sizes = allocate(tables, fixed)
            assert sum(sizes) == TOTAL
            mixed = sum(p_mixed(n, p) for n, p in zip(sizes, rates))
            score[name] += mixed
            if is_recent:
                recent[name] += mixed
        for prompt, rate, succ, n in batch:
            history[prompt].append((s, succ, n, rate))
    print(f"{path}: {prompts} prompts, uniform 8 each: {uniform / prompts:.4f}; "
          f"{prompts_recent} of them in steps whose prompts were all seen <= 10 steps before: "
          f"{uniform_recent / prompts_recent:.4f}")
    print(f"  {'estimate':47s} {'all steps':>16s} {'recent steps':>16s}")
    for name, v in score.items():
        print(f"  {name:47s} {v / prompts:.4f} {100 * (v / uniform - 1):+5.1f}%"
              f"    {recent[name] / prompts_recent:.4f} {100 * (recent[name] / uniform_recent - 1):+5.1f}%")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        main(p)
