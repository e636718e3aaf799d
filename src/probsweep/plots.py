"""The report's pictures, each returned as PNG bytes so it can be embedded in one HTML file.

Every function takes plain pandas frames (what the runs logged as CSV), draws with matplotlib's
Agg backend (no display needed), closes its figure and tolerates gaps: empty bins, NaN metrics,
missing columns or no data at all give a figure that says so rather than an exception.
"""
from __future__ import annotations

import io
from typing import Dict, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 90  # small enough that a report with a dozen figures stays a few MB
FLOOR = 1e-7  # outputs below this are drawn at it: a log axis cannot show 0
CURVE_METRICS = ("val_accuracy", "val_max_prob", "val_prob_sum", "val_entropy_norm", "val_ece")
LABELS = {"val_accuracy": "val accuracy", "val_max_prob": "mean max output", "val_prob_sum": "mean output sum",
          "val_entropy_norm": "normalised entropy", "val_ece": "ECE (raw max output)"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _empty(title: str, message: str = "no data recorded") -> bytes:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="0.4")
    ax.set_axis_off()
    ax.set_title(title)
    return _png(fig)


def head_colors(heads: Iterable[str]) -> Dict[str, str]:
    """One colour per head, in sorted order, so every figure of a report agrees on them."""
    palette = plt.get_cmap("tab10").colors
    return {h: matplotlib.colors.to_hex(palette[i % len(palette)])
            for i, h in enumerate(sorted({str(h) for h in heads}))}


def _as_bool(col: pd.Series) -> pd.Series:
    return col.astype(str).str.strip().str.lower().isin(["true", "1", "yes"])


def reliability_diagram(bins: pd.DataFrame, title: str = "", split: str = "val") -> bytes:
    """Accuracy per confidence bin against the diagonal, with the bins' counts underneath.

    Raw and calibrated bins (column `calibrated`) are drawn side by side when both exist, so
    temperature scaling's effect is visible at a glance; the legend carries each one's ECE.
    Empty bins (NaN accuracy) are simply not drawn.
    """
    if bins is None or bins.empty or not {"bin_lower", "bin_upper", "count"} <= set(bins.columns):
        return _empty(title)
    b = bins.copy()
    if "split" in b.columns and (b["split"] == split).any():
        b = b[b["split"] == split]
    b["calibrated"] = _as_bool(b["calibrated"]) if "calibrated" in b.columns else False
    for col in ("bin_lower", "bin_upper", "count", "confidence", "accuracy"):
        b[col] = pd.to_numeric(b[col], errors="coerce") if col in b.columns else np.nan
    groups = [(flag, g.sort_values("bin_lower")) for flag, g in b.groupby("calibrated")]
    if b["count"].fillna(0).sum() <= 0:
        return _empty(title, "all bins empty")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.2, 5.6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.2]})
    top.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfect calibration")
    colors = {False: "#d62728", True: "#1f77b4"}
    for i, (calibrated, g) in enumerate(groups):
        width = (g["bin_upper"] - g["bin_lower"]) / len(groups)
        left = g["bin_lower"] + i * width
        n = g["count"].fillna(0)
        ok = g["accuracy"].notna() & (n > 0)
        gap = (g["accuracy"] - g["confidence"]).abs()
        ece = float((n[ok] * gap[ok]).sum() / n.sum()) if n.sum() > 0 else float("nan")
        name = "calibrated (temperature)" if calibrated else "raw max output"
        top.bar(left[ok], g["accuracy"][ok], width=width[ok], align="edge", color=colors[calibrated],
                alpha=0.75, edgecolor="white", label=f"{name}, ECE {ece:.3f}")
        bottom.bar(left, n, width=width, align="edge", color=colors[calibrated], alpha=0.75)
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy in bin", title=title)
    top.legend(loc="upper left", fontsize=8)
    bottom.set(xlabel=f"confidence (max output), {split}", ylabel="examples")
    return _png(fig)


