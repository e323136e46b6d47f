#!/usr/bin/env python3
"""Scatter plots of 2-D samples (CSV files with x and y columns), one panel per file.

usage: /usr/bin/python3 tools/scatter.py A.csv [B.csv ...] [--titles T1 T2 ...] --out FILE.png
       [--ring 8 --radius 2 --preferred 0 2]

tools/plot.py draws curves against a step column; samples need points. With --ring K the K mode
centres of polo::Flow2D (radius --radius) are marked, the --preferred ones filled.
"""
import argparse
import csv
import math
import sys


def read_points(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "x" not in rows[0] or "y" not in rows[0]:
        raise SystemExit(f"scatter: {path}: needs a header with x and y columns")
    xs, ys = [], []
    for row in rows:
        try:
            xs.append(float(row["x"]))
            ys.append(float(row["y"]))
        except ValueError:
            continue  # an empty field (NaN in polo's writers)
    return xs, ys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", help="CSV files with x, y columns")
    parser.add_argument("--titles", nargs="*", default=None, help="one title per file")
    parser.add_argument("--out", required=True, help="PNG path")
    parser.add_argument("--ring", type=int, default=0, help="mark K mode centres on a ring")
    parser.add_argument("--radius", type=float, default=2.0)
    parser.add_argument("--preferred", type=int, nargs="*", default=[])
    parser.add_argument("--limit", type=float, default=3.0, help="axes span [-limit, limit]")
    args = parser.parse_args()

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("scatter: matplotlib is missing (Debian: python3-matplotlib)", file=sys.stderr)
        return 1

    titles = args.titles or args.csv
    if len(titles) != len(args.csv):
        raise SystemExit("scatter: give one title per file")
    fig, axes = plt.subplots(1, len(args.csv), figsize=(4 * len(args.csv), 4), squeeze=False)
    for ax, path, title in zip(axes[0], args.csv, titles):
        xs, ys = read_points(path)
        ax.scatter(xs, ys, s=3, alpha=0.5, color="tab:blue", linewidths=0)
        for k in range(args.ring):
            angle = 2 * math.pi * k / args.ring
            cx, cy = args.radius * math.cos(angle), args.radius * math.sin(angle)
            filled = k in args.preferred
            ax.scatter([cx], [cy], s=60, marker="o", facecolors="tab:red" if filled else "none",
                       edgecolors="tab:red", linewidths=1.2, zorder=3)
        ax.set_xlim(-args.limit, args.limit)
        ax.set_ylim(-args.limit, args.limit)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"scatter: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
