#!/usr/bin/env python3
"""Turn any polo log.csv into a PNG: one panel per column against the step column.

usage: /usr/bin/python3 tools/plot.py RUN/log.csv [--x step] [--y col ...] [--out FILE.png]
Several CSV files may be given; their curves share the panels (e.g. to compare methods or seeds).
Empty fields (NaN in polo's writers) are skipped.
"""
import argparse
import csv
import math
import os
import sys


def read_columns(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise SystemExit(f"plot: {path}: empty file")
    header, body = rows[0], rows[1:]
    columns = {name: [] for name in header}
    for row in body:
        for name, field in zip(header, row):
            try:
                columns[name].append(float(field) if field != "" else math.nan)
            except ValueError:
                columns[name].append(math.nan)
    return header, columns


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", help="log.csv files")
    parser.add_argument("--x", default=None, help="x column (default: the first column)")
    parser.add_argument("--y", nargs="*", default=None, help="columns to plot (default: all)")
    parser.add_argument("--out", default=None, help="PNG path (default: beside the first CSV)")
    parser.add_argument("--title", default=None)
    args = parser.parse_args()

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: matplotlib is missing (Debian: python3-matplotlib)", file=sys.stderr)
        return 1

    runs = [(path, *read_columns(path)) for path in args.csv]
    header = runs[0][1]
    x_name = args.x or header[0]
    y_names = args.y or [h for h in header if h != x_name]
    missing = [y for y in y_names if y not in runs[0][2]]
    if missing:
        print(f"plot: no column {missing} in {args.csv[0]} (has {header})", file=sys.stderr)
        return 1

    cols = min(3, len(y_names))
    rows = (len(y_names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for k, y_name in enumerate(y_names):
        ax = axes[k // cols][k % cols]
        for path, _, columns in runs:
            xs, ys = columns.get(x_name, []), columns.get(y_name, [])
            pts = [(a, b) for a, b in zip(xs, ys) if not (math.isnan(a) or math.isnan(b))]
            if pts:
                label = os.path.basename(os.path.dirname(os.path.abspath(path))) or path
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, linewidth=1.2)
        ax.set_xlabel(x_name)
        ax.set_title(y_name, fontsize=10)
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7)
    for k in range(len(y_names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.csv[0])), "log.png")
    fig.savefig(out, dpi=110)
    print(f"plot: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
