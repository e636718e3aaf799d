"""The report's sweep-level figures (per-epoch curves by head, hyperparameter effects).

Each `*_figure` function returns the matplotlib Figure; its twin renders it to PNG bytes for the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from probsweep.probs.metrics import CURVES as CURVE_METRICS  # noqa: E402
from probsweep.probs.metrics import METRICS
from probsweep.probs.plots import _empty_figure, _png


def head_colors(heads: Iterable[str]) -> dict[str, str]:
    """One colour per head, in sorted order, so every figure of a report agrees on them."""
    palette = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]  # a ListedColormap
    return {
        h: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, h in enumerate(sorted({str(h) for h in heads}))
    }


def epoch_curves_figure(
    histories: dict[str, pd.DataFrame], heads: dict[str, str], metrics: Sequence[str] = CURVE_METRICS
) -> Figure:
    """One panel per metric, one line per trial, coloured by head, legend by head.

    The output sum is drawn on a log axis (when positive) with the line y=1 a distribution
    would sit on, since mismatched heads land orders of magnitude away from it.
    """
    histories = {k: v for k, v in (histories or {}).items() if v is not None and not v.empty}
    if not histories:
        return _empty_figure("per-epoch curves")
    colors = head_colors(heads.get(k, "unknown") for k in histories)
    ncols = min(3, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.2 * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        positive = True
        for label, h in histories.items():
            if metric not in h.columns:
                continue
            y = pd.to_numeric(h[metric], errors="coerce")
            x = h["epoch"] if "epoch" in h.columns else np.arange(1, len(h) + 1)
            positive &= bool((y.dropna() > 0).all())
            ax.plot(
                x,
                y,
                color=colors[heads.get(label, "unknown")],
                lw=1.3,
                alpha=0.85,
                marker="o" if len(h) < 3 else None,
                ms=4,
            )
        if metric == "val_prob_sum":
            ax.axhline(1.0, color="0.4", ls="--", lw=0.9)
            if positive:
                ax.set_yscale("log")
        ax.set(title=METRICS[metric].label if metric in METRICS else metric, xlabel="epoch")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_axis_off()
    handles = [plt.Line2D([], [], color=c, lw=2) for c in colors.values()]
    fig.legend(
        handles,
        list(colors),
        loc="lower center",
        ncol=min(3, len(colors)),
        fontsize=8,
        bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(colors) // 3)),
    )
    fig.tight_layout(rect=(0, 0.04 + 0.03 * (len(colors) // 3), 1, 1))
    return fig


def epoch_curves(
    histories: dict[str, pd.DataFrame], heads: dict[str, str], metrics: Sequence[str] = CURVE_METRICS
) -> bytes:
    """`epoch_curves_figure` as PNG bytes, for the report."""
    return _png(epoch_curves_figure(histories, heads=heads, metrics=metrics))


def log_axis(values: pd.Series, spread: float = 20.0) -> bool:
    """A metric's axis goes logarithmic when its values are all positive and span more than `spread` times."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(v) > 1 and (v > 0).all() and v.max() > spread * v.min())


def effects_figure(effects: pd.DataFrame) -> Figure:
    """Grouped mean ± std of each metric per hyperparameter value (rows: hps, columns: metrics).

    `effects` is long: hp, value, metric, mean, std, count (see report.effects_table). The
    count is written beside each point: a mean over one trial has no spread to show.
    """
    need = {"hp", "value", "metric", "mean", "std", "count"}
    if effects is None or effects.empty or not need <= set(effects.columns):
        return _empty_figure("hyperparameter effects")
    hps, metrics = list(dict.fromkeys(effects["hp"])), list(dict.fromkeys(effects["metric"]))
    fig, axes = plt.subplots(
        len(hps),
        len(metrics),
        squeeze=False,
        figsize=(4.2 * len(metrics), 0.5 + 0.45 * max(2, effects.groupby("hp").size().max()) * len(hps)),
    )
    for i, hp in enumerate(hps):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            e = effects[(effects["hp"] == hp) & (effects["metric"] == metric)]
            y = np.arange(len(e))
            mean, std = e["mean"].to_numpy(float), e["std"].fillna(0).to_numpy(float)
            if log_axis(effects.loc[effects["metric"] == metric, "mean"]):
                # One outlier (the seed's path A at val_brier ~20) would put every other value on zero.
                ax.set_xscale("log")
                xerr = np.vstack([np.minimum(std, 0.9 * mean), std])  # a bar never crosses zero
            else:
                xerr = std
            ax.errorbar(mean, y, xerr=xerr, fmt="o", color="#1f77b4", capsize=3)
            for yy, (m, n) in enumerate(zip(e["mean"], e["count"], strict=True)):
                if pd.notna(m):
                    ax.annotate(f"n={int(n)}", (m, yy), xytext=(4, 4), textcoords="offset points", fontsize=7)
            ax.set_yticks(y, [str(v) for v in e["value"]], fontsize=8)
            ax.set_ylim(-0.7, len(e) - 0.3)
            ax.grid(axis="x", alpha=0.3)
            if i == 0:
                ax.set_title(metric + (" (log scale)" if ax.get_xscale() == "log" else ""))
            if j == 0:
                ax.set_ylabel(hp)
    fig.tight_layout()
    return fig


def effects_plot(effects: pd.DataFrame) -> bytes:
    """`effects_figure` as PNG bytes, for the report."""
    return _png(effects_figure(effects))