def probe_plot(probes: pd.DataFrame, top: int = 5, title: str = "", max_probes: int = 4) -> bytes:
    """Per probe example, its top-k outputs over the epochs on a log axis, with the row's sum.

    This is the comparison the seed's user made by hand (epoch 1 vs epoch 128): the grey band is
    the range of all outputs, the dotted line their sum (1 for a distribution), the coloured
    lines the k classes with the highest output at the last epoch. A collapse to 1e-5 or a
    saturation at 1 shows as the whole band moving.
    """
    need = {"epoch", "probe", "class", "output"}
    if probes is None or probes.empty or not need <= set(probes.columns):
        return _empty(title)
    ids = list(dict.fromkeys(probes["probe"]))[:max_probes]
    fig, axes = plt.subplots(1, len(ids), figsize=(3.6 * len(ids), 3.4), sharey=True, squeeze=False)
    for ax, pid in zip(axes[0], ids):
        wide = (probes[probes["probe"] == pid].pivot_table(index="epoch", columns="class", values="output")
                .sort_index().apply(pd.to_numeric, errors="coerce"))
        epochs = wide.index.to_numpy()
        marker = "o" if len(epochs) < 3 else None
        clipped = wide.clip(lower=FLOOR)
        ax.fill_between(epochs, clipped.min(axis=1), clipped.max(axis=1), color="0.85", label="all outputs")
        ax.plot(epochs, wide.sum(axis=1).clip(lower=FLOOR), ls=":", color="k", marker=marker, label="sum")
        for k in wide.iloc[-1].nlargest(top).index:
            ax.plot(epochs, clipped[k], marker=marker, lw=1.4, label=f"class {k}")
        ax.set_yscale("log")
        ax.axhline(1.0, color="0.6", lw=0.8)
        ax.set(xlabel="epoch", title=f"val example {pid}")
        ax.legend(fontsize=6, loc="best", framealpha=0.6)
    axes[0][0].set_ylabel("output (log scale)")
    if title:
        fig.suptitle(title, y=1.04)
    return _png(fig)


def epoch_curves(histories: Dict[str, pd.DataFrame], heads: Dict[str, str],
                 metrics: Sequence[str] = CURVE_METRICS) -> bytes:
    """One panel per metric, one line per trial, coloured by head, legend by head.

    The output sum is drawn on a log axis (when positive) with the line y=1 a distribution
    would sit on, since mismatched heads land orders of magnitude away from it.
    """
    histories = {k: v for k, v in (histories or {}).items() if v is not None and not v.empty}
    if not histories:
        return _empty("per-epoch curves")
    colors = head_colors(heads.get(k, "unknown") for k in histories)
    ncols = min(3, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.2 * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        positive = True
        for label, h in histories.items():
            if metric not in h.columns:
                continue
            y = pd.to_numeric(h[metric], errors="coerce")
            x = h["epoch"] if "epoch" in h.columns else np.arange(1, len(h) + 1)
            positive &= bool((y.dropna() > 0).all())
            ax.plot(x, y, color=colors[heads.get(label, "unknown")], lw=1.3, alpha=0.85,
                    marker="o" if len(h) < 3 else None, ms=4)
        if metric == "val_prob_sum":
            ax.axhline(1.0, color="0.4", ls="--", lw=0.9)
            if positive:
                ax.set_yscale("log")
        ax.set(title=LABELS.get(metric, metric), xlabel="epoch")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_axis_off()
    handles = [plt.Line2D([], [], color=c, lw=2) for c in colors.values()]
    fig.legend(handles, list(colors), loc="lower center", ncol=min(3, len(colors)), fontsize=8,
               bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(colors) // 3)))
    fig.tight_layout(rect=(0, 0.04 + 0.03 * (len(colors) // 3), 1, 1))
    return _png(fig)


def effects_plot(effects: pd.DataFrame) -> bytes:
    """Grouped mean ± std of each metric per hyperparameter value (rows: hps, columns: metrics).

    `effects` is long: hp, value, metric, mean, std, count (see report.effects_table). The
    count is written beside each point: a mean over one trial has no spread to show.
    """
    need = {"hp", "value", "metric", "mean", "std", "count"}
    if effects is None or effects.empty or not need <= set(effects.columns):
        return _empty("hyperparameter effects")
    hps, metrics = list(dict.fromkeys(effects["hp"])), list(dict.fromkeys(effects["metric"]))
    fig, axes = plt.subplots(len(hps), len(metrics), squeeze=False,
                             figsize=(4.2 * len(metrics), 0.5 + 0.45 * max(2, effects.groupby("hp").size().max()) * len(hps)))
    for i, hp in enumerate(hps):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            e = effects[(effects["hp"] == hp) & (effects["metric"] == metric)]
            y = np.arange(len(e))
            ax.errorbar(e["mean"], y, xerr=e["std"].fillna(0), fmt="o", color="#1f77b4", capsize=3)
            for yy, (m, n) in enumerate(zip(e["mean"], e["count"])):
                if pd.notna(m):
                    ax.annotate(f"n={int(n)}", (m, yy), xytext=(4, 4), textcoords="offset points", fontsize=7)
            ax.set_yticks(y, [str(v) for v in e["value"]], fontsize=8)
            ax.set_ylim(-0.7, len(e) - 0.3)
            ax.grid(axis="x", alpha=0.3)
            if i == 0:
                ax.set_title(metric)
            if j == 0:
                ax.set_ylabel(hp)
    fig.tight_layout()
    return _png(fig)
