"""A sweep's answer as one self-contained HTML page, read from MLflow alone.

`build_report` needs only the experiment and the parent run: every number and picture comes
from what the trials logged (tags, params, final metrics, history/reliability/calibration/
threshold/probe artifacts), so it works on any finished or half-finished sweep, on another
machine, without retraining. Missing pieces (no seed-config trial, failed trials, runs logged
before calibration existed) are said in words instead of breaking the page. The page embeds
its images as data URIs and inlines its CSS, so it opens from disk and can be mailed around.

This module only reads MLflow and lays out the page. The tables it shows are built by
report.tables and the verdict's words by report.verdict, both pure pandas so they are
tested without a store; what stays here is everything that touches MLflow, plots or HTML.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from probsweep import tracking
from probsweep.config import ConfigError
from probsweep.probs import metrics
from probsweep.probs.plots import probe_plot, reliability_diagram
from probsweep.report import plots
from probsweep.report.decision import from_tags
from probsweep.report.summary import summary_lines
from probsweep.report.tables import BASELINE, FINISHED, curves_text, effects_table, head_summary, trial_table
from probsweep.report.verdict import SEED, seed_trials, verdict_text

__all__ = ["build_report"]

SHOWN = list(metrics.REPORT)
CSS = """body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}td.l,th.l{text-align:left}
.scroll{overflow-x:auto}.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0}figcaption{font-size:.85em;color:#555}
img{max-width:100%}pre{white-space:pre-wrap;background:#f7f7f7;padding:.6em;font-size:.85em}
.verdict p{background:#f5f9ff;border-left:4px solid #1f77b4;padding:.5em .8em}.note{color:#666;font-size:.9em}
nav a{margin-right:1em}
.card{background:#f5f9ff;border:2px solid #1f77b4;border-radius:6px;padding:.6em 1em}
.card table{font-size:.95em;margin:0;width:100%}.card th,.card td{border:none;background:none!important;
vertical-align:top;padding:4px 8px}.card th{width:7em;color:#1f4e79}"""


def _img(png: bytes, alt: str, caption: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def _paras(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return "".join(f"<p{attr}>{html.escape(p.strip(), quote=False)}</p>" for p in text.split("\n\n") if p.strip())


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{html.escape(title)}</h2>\n{body}\n</section>\n'


def _frame_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return '<p class="note">No trials recorded.</p>'
    fmt = {
        c: (lambda x: "" if pd.isna(x) else f"{x:.4g}") for c in frame.columns if pd.api.types.is_float_dtype(frame[c])
    }
    return (
        '<div class="scroll">' + frame.to_html(index=False, escape=True, na_rep="", formatters=fmt, border=0) + "</div>"
    )


def _trial_name(row) -> str:
    return BASELINE if row["trial"] == BASELINE else f"trial {row['trial']}"


def _figures(rows: dict[str, pd.Series], shown: dict[str, str]) -> tuple:
    """Reliability diagrams and probe plots of the trials in `shown` (run_id -> why it is shown)."""
    reliability, probes = [], []
    for rid, why in shown.items():
        name = f"{_trial_name(rows[rid])}: {rows[rid]['head_label']}"
        reliability.append(
            _img(
                reliability_diagram(tracking.read_artifact(rid, "reliability.csv"), name),
                f"reliability diagram {name}",
                f"{why} — {name}",
            )
        )
        probes.append(
            _img(
                probe_plot(tracking.read_artifact(rid, "probes.csv"), title=name),
                f"probe outputs {name}",
                f"{why} — outputs of fixed validation examples per epoch",
            )
        )
    return "".join(reliability), "".join(probes)


def _trials_html(table: pd.DataFrame, hp_names: list[str], objective: str, direction: str) -> str:
    cols = ["trial", "status", "head_label", *hp_names, *dict.fromkeys([objective, *SHOWN]), "flags"]
    shown = table.reindex(columns=cols).rename(
        columns={
            "head_label": "head (activation+loss)",
            **{m: metrics.METRICS[m].label for m in SHOWN if m != objective},
        }
    )
    trials = table[table["trial"] != BASELINE] if len(table) else table
    n_fin = int((trials["status"] == FINISHED).sum()) if len(trials) else 0
    base = (
        "; the last row, <b>baseline</b>, is the linear baseline (TF-IDF + logistic regression) fitted before the "
        "first trial, analysed the same way"
        if len(trials) < len(table)
        else ""
    )
    return (
        f"<p>{len(trials)} trial(s), {n_fin} finished, sorted by {html.escape(objective)} ({html.escape(direction)}); "
        f"unfinished trials after them{base}. Test columns are measured once after training and choose nothing. "
        "ECE is of the raw largest output, ECE after T after temperature scaling; the "
        "threshold and its coverage are on the calibrated largest probability.</p>" + _frame_html(shown)
    )


def _effects_html(effects: pd.DataFrame) -> str:
    wide = effects
    if not effects.empty:
        cells = [
            f"n/a (n={n})"
            if pd.isna(m)
            else f"{m:.4g} (n={n})"  # one trial has no spread to show
            if n < 2 or pd.isna(s)
            else f"{m:.4g} ± {s:.2g} (n={n})"
            for m, s, n in zip(effects["mean"], effects["std"], effects["count"], strict=True)
        ]
        wide = (
            effects.assign(cell=cells)
            .pivot_table(index=["hp", "value"], columns="metric", values="cell", aggfunc="first", sort=False)
            .rename_axis(columns=None)
            .reset_index()
        )
    return (
        "<p>Mean ± standard deviation (and count) of each metric over the finished trials that took each value, "
        "by pandas groupby (a value taken by one trial shows that trial's number alone); numeric hyperparameters "
        "with many values are binned into quantiles. A metric whose means span more than 20 times is drawn on a "
        "log axis, so one outlier does not flatten the rest. These are "
        "grouped means with their spread, not a model-based importance: hyperparameters were sampled together, "
        "so a difference here can belong to another hyperparameter.</p>"
        + _frame_html(wide)
        + _img(plots.effects_plot(effects), "hyperparameter effects")
    )


def _summary_html(lines: list[tuple[str, str]], objective: str, direction: str) -> str:
    """The first screen: the same lines `make sweep` ends with (report.summary), as one card."""
    rows = "".join(
        f'<tr><th class="l">{html.escape(label)}</th><td class="l">{html.escape(text)}</td></tr>'
        for label, text in lines
    )
    better = "lower" if direction == "min" else "higher"
    return (
        f'<div class="card"><table>{rows}</table><p class="note">Decided once at the end of the sweep on '
        f"{html.escape(objective)} (validation, {better} is better) and recorded on its parent run; "
        "`make best` retrains exactly this. The details follow.</p></div>"
    )


def _diagnosis_html(rows: dict[str, pd.Series]) -> str:
    out = []
    for r in rows.values():
        text = tracking.read_artifact(r["run_id"], "diagnosis.txt")
        body = (
            text
            if isinstance(text, str)
            else (f"Run {r['status']}: {r['error']}" if r["error"] else "No diagnosis recorded for this run.")
        )
        flags = r["flags"] or ("none" if isinstance(text, str) else "n/a")
        out.append(
            f"<details><summary>{html.escape(_trial_name(r))} — {html.escape(str(r['head_label']))} — "
            f"{html.escape(str(r['status']))} — flags: {html.escape(flags)}</summary>"
            f"<pre>{html.escape(body)}</pre></details>"
        )
    return "".join(out) or '<p class="note">No trials.</p>'


def _classes_html(chosen, shown: int = 8) -> str:
    """The classes the model to use gets wrong most often on validation, by label."""
    per_class = tracking.read_artifact(chosen["run_id"], "per_class.csv") if chosen is not None else None
    if not isinstance(per_class, pd.DataFrame) or per_class.empty or "val_recall" not in per_class.columns:
        return ""
    worst = per_class.sort_values(["val_recall", "label"]).head(shown)
    worst = worst[[c for c in ("label", "val_n", "val_recall", "val_precision", "test_recall") if c in worst.columns]]
    return (
        f"<h3>Hardest classes for {html.escape(_trial_name(chosen))}</h3><p>The {len(worst)} classes with the lowest "
        "validation recall (share of a class's examples predicted as it) and their precision; all classes are in "
        "the run's per_class.csv.</p>" + _frame_html(worst)
    )


def sweep_table(
    experiment_id: str, parent_run_id: str, hp_names: list[str], objective: str, direction: str
) -> tuple[pd.DataFrame, list[str]]:
    """The sweep's trial table (its trials and baseline: report.tables.trial_table) read from its child runs,
    and its hyperparameters: without a recorded space, `head` when the runs have it."""
    runs = tracking.child_runs(experiment_id, parent_run_id)
    if "tags.kind" in runs.columns:
        runs = runs[runs["tags.kind"].fillna("trial").isin(["trial", "baseline"])]
    if not hp_names and "params.head" in runs.columns:
        hp_names = ["head"]
    return trial_table(runs, hp_names, objective, direction), hp_names


def build_report(experiment_id: str, parent_run_id: str, out_dir: Path) -> Path:
    """Write out_dir/index.html for the sweep under `parent_run_id` and return its path."""
    parent = tracking.get_run(parent_run_id)
    params = parent.data.params
    objective = params.get("search.objective", "val_brier")
    direction = params.get("search.direction", "min")
    hp_names = [k[len("space.") :] for k in sorted(params) if k.startswith("space.")]  # the sweep's space summary
    table, hp_names = sweep_table(experiment_id, parent_run_id, hp_names, objective, direction)
    rows = {r["run_id"]: r for _, r in table.iterrows()}
    hist = {
        rid: h
        for rid in rows
        if rows[rid]["trial"] != BASELINE
        and isinstance(h := tracking.read_artifact(rid, "history.csv"), pd.DataFrame)
        and not h.empty
    }
    table["epochs"] = [
        len(hist[rid]) if rid in hist else e for rid, e in zip(table["run_id"], table["epochs"], strict=True)
    ]
    rows = {r["run_id"]: r for _, r in table.iterrows()}
    histories = {_trial_name(rows[rid]): h for rid, h in hist.items()}
    heads = {_trial_name(r): r["head_label"] for r in rows.values()}

    decision = from_tags(parent.data.tags, table, objective, direction)  # recorded by the sweep; never redecided
    rec, seeds = decision.recommended, seed_trials(table)
    best_run_id = str(decision.best["run_id"]) if decision.best is not None else ""
    found = {
        name: tracking.read_artifact(rec["run_id"], f"{name}.json") if rec is not None else None
        for name in ("calibration", "threshold")
    }
    found = {k: v if isinstance(v, dict) else None for k, v in found.items()}
    verdict = verdict_text(
        table,
        objective,
        found["calibration"],
        found["threshold"],
        {p: hist[r["run_id"]] for p, r in seeds.items() if r["run_id"] in hist},
        decision,
        hp_names,
        direction,
    )
    chosen = decision.handed_over
    classes = _classes_html(chosen)

    shown = {best_run_id: f"best trial by {objective}"} if best_run_id in rows else {}
    if rec is not None:
        shown.setdefault(rec["run_id"], "recommended trial")
    for p, r in seeds.items():
        shown.setdefault(r["run_id"], f"seed configuration{f', path {p}' if p else ''}")
    reliability, probes = _figures(rows, shown)
    seed_note = (
        ""
        if seeds
        else (
            f'<p class="note">This sweep has no finished trial with the seed\'s configuration '
            f"({SEED[0]} + {SEED[1]}), so only the best trial is shown.</p>"
        )
    )
    raw_name = parent.data.tags.get("sweep") or parent.info.run_name or parent_run_id
    name = html.escape(raw_name)
    sections = {
        "summary": ("Decision", _summary_html(summary_lines(decision, table, raw_name), objective, direction)),
        "verdict": ("Verdict", f'<div class="verdict">{_paras(verdict)}</div>{classes}'),
        "trials": ("Trials", _trials_html(table, hp_names, objective, direction)),
        "curves": (
            "Per-epoch curves",
            _paras(curves_text(head_summary(histories, heads)))
            + _img(plots.epoch_curves(histories, heads), "per-epoch curves by head")
            + f'<h3>Probe examples</h3><div class="figs">{probes}</div>',
        ),
        "reliability": ("Reliability", f'{seed_note}<div class="figs">{reliability}</div>'),
        "effects": ("Hyperparameter effects", _effects_html(effects_table(table, hp_names, [objective, "val_ece"]))),
        "diagnosis": ("Diagnosis per trial", _diagnosis_html(rows)),
    }
    nav = "".join(f'<a href="#{sid}">{sid}</a>' for sid in sections)
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Sweep {name}</title>'
        f"<style>{CSS}</style></head><body><h1>Sweep report: {name}</h1>"
        f'<p class="note">Parent run {html.escape(parent_run_id)}, experiment {html.escape(str(experiment_id))}; '
        f"objective {html.escape(objective)} ({html.escape(direction)}). Everything below is read from MLflow.</p>"
        f"<nav>{nav}</nav>\n"
        + "".join(_section(sid, t, body) for sid, (t, body) in sections.items())
        + "</body></html>\n"
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def publish_report(sweep_name: str, parent_run_id: str, out_dir: Path) -> Path:
    """`make report`: the page of a sweep whose parent run is in the store, also logged to that run."""
    tracking.setup(None, sweep_name)
    if not tracking.run_exists(parent_run_id):
        raise ConfigError(
            f"parent run {parent_run_id} of sweep '{sweep_name}' is not in the MLflow store "
            f"{tracking.resolve_uri(None)}: set MLFLOW_TRACKING_URI to the store the sweep used"
        )
    experiment_id = tracking.get_run(parent_run_id).info.experiment_id  # the run's own, whatever its name
    path = build_report(experiment_id, parent_run_id, out_dir)
    tracking.log_artifacts(parent_run_id, {"report/index.html": path})
    return path
