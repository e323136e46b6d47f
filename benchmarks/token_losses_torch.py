#!/usr/bin/python3
"""PyTorch eager reference for polo's token-loss benchmark.

Computes TRL's GRPOTrainer._compute_loss formula (every loss_type, token or
sequence importance sampling, optional k3 KL term) and the PPO clipped
surrogate on batched [B, T] float32 tensors, forward plus autograd backward to
the log-probs, with the metrics TRL logs beside the loss. No Python loop over
rows or tokens.

The inputs are the ones the C++ benchmark times, read from raw files in
--data (logp, old_logp, ref_logp, token_advantages as float32 [B, T],
advantages as float32 [B], mask as uint8 [B, T]); --cases names a JSON list of
case specifications. Launched by build/benchmarks/token_losses:

    /usr/bin/python3 benchmarks/token_losses_torch.py --data DIR --rows 512 \
        --cols 512 --cases cases.json --repeats 21 --threads 1 --json out.json

The JSON result holds torch_version, threads and, per case, name, seconds
(median of the repeats) and value (the loss). With --write-grads one more,
untimed call in float64 writes its gradient to DIR/<name>.grad.f32 (as
float32) and its loss as value_float64, for the C++ side to compare.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch


def load(data, name, shape, dtype=np.float32):
    array = np.fromfile(os.path.join(data, name), dtype=dtype)
    if array.size != int(np.prod(shape)):
        raise SystemExit(f"{name}: expected {np.prod(shape)} elements, found {array.size}")
    return torch.from_numpy(array.reshape(shape))


def masked_batch_mean(x, mask):
    """TRL's metric mean: over valid tokens, or over sequences at sequence level ([B, 1])."""
    if x.shape[1] == 1:
        return x.mean()
    return (x * mask).sum() / mask.sum()


def grpo_loss(spec, logp, old, ref, adv, mask):
    """TRL GRPOTrainer._compute_loss on [B, T] tensors; returns (loss, metrics)."""
    beta = spec["beta"]
    eps_low = spec["epsilon_low"]
    eps_high = spec["epsilon_high"]
    loss_type = spec["loss_type"]
    advantages = adv.unsqueeze(1)
    if beta != 0.0:
        per_token_kl = torch.exp(ref - logp) - (ref - logp) - 1
    log_ratio = logp - old
    if spec["level"] == "token":
        log_importance_weights = log_ratio
    else:
        log_importance_weights = (log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        log_importance_weights = log_importance_weights.unsqueeze(-1)
    coef_1 = torch.exp(log_importance_weights)

    if loss_type == "cispo":
        clamped_ratios = torch.clamp(coef_1, max=eps_high).detach()
        per_token_loss = -clamped_ratios * advantages * logp
    elif loss_type == "sapo":
        # In coef_1's dtype (torch.where with Python scalars would make it float32).
        tau = torch.full_like(advantages, spec["sapo_temperature_neg"]).masked_fill(
            advantages > 0, spec["sapo_temperature_pos"])
        per_token_loss = -(torch.sigmoid(tau * (coef_1 - 1)) * 4 / tau) * advantages
    else:
        coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
        per_token_loss1 = coef_1 * advantages
        per_token_loss2 = coef_2 * advantages
        per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl

    rows, cols = logp.shape
    if loss_type in ("grpo", "sapo"):
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (rows * spec["max_completion_length"])
    else:  # dapo, cispo: num_items_in_batch (here this batch's count), not divided by S
        loss = (per_token_loss * mask).sum() / mask.sum()

    with torch.no_grad():
        metrics = {}
        if beta != 0.0:
            metrics["kl"] = masked_batch_mean(per_token_kl, mask)
        if loss_type == "cispo":
            is_clipped = (coef_1 > eps_high) & (advantages > 0)
            metrics["cispo_clip_ratio"] = masked_batch_mean(is_clipped.float(), mask)
        else:
            is_low = (coef_1 < 1 - eps_low) & (advantages < 0)
            is_high = (coef_1 > 1 + eps_high) & (advantages > 0)
            metrics["low_clip"] = masked_batch_mean(is_low.float(), mask)
            metrics["high_clip"] = masked_batch_mean(is_high.float(), mask)
            metrics["clip_ratio"] = masked_batch_mean((is_low | is_high).float(), mask)
    return loss, metrics


def ppo_loss(spec, logp, old, tadv, mask):
    """The PPO clipped surrogate (TRL PPOTrainer / CleanRL) with a token mean over valid tokens."""
    eps_low = spec["epsilon_low"]
    eps_high = spec["epsilon_high"]
    log_ratio = logp - old
    ratio = torch.exp(log_ratio)
    pg_losses = -tadv * ratio
    pg_losses2 = -tadv * torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    pg_loss_max = torch.max(pg_losses, pg_losses2)
    loss = (pg_loss_max * mask).sum() / mask.sum()
    with torch.no_grad():
        n = mask.sum()
        metrics = {
            "clipfrac": ((pg_losses2 > pg_losses).float() * mask).sum() / n,
            "approx_kl": (((ratio - 1) - log_ratio) * mask).sum() / n,
            "ratio": (ratio * mask).sum() / n,
        }
    return loss, metrics


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="directory with the raw input files")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--cols", type=int, required=True)
    p.add_argument("--cases", required=True, help="JSON file: list of case specifications")
    p.add_argument("--repeats", type=int, default=21, help="timed calls per case (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per case")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--write-grads", action="store_true", help="write DIR/<name>.grad.f32")
    p.add_argument("--json", type=str, default=None, help="write the result JSON here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    shape = (args.rows, args.cols)
    logp_data = load(args.data, "logp.f32", shape)
    old = load(args.data, "old_logp.f32", shape)
    ref = load(args.data, "ref_logp.f32", shape)
    tadv = load(args.data, "token_advantages.f32", shape)
    adv = load(args.data, "advantages.f32", (args.rows,))
    # TRL multiplies by completion_mask (an integer tensor promoted to float): a float mask.
    mask = load(args.data, "mask.u8", shape, np.uint8).to(torch.float32)
    with open(args.cases) as f:
        specs = json.load(f)

    def step(spec, logp, old, ref, tadv, adv, mask):
        logp.grad = None
        if spec["kind"] == "ppo":
            loss, metrics = ppo_loss(spec, logp, old, tadv, mask)
        else:
            loss, metrics = grpo_loss(spec, logp, old, ref, adv, mask)
        loss.backward()
        # What a trainer logs: one .item() per metric.
        logged = {k: v.item() for k, v in metrics.items()}
        return loss.item(), logged

    results = []
    for spec in specs:
        logp = logp_data.clone().requires_grad_(True)
        inputs = (old, ref, tadv, adv, mask)

        for _ in range(args.warmup):
            step(spec, logp, *inputs)
        samples = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            value, _ = step(spec, logp, *inputs)
            samples.append(time.perf_counter() - start)
        result = {"name": spec["name"], "seconds": statistics.median(samples), "value": value}
        if args.write_grads:
            # The check runs once, untimed, in float64 on the same (float) inputs: polo computes
            # in double too, so only a token or sequence ratio within float32 rounding of a clip
            # boundary could otherwise pick a different branch.
            logp64 = logp_data.double().requires_grad_(True)
            value64, _ = step(spec, logp64, *(x.double() for x in inputs))
            grad = logp64.grad.detach().numpy().astype(np.float32)
            grad.tofile(os.path.join(args.data, spec["name"] + ".grad.f32"))
            result["value_float64"] = value64
        results.append(result)

    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(),
           "cases": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f)
    else:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
