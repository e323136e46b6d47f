#!/usr/bin/python3
"""PyTorch eager reference for polo's Plackett-Luce benchmark.

For Q queries of n items (float32 scores, graded labels 0-4), one thread:

* pgrank: sample K top-k rankings per query with the Gumbel trick (torch.topk
  over scores + Gumbel noise), nDCG@k utilities, the leave-one-out baseline,
  and the PG-Rank score gradient by autograd through the REINFORCE surrogate
  -(1/K) sum_i (U_i - b_i) log pi(y_i), batch-mean over queries.
* plrank: the same samples, and the PL-Rank-2 gradient of expected nDCG@k
  computed in closed form (the PL-Rank-3 running sums), no autograd.

Everything is batched over all queries and samples at once ([Q, K, n]
tensors); there is no Python loop over queries. Launch with Debian's
interpreter:

    /usr/bin/python3 benchmarks/plackett_luce_torch.py --queries 256 --items 100 \
        --samples 16 --top-k 10 --repeats 15 --json out.json

The JSON holds, per case, the median seconds and queries_per_second, plus
torch_version and threads.
"""

import argparse
import json
import statistics
import sys
import time

import torch


def make_problem(queries, items, seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(queries, items, generator=g)
    u = torch.rand(queries, items, generator=g)
    # About the grade shares of polo's synthetic LETOR set: 50% 0, 25% 1, 15% 2, 7% 3, 3% 4.
    rel = (u > 0.50).float() + (u > 0.75).float() + (u > 0.90).float() + (u > 0.97).float()
    return scores, rel


def sample_topk(scores, samples, k):
    q, n = scores.shape
    u = torch.rand(q, samples, n).clamp_(1e-8, 1.0 - 1e-8)
    gumbel = -torch.log(-torch.log(u))
    return torch.topk(scores.unsqueeze(1) + gumbel, k, dim=2).indices  # [Q, K, k]


def ndcg_parts(rel, k):
    gains = torch.pow(2.0, rel) - 1.0  # [Q, n]
    weights = 1.0 / torch.log2(torch.arange(k, dtype=torch.float32) + 2.0)  # [k]
    ideal = (torch.topk(gains, k, dim=1).values * weights).sum(1)  # [Q]
    rho = gains / torch.where(ideal > 0, ideal, torch.ones_like(ideal)).unsqueeze(1)
    rho = torch.where(ideal.unsqueeze(1) > 0, rho, torch.zeros_like(rho))
    return rho, weights


def denominators(e, idx):
    """D_k = sum of e over the items not placed before position k, [Q, K, k]."""
    e_y = torch.gather(e.unsqueeze(1).expand(-1, idx.shape[1], -1), 2, idx)
    total = e.sum(1).view(-1, 1, 1)
    return total - torch.cumsum(e_y, 2) + e_y, e_y


def pgrank_grad(scores, rel, samples, k):
    idx = sample_topk(scores, samples, k)
    rho, weights = ndcg_parts(rel, k)
    utility = (torch.gather(rho.unsqueeze(1).expand(-1, samples, -1), 2, idx) * weights).sum(2)
    baseline = (utility.sum(1, keepdim=True) - utility) / (samples - 1)
    s = scores.detach().requires_grad_(True)
    shifted = s - s.max(1, keepdim=True).values.detach()
    d, _ = denominators(torch.exp(shifted), idx)
    s_y = torch.gather(shifted.unsqueeze(1).expand(-1, samples, -1), 2, idx)
    logp = (s_y - torch.log(d)).sum(2)  # [Q, K]
    loss = -((utility - baseline) * logp).mean(1).mean()
    (grad,) = torch.autograd.grad(loss, s)
    return grad


def plrank_grad(scores, rel, samples, k):
    idx = sample_topk(scores, samples, k)
    rho, weights = ndcg_parts(rel, k)
    e = torch.exp(scores - scores.max(1, keepdim=True).values)
    d, e_y = denominators(e, idx)
    rho_k = rho.unsqueeze(1).expand(-1, samples, -1)
    rho_y = torch.gather(rho_k, 2, idx)
    reward = rho_y * weights  # [Q, K, k]
    rtg = torch.flip(torch.cumsum(torch.flip(reward, [2]), 2), [2])
    rtg_next = torch.cat([rtg[:, :, 1:], torch.zeros_like(rtg[:, :, :1])], 2)
    cw = torch.cumsum(weights / d, 2)
    cr = torch.cumsum(rtg / d, 2)
    base = e.unsqueeze(1) * (rho_k * cw[:, :, -1:] - cr[:, :, -1:])  # unplaced items, [Q, K, n]
    placed = rtg_next + e_y * (rho_y * cw - cr)
    g = base.scatter_add(2, idx, placed - torch.gather(base, 2, idx))
    return -g.mean(1) / scores.shape[0]  # loss gradient, batch mean


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=256)
    p.add_argument("--items", type=int, default=100)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", default="")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    scores, rel = make_problem(a.queries, a.items, a.seed)
    out = {"torch_version": torch.__version__, "threads": a.threads, "cases": {}}
    for name, fn in (("pgrank", pgrank_grad), ("plrank", plrank_grad)):
        fn(scores, rel, a.samples, a.top_k)  # warm-up
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            grad = fn(scores, rel, a.samples, a.top_k)
            times.append(time.perf_counter() - t0)
        assert torch.isfinite(grad).all()
        med = statistics.median(times)
        out["cases"][name] = {"seconds": med, "queries_per_second": a.queries / med}
        print(f"torch {name}: {med * 1e3:.2f} ms ({a.queries / med:.0f} queries/s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
