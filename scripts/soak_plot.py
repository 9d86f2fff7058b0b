#!/usr/bin/env python3
"""Plots a soak log (scripts/soak.sh, tests/benches/soak.rs).

usage: soak_plot.py <soak.csv> [out.png]

Writes <out.png> (default: soak.png next to the log) with four panels over
time: the process's RSS, the export queue length, the drops by cause
(cumulative) and the callers' latency (p99 and max per second, log scale).
The seconds the collector was down are shaded.
"""

import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (column, label, colour): the same colour for a cause in every plot.
DROPS = [
    ("drop_queue_full", "queue_full", "tab:red"),
    ("drop_exporter_failure", "exporter_failure", "tab:orange"),
    ("drop_revoked", "revoked", "tab:green"),
    ("drop_consent", "consent", "tab:blue"),
    ("drop_limits", "limits", "tab:brown"),
    ("drop_rate_limit", "rate_limit", "tab:pink"),
    ("drop_sampling", "sampling", "tab:olive"),
    ("drop_disabled", "disabled", "tab:gray"),
]


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"soak_plot: {path} has no rows")
    cols = {k: [float(r[k]) for r in rows] for k in rows[0]}
    return cols


def down_intervals(t, up):
    """(start, end) of every stretch of seconds with the collector down."""
    spans, start = [], None
    for i, (ti, ui) in enumerate(zip(t, up)):
        if ui == 0 and start is None:
            start = t[i - 1] if i > 0 else ti - 1
        if ui != 0 and start is not None:
            spans.append((start, t[i - 1]))
            start = None
    if start is not None:
        spans.append((start, t[-1]))
    return spans


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(os.path.dirname(os.path.abspath(path)), "soak.png")
    c = read(path)
    t = [x / 60.0 for x in c["t"]]
    down = [(a / 60.0, b / 60.0) for a, b in down_intervals(c["t"], c["collector_up"])]

    fig, axes = plt.subplots(4, 1, figsize=(12, 13), sharex=True)
    for ax in axes:
        for a, b in down:
            ax.axvspan(a, b, color="tab:red", alpha=0.12, lw=0)
        ax.grid(True, alpha=0.3)

    ax = axes[0]
    ax.plot(t, [x / 1024 for x in c["rss_kib"]], color="tab:blue", lw=1)
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title("soak: export pipeline under collector outages (shaded: collector down)")

    ax = axes[1]
    ax.plot(t, c["queue_len"], color="tab:purple", lw=1)
    ax.set_ylabel("export queue (records)")
    ax.set_ylim(bottom=0)

    ax = axes[2]
    for col, label, colour in DROPS:
        ys = c.get(col)
        if ys and max(ys) > 0:
            ax.plot(t, [y if y > 0 else float("nan") for y in ys], lw=1.2, color=colour, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("dropped records\n(cumulative)")
    ax.legend(loc="upper left", fontsize=8, ncol=4)

    ax = axes[3]
    us = lambda col: [max(x, 1.0) / 1000.0 for x in c[col]]  # noqa: E731
    ax.plot(t, us("lat_max_ns"), color="tab:orange", lw=0.8, label="max")
    ax.plot(t, us("lat_p99_ns"), color="tab:green", lw=1, label="p99")
    ax.plot(t, us("lat_p50_ns"), color="tab:gray", lw=0.8, label="p50")
    ax.set_yscale("log")
    ax.set_ylabel("recording call latency\nper second (µs)")
    ax.set_xlabel("minutes")
    ax.legend(loc="upper left", fontsize=8, ncol=3)

    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"soak_plot: wrote {out}")


if __name__ == "__main__":
    main()
