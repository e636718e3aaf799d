"""Per-run probability figures (reliability diagram, probe trajectories).

Each `*_figure` function returns the matplotlib Figure (what the tests inspect); its PNG twin
(`reliability_diagram`, `probe_plot`) renders it to the bytes a run logs.

Every function takes plain pandas frames (what the runs logged as CSV), draws with matplotlib's
Agg backend (no display needed), closes its figure and tolerates gaps: empty bins, NaN metrics,
missing columns or no data at all give a figure that says so rather than an exception.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from probsweep.probs.metrics import ece_of_bins  # noqa: E402

DPI = 90  # small enough that a report with a dozen figures stays a few MB
FLOOR = 1e-7  # outputs below this are drawn at it: a log axis cannot show 0


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _empty_figure(title: str, message: str = "no data recorded") -> Figure:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="0.4")
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def _clip(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis (class names are single long words)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _as_bool(col: pd.Series) -> pd.Series:
    return col.astype(str).str.strip().str.lower().isin(["true", "1", "yes"])


def reliability_figure(bins: pd.DataFrame, title: str = "", split: str = "val") -> Figure:
    """Accuracy per confidence bin against the diagonal, with the bins' counts underneath.

    Raw and calibrated bins (column `calibrated`) are drawn side by side when both exist, so
    temperature scaling's effect is visible at a glance; the legend carries each one's ECE.
    Empty bins (NaN accuracy) are simply not drawn.
    """
    if bins is None or bins.empty or not {"bin_lower", "bin_upper", "count"} <= set(bins.columns):
        return _empty_figure(title)
    b = bins.copy()
    if "split" in b.columns and (b["split"] == split).any():
        b = b[b["split"] == split]
    b["calibrated"] = _as_bool(b["calibrated"]) if "calibrated" in b.columns else False
    for col in ("bin_lower", "bin_upper", "count", "confidence", "accuracy"):
        b[col] = pd.to_numeric(b[col], errors="coerce") if col in b.columns else np.nan
    groups = [(flag, g.sort_values("bin_lower")) for flag, g in b.groupby("calibrated")]
    if b["count"].fillna(0).sum() <= 0:
        return _empty_figure(title, "all bins empty")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.2, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    top.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfect calibration")
    colors = {False: "#d62728", True: "#1f77b4"}
    for i, (calibrated, g) in enumerate(groups):
        width = (g["bin_upper"] - g["bin_lower"]) / len(groups)
        left = g["bin_lower"] + i * width
        n = g["count"].fillna(0)
        ok = g["accuracy"].notna() & (n > 0)
        ece = ece_of_bins(g)
        name = "calibrated (temperature)" if calibrated else "raw max output"
        top.bar(
            left[ok],
            g["accuracy"][ok],
            width=width[ok],
            align="edge",
            color=colors[calibrated],
            alpha=0.75,
            edgecolor="white",
            label=f"{name}, ECE {ece:.3f}",
        )
        bottom.bar(left, n, width=width, align="edge", color=colors[calibrated], alpha=0.75)
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy in bin", title=title)
    top.legend(loc="upper left", fontsize=8)
    bottom.set(xlabel=f"confidence (max output), {split}", ylabel="examples")
    return fig


def reliability_diagram(bins: pd.DataFrame, title: str = "", split: str = "val") -> bytes:
    """`reliability_figure` as PNG bytes: the run's reliability.png."""
    return _png(reliability_figure(bins, title=title, split=split))


def probe_figure(probes: pd.DataFrame, top: int = 5, title: str = "", max_probes: int = 4) -> Figure:
    """Per probe example, its top-k outputs over the epochs on a log axis, with the row's sum.

    This is the comparison the seed's user made by hand (epoch 1 vs epoch 128): the grey band is
    the range of all outputs, the dotted line their sum (1 for a distribution), the coloured
    lines the k classes with the highest output at the last epoch. A collapse to 1e-5 or a
    saturation at 1 shows as the whole band moving.
    """
    need = {"epoch", "probe", "class", "output"}
    if probes is None or probes.empty or not need <= set(probes.columns):
        return _empty_figure(title)
    ids = list(dict.fromkeys(probes["probe"]))[:max_probes]
    fig, axes = plt.subplots(
        1, len(ids), figsize=(3.6 * len(ids), 3.6), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, pid in zip(axes[0], ids, strict=True):
        wide = (
            probes[probes["probe"] == pid]
            .pivot_table(index="epoch", columns="class", values="output")
            .sort_index()
            .apply(pd.to_numeric, errors="coerce")
        )
        epochs = wide.index.to_numpy()
        marker = "o" if len(epochs) < 3 else None
        clipped = wide.clip(lower=FLOOR)
        ax.fill_between(epochs, clipped.min(axis=1), clipped.max(axis=1), color="0.85", label="all outputs")
        ax.plot(epochs, wide.sum(axis=1).clip(lower=FLOOR), ls=":", color="k", marker=marker, label="sum")
        rows = probes[probes["probe"] == pid]
        # Runs logged with class names carry `label` (each output's class) and `true_label` (the example's).
        label = dict(zip(rows["class"], rows["label"], strict=True)) if "label" in rows.columns else {}
        for k in wide.iloc[-1].nlargest(top).index:
            ax.plot(epochs, clipped[k], marker=marker, lw=1.4, label=str(label.get(k, f"class {k}")))
        ax.set_yscale("log")
        ax.axhline(1.0, color="0.6", lw=0.8)
        # Two short lines per panel: a long class name on one line ran into the next panel's title.
        truth = f"\ntrue: {_clip(str(rows['true_label'].iloc[0]), 34)}" if "true_label" in rows.columns else ""
        ax.set_xlabel("epoch")
        ax.set_title(f"val example {pid}{truth}", fontsize=9)
        ax.legend(fontsize=6, loc="best", framealpha=0.6)
    axes[0][0].set_ylabel("output (log scale)")
    if title:
        fig.suptitle(_clip(title, 40 * len(ids)), fontsize=10)
    return fig


def probe_plot(probes: pd.DataFrame, top: int = 5, title: str = "", max_probes: int = 4) -> bytes:
    """`probe_figure` as PNG bytes: the run's probes.png."""
    return _png(probe_figure(probes, top=top, title=title, max_probes=max_probes))
