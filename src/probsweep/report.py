"""A sweep's answer as one self-contained HTML page, read from MLflow alone.

`build_report` needs only the experiment and the parent run: every number and picture comes
from what the trials logged (tags, params, final metrics, history/reliability/calibration/
threshold/probe artifacts), so it works on any finished or half-finished sweep, on another
machine, without retraining. Missing pieces (no seed-config trial, failed trials, runs logged
before calibration existed) are said in words instead of breaking the page. The page embeds
its images as data URIs and inlines its CSS, so it opens from disk and can be mailed around.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np
import pandas as pd

from . import plots, reporting, tracking

__all__ = ["build_report", "trial_table", "effects_table", "head_summary", "verdict_text"]

FINISHED = "FINISHED"
SEED = ("sigmoid", "sparse_categorical_crossentropy")  # the seed's head and loss
COLLAPSE, SAT_SUM, SAT_MAX = 0.1, 2.0, 0.9  # as in probsweep.diagnosis
EXTRA_METRICS = ["temperature", "val_ece_calibrated", "val_nll_calibrated", "threshold", "threshold_val_coverage",
                 "threshold_test_coverage", "threshold_test_precision"]
SHOWN = ["val_accuracy", "val_max_prob", "val_prob_sum", "val_entropy_norm", "val_ece", "val_ece_calibrated",
         "temperature", "threshold", "threshold_val_coverage"]
CSS = """body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}td.l,th.l{text-align:left}
.scroll{overflow-x:auto}.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0}figcaption{font-size:.85em;color:#555}
img{max-width:100%}pre{white-space:pre-wrap;background:#f7f7f7;padding:.6em;font-size:.85em}
.verdict p{background:#f5f9ff;border-left:4px solid #1f77b4;padding:.5em .8em}.note{color:#666;font-size:.9em}
nav a{margin-right:1em}"""


def _col(runs: pd.DataFrame, name: str) -> pd.Series:
    return runs[name] if name in runs.columns else pd.Series([None] * len(runs), index=runs.index, dtype=object)


def trial_table(runs: pd.DataFrame, hp_names: List[str], objective: str, direction: str) -> pd.DataFrame:
    """reporting.comparison_table plus what the report needs per trial: head, path, flags, calibration.

    head_label is activation+loss, with the loss path for a mismatched head, because paths A
    and B of the same pairing fail in opposite directions and must not share a colour.
    """
    table = reporting.comparison_table(runs, hp_names, objective, direction)
    extra = pd.DataFrame({"run_id": _col(runs, "run_id"),
                          "activation": _col(runs, "params.model.activation"),
                          "loss": _col(runs, "params.model.loss"),
                          "epochs": pd.to_numeric(_col(runs, "params.train.epochs"), errors="coerce"),
                          "flags": _col(runs, "tags.diagnosis_flags").fillna(""),
                          "error": _col(runs, "tags.error").fillna("")})
    tag_head, mismatch_tag = _col(runs, "tags.head"), _col(runs, "tags.head_loss_mismatch")
    path_tag, path_param = _col(runs, "tags.loss_path"), _col(runs, "params.model.mismatch_path")
    mismatch, paths, labels = [], [], []
    for i in range(len(runs)):
        act, loss = extra["activation"].iloc[i], extra["loss"].iloc[i]
        mm = str(mismatch_tag.iloc[i]).lower() == "true" if pd.notna(mismatch_tag.iloc[i]) else _mismatch(act, loss)
        path = next((str(p) for p in (path_tag.iloc[i], path_param.iloc[i]) if str(p) in ("A", "B")), "") if mm else ""
        base = tag_head.iloc[i] if isinstance(tag_head.iloc[i], str) and tag_head.iloc[i] else \
            f"{act}+{loss}" if isinstance(act, str) and isinstance(loss, str) else "unknown head"
        mismatch.append(mm), paths.append(path), labels.append(f"{base} (path {path})" if path else base)
    extra = extra.assign(mismatch=mismatch, path=paths, head_label=labels)
    for name in EXTRA_METRICS:
        extra[name] = pd.to_numeric(_col(runs, f"metrics.{name}"), errors="coerce")
    extra = extra.drop(columns=[c for c in extra.columns if c in table.columns and c != "run_id"])
    if table.empty:  # comparison_table's empty frame has no run_id and may repeat the objective
        return pd.DataFrame(columns=list(dict.fromkeys([*table.columns, *extra.columns])))
    return table.merge(extra, on="run_id", how="left")


def _mismatch(activation, loss) -> bool:
    from .config import is_mismatch
    try:
        return is_mismatch(str(activation), str(loss))
    except ValueError:
        return False


def _value_label(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def effects_table(table: pd.DataFrame, hp_names: Iterable[str], metrics: Iterable[str],
                  max_levels: int = 5, bins: int = 4) -> pd.DataFrame:
    """Long frame hp, value, metric, mean, std, count over finished trials, by groupby.

    A numeric hp with more than `max_levels` distinct values is cut into `bins` quantile bins
    (equal-width if quantiles collide). Grouped means with their spread, not a model-based
    importance: hps were sampled together, so a gap here may belong to another hp.
    """
    cols = ["hp", "value", "metric", "mean", "std", "count"]
    fin = table[table["status"] == FINISHED] if "status" in table.columns else table
    rows = []
    for hp in hp_names:
        if hp not in fin.columns or fin.empty:
            continue
        num = pd.to_numeric(fin[hp], errors="coerce")
        if num.notna().all() and num.nunique() > max_levels:
            try:
                key = pd.qcut(num, q=bins, duplicates="drop")
            except ValueError:
                key = pd.cut(num, bins=bins)
        elif num.notna().all():
            key = num
        else:
            key = fin[hp].fillna("(unset)").astype(str)
        for metric in dict.fromkeys(metrics):
            if metric not in fin.columns:
                continue
            vals = pd.to_numeric(fin[metric], errors="coerce")
            for value, r in vals.groupby(key, observed=True, sort=True).agg(["mean", "std", "count"]).iterrows():
                rows.append({"hp": hp, "value": _value_label(value), "metric": metric,
                             "mean": r["mean"], "std": r["std"], "count": int(r["count"])})
    return pd.DataFrame(rows, columns=cols)


def head_summary(histories: Dict[str, pd.DataFrame], heads: Dict[str, str]) -> pd.DataFrame:
    """Per head: mean max-prob and prob-sum after epoch 1 and after each trial's last epoch."""
    rows = []
    for label, h in histories.items():
        if h is None or h.empty:
            continue
        first, last = h.iloc[0], h.iloc[-1]
        rows.append({"head": heads.get(label, "unknown"), "last_epoch": last.get("epoch", len(h)),
                     **{f"{m}_{w}": pd.to_numeric(r.get(m), errors="coerce") for m in ("val_max_prob", "val_prob_sum")
                        for w, r in (("first", first), ("last", last))}})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby("head").agg(trials=("last_epoch", "size"), last_epoch=("last_epoch", "mean"),
                                                  **{c: (c, "mean") for c in rows[0] if c.startswith("val_")})


def curves_text(summary: pd.DataFrame) -> str:
    """One sentence per head: what training longer did to its outputs' level and sum."""
    if summary.empty:
        return "No trial recorded a per-epoch history, so there is nothing to compare between epochs."
    out = []
    for head, r in summary.iterrows():
        n, e = int(r["trials"]), r["last_epoch"]
        when = f"epoch {e:.0f}" + (" on average" if n > 1 else "")
        what = (f"{head} ({n} trial{'s' * (n > 1)}): mean largest output {_f(r['val_max_prob_first'])} after epoch 1 "
                f"→ {_f(r['val_max_prob_last'])} after the last epoch ({when}); outputs summed to "
                f"{_f(r['val_prob_sum_first'])} → {_f(r['val_prob_sum_last'])}.")
        out.append(what if e > 1 else f"{head} ({n} trial{'s' * (n > 1)}): trained for 1 epoch only: largest output "
                   f"{_f(r['val_max_prob_first'])}, sum {_f(r['val_prob_sum_first'])}.")
    return "\n\n".join(out) + "\n\nA distribution sums to exactly 1 at every epoch; a head whose sum drifts away from 1 " \
                           "gives outputs whose level, not just their ranking, changes with training length."


# --- verdict --------------------------------------------------------------------------------------

def _num(x) -> Optional[float]:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else v


def _f(x, spec: str = ".3g") -> str:
    v = _num(x)
    return "n/a" if v is None else format(v, spec)


def _finished(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == FINISHED] if "status" in table.columns else table


def is_seed(table: pd.DataFrame) -> pd.Series:
    """Rows with the seed's pairing: sigmoid outputs trained with sparse_categorical_crossentropy."""
    return (table.get("activation", pd.Series(index=table.index, dtype=object)) == SEED[0]) & \
           (table.get("loss", pd.Series(index=table.index, dtype=object)) == SEED[1])


def seed_trials(table: pd.DataFrame) -> Dict[str, pd.Series]:
    """Path -> the finished seed-config trial with the most epochs (ties: the better objective)."""
    seed = _finished(table[is_seed(table)])
    if seed.empty:
        return {}
    seed = seed.assign(_e=pd.to_numeric(seed.get("epochs"), errors="coerce").fillna(0),
                       _p=seed.get("path", pd.Series("", index=seed.index)).fillna("").astype(str))
    ordered = seed.sort_values("_e", ascending=False, kind="stable")  # stable: table order breaks ties
    return {p: g.iloc[0].drop(["_e", "_p"]) for p, g in sorted(ordered.groupby("_p", sort=False), key=lambda t: t[0])}


def recommended(table: pd.DataFrame, best_run_id: Optional[str] = None) -> Optional[pd.Series]:
    """The sweep's best finished trial, unless it is a mismatched head and a matched one finished."""
    fin = _finished(table)
    if fin.empty:
        return None
    best = fin[fin["run_id"] == best_run_id] if best_run_id and "run_id" in fin.columns else fin.iloc[:0]
    row = best.iloc[0] if len(best) else fin.iloc[0]
    if "mismatch" in fin.columns and bool(row.get("mismatch")):
        matched = fin[~fin["mismatch"].fillna(False).astype(bool)]
        if len(matched):
            return matched.iloc[0]
    return row


def _level(m: Optional[float], s: Optional[float]) -> str:
    if m is not None and m < COLLAPSE:
        return ("the outputs have collapsed towards 0 (the loss renormalises them and only asks the true class to "
                "be large relative to the others, so once the ranking is right every output drifts down)")
    if m is not None and s is not None and s > SAT_SUM and m > SAT_MAX:
        return ("the outputs have saturated: many are near 1 at once (the loss reads the logits before the sigmoid "
                "and only fixes their differences; nothing pins their level)")
    return "their level is whatever training left it at"


def _seed_paragraph(table: pd.DataFrame, seed_histories: Dict[str, pd.DataFrame]) -> str:
    seed = table[is_seed(table)]
    if seed.empty:
        return ("This sweep has no trial with the seed's configuration (sigmoid outputs trained with "
                "sparse_categorical_crossentropy), so it cannot show that configuration failing; add the "
                "seed-mismatch heads to the search space to see it.")
    fin = _finished(seed)
    if fin.empty:
        return (f"All {len(seed)} trial(s) with the seed's configuration (sigmoid + sparse_categorical_crossentropy) "
                "failed, so this sweep has no numbers for it: see the diagnosis section.")
    sums = pd.to_numeric(fin.get("val_prob_sum"), errors="coerce").dropna()
    out = ["The seed's configuration, sigmoid outputs trained with sparse_categorical_crossentropy, does not give "
           "probabilities. The loss treats each row of outputs as one distribution over the classes, but the "
           "sigmoids are independent numbers: "
           + (f"in this sweep's {len(fin)} finished seed-config trial(s) an example's outputs sum to "
              f"{sums.mean():.3g} on average at the last epoch (from {sums.min():.3g} to {sums.max():.3g}), where a "
              "distribution sums to exactly 1." if len(sums) else "their output sums were not recorded.")]
    levels, paths = [], []
    for path, row in seed_trials(table).items():
        h = seed_histories.get(path)
        name = f"Path {path}" if path else "The seed-config trial"
        if isinstance(h, pd.DataFrame) and not h.empty and "val_max_prob" in h.columns:
            first, last = h.iloc[0], h.iloc[-1]
            m1, m2, s1, s2 = (_num(first.get("val_max_prob")), _num(last.get("val_max_prob")),
                              _num(first.get("val_prob_sum")), _num(last.get("val_prob_sum")))
            e = int(_num(last.get("epoch")) or len(h))
            paths.append(f"{name} (trial {row['trial']}): after epoch 1 the largest output averages {_f(m1)} and the "
                       f"outputs sum to {_f(s1)}; after epoch {e} the largest output averages {_f(m2)} and they sum "
                       f"to {_f(s2)}: {_level(m2, s2)}.")
            levels += [v for v in (m1, m2) if v is not None]
        else:
            m2, s2 = _num(row.get("val_max_prob")), _num(row.get("val_prob_sum"))
            paths.append(f"{name} (trial {row['trial']}, {_f(row.get('epochs'), '.0f')} epochs): at the end the largest "
                       f"output averages {_f(m2)} and the outputs sum to {_f(s2)}: {_level(m2, s2)}.")
            levels += [m2] if m2 is not None else []
    lo, hi = (min(levels), max(levels)) if levels else (None, None)
    if lo is not None and (hi - lo > 0.2 or hi > 2 * max(lo, 1e-12)):
        spread = (f" Across epochs and paths the mean largest output ranges from {lo:.3g} to {hi:.3g}, so the same "
                  "cut-off means a confident prediction for one model and nothing for another.")
    elif lo is not None:
        spread = (f" In this sweep the level moved little ({lo:.3g} to {hi:.3g}), but the loss holds it nowhere, "
                  "so longer training or the other loss path can move it anywhere.")
    else:
        spread = ""
    acc = pd.to_numeric(fin.get("val_accuracy"), errors="coerce").dropna()
    out = [out[0], " ".join(paths)] if paths else out
    out.append("That is why no fixed threshold can work: nothing in the loss pins the outputs' level, so it depends "
               "on training length and loss path, and outputs that are not a distribution give a threshold no fixed "
               "precision." + spread
               + (f" The ranking can still be right (seed-config validation accuracy up to {acc.max():.1%}); it is "
                  "the numbers that mean nothing." if len(acc) else ""))
    return "\n\n".join(out)


def verdict_text(table: pd.DataFrame, objective: str, calibration: Optional[dict] = None,
                 threshold: Optional[dict] = None, seed_histories: Optional[Dict[str, pd.DataFrame]] = None,
                 best_run_id: Optional[str] = None, hp_names: Iterable[str] = ()) -> str:
    """Plain-language answer with this sweep's numbers; paragraphs separated by blank lines.

    `table` is trial_table's frame (columns it lacks count as unknown), `calibration` and
    `threshold` the recommended trial's calibration.json/threshold.json (else its metrics are
    used), `seed_histories` path -> history of seed_trials(table). Pure: no MLflow.
    """
    paras = [_seed_paragraph(table, seed_histories or {})]
    rec, fin = recommended(table, best_run_id), _finished(table)
    if rec is None:
        paras.append("No trial finished, so there is no configuration to recommend yet: rerun the sweep "
                     "(finished trials are kept) and build the report again.")
    else:
        hps = ", ".join(f"{h}={rec[h]}" for h in hp_names if h in rec.index and pd.notna(rec[h]))
        top = recommended(table.assign(mismatch=False), best_run_id)
        why = (f"the best {objective} ({_f(rec.get(objective), '.4g')}) of the {len(fin)} finished trial(s)"
               if top is None or top.name == rec.name else
               f"the best {objective} ({_f(rec.get(objective), '.4g')}) among heads whose outputs match their loss; "
               f"trial {top.get('trial')} scored {_f(top.get(objective), '.4g')} but its head does not give probabilities")
        head = f"{rec.get('head_label', 'its head')}" + (f" ({hps})" if hps else "")
        facts = (f"{why}, validation accuracy {_f(rec.get('val_accuracy'), '.1%')} and outputs that sum to "
                 f"{_f(rec.get('val_prob_sum'))}.")
        if bool(rec.get("mismatch")):
            paras.append(f"No trial with a matched head finished, so the best available is trial {rec.get('trial')}: "
                         f"{head}, with {facts} Its outputs are not probabilities either: add softmax with "
                         "sparse_categorical_crossentropy to the search space and sweep again.")
        else:
            paras.append(f"Use trial {rec.get('trial')} instead: {head}. It has {facts}")
        cal = calibration or {}
        val, test = cal.get("val") or {}, cal.get("test") or {}
        t = _num(cal.get("temperature", rec.get("temperature")))
        e0 = _num(val.get("ece_before", rec.get("val_ece")))
        e1 = _num(val.get("ece_after", rec.get("val_ece_calibrated")))
        if t is None and e1 is None:
            paras.append(f"No calibration was recorded for this trial, so only its raw validation ECE ({_f(e0)}) is "
                         "known: fit a temperature on validation data before reading its outputs as probabilities.")
        else:
            side = " (T > 1: the raw model is over-confident)" if t and t > 1 else \
                " (T < 1: the raw model is under-confident)" if t and t < 1 else ""
            text = (f"Its raw largest output has a validation ECE of {_f(e0)}; temperature scaling with T = {_f(t)}"
                    f"{side}, i.e. logits divided by T before the softmax, brings that to {_f(e1)}")
            if _num(val.get("nll_before")) is not None:
                text += f" and the NLL from {_f(val.get('nll_before'))} to {_f(val.get('nll_after'))}"
            if test:
                text += f"; on the test split ECE goes from {_f(test.get('ece_before'))} to {_f(test.get('ece_after'))}"
            paras.append(text + ". Accuracy is unchanged: one temperature cannot reorder the classes.")
        th = threshold or {"threshold": rec.get("threshold"), "val_coverage": rec.get("threshold_val_coverage"),
                           "test_coverage": rec.get("threshold_test_coverage"),
                           "test_precision": rec.get("threshold_test_precision")}
        thr, target = _num(th.get("threshold")), _num(th.get("target_precision"))
        goal = f"{target:.0%} precision" if target is not None else "the target precision"
        if thr is None:
            paras.append("No confidence threshold was recorded for this trial: choose one on validation data as the "
                         "lowest calibrated largest probability whose kept predictions reach your target precision, "
                         "then check it on held-out data.")
        elif th.get("reached") is False:
            paras.append(f"No threshold on the calibrated largest probability reaches {goal} on validation; the best, "
                         f"{_f(thr)}, keeps {_f(th.get('val_coverage'), '.0%')} of examples at "
                         f"{_f(th.get('val_precision'), '.1%')} precision: lower the target or add training data.")
        else:
            text = (f"To pick a threshold: accept a prediction only when its calibrated largest probability is at "
                    f"least {_f(thr)}, the lowest cut-off reaching {goal} on validation; it keeps "
                    f"{_f(th.get('val_coverage'), '.0%')} of the validation examples"
                    + (f" at {_f(th.get('val_precision'), '.1%')} precision."
                       if _num(th.get("val_precision")) is not None else "."))
            if _num(th.get("test_coverage")) is not None:
                text += (f" On the test split the same threshold keeps {_f(th.get('test_coverage'), '.0%')} at "
                         f"{_f(th.get('test_precision'), '.1%')} precision.")
                test_p = _num(th.get("test_precision"))
                if target is not None and test_p is not None and test_p < target - 0.05:
                    text += (" That is well below the target: the validation set is too small (or too unlike the "
                             "test set) to set this threshold reliably; choose it on more labelled data.")
            else:
                text += " There is no test result for it: check it on held-out data before relying on it."
            paras.append(text + " Pick it again whenever the model is retrained: it belongs to this model's calibration.")
    failed = table[table["status"] != FINISHED] if "status" in table.columns else table.iloc[:0]
    if len(failed):
        listed = ", ".join(f"trial {r['trial']} ({r['status']})" for _, r in failed.iterrows())
        paras.append(f"{len(failed)} trial(s) did not finish and are left out of these numbers: {listed}; the "
                     "diagnosis section shows why.")
    return "\n\n".join(paras)


# --- HTML -----------------------------------------------------------------------------------------

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
        return "<p class=\"note\">No trials recorded.</p>"
    fmt = {c: (lambda x: "" if pd.isna(x) else f"{x:.4g}") for c in frame.columns if pd.api.types.is_float_dtype(frame[c])}
    return '<div class="scroll">' + frame.to_html(index=False, escape=True, na_rep="", formatters=fmt, border=0) + "</div>"


def _trial_name(row) -> str:
    return f"trial {row['trial']}"


def _figures(rows: Dict[str, pd.Series], shown: Dict[str, str]) -> tuple:
    """Reliability diagrams and probe plots of the trials in `shown` (run_id -> why it is shown)."""
    reliability, probes = [], []
    for rid, why in shown.items():
        name = f"{_trial_name(rows[rid])}: {rows[rid]['head_label']}"
        reliability.append(_img(plots.reliability_diagram(tracking.read_artifact(rid, "reliability.csv"), name),
                                f"reliability diagram {name}", f"{why} — {name}"))
        probes.append(_img(plots.probe_plot(tracking.read_artifact(rid, "probes.csv"), title=name),
                           f"probe outputs {name}", f"{why} — outputs of fixed validation examples per epoch"))
    return "".join(reliability), "".join(probes)


def _trials_html(table: pd.DataFrame, hp_names: List[str], objective: str, direction: str) -> str:
    cols = ["trial", "status", "head_label", *hp_names, *dict.fromkeys([objective, *SHOWN]), "flags"]
    shown = table.reindex(columns=cols).rename(columns={
        "head_label": "head (activation+loss)", "val_max_prob": "max prob", "val_prob_sum": "prob sum",
        "val_entropy_norm": "entropy (norm)", "val_ece": "ECE", "val_ece_calibrated": "ECE after T",
        "temperature": "T", "threshold_val_coverage": "val coverage"})
    n_fin = int((table["status"] == FINISHED).sum()) if len(table) else 0
    return (f"<p>{len(table)} trial(s), {n_fin} finished, sorted by {html.escape(objective)} ({html.escape(direction)}); "
            "unfinished trials last. ECE is of the raw largest output, ECE after T after temperature scaling; the "
            "threshold and its coverage are on the calibrated largest probability.</p>" + _frame_html(shown))


def _effects_html(effects: pd.DataFrame) -> str:
    wide = effects
    if not effects.empty:
        cells = [f"{m:.4g} ± {0 if pd.isna(s) else s:.2g} (n={n})" if pd.notna(m) else f"n/a (n={n})"
                 for m, s, n in zip(effects["mean"], effects["std"], effects["count"])]
        wide = (effects.assign(cell=cells).pivot_table(index=["hp", "value"], columns="metric", values="cell",
                                                       aggfunc="first", sort=False)
                .rename_axis(columns=None).reset_index())
    return ("<p>Mean ± standard deviation (and count) of each metric over the finished trials that took each value, "
            "by pandas groupby; numeric hyperparameters with many values are binned into quantiles. These are "
            "grouped means with their spread, not a model-based importance: hyperparameters were sampled together, "
            "so a difference here can belong to another hyperparameter.</p>"
            + _frame_html(wide) + _img(plots.effects_plot(effects), "hyperparameter effects"))


def _diagnosis_html(rows: Dict[str, pd.Series]) -> str:
    out = []
    for r in rows.values():
        text = tracking.read_artifact(r["run_id"], "diagnosis.txt")
        body = text if isinstance(text, str) else (
            f"Run {r['status']}: {r['error']}" if r["error"] else "No diagnosis recorded for this run.")
        flags = r["flags"] or ("none" if isinstance(text, str) else "n/a")
        out.append(f"<details><summary>{html.escape(_trial_name(r))} — {html.escape(str(r['head_label']))} — "
                   f"{html.escape(str(r['status']))} — flags: {html.escape(flags)}</summary>"
                   f"<pre>{html.escape(body)}</pre></details>")
    return "".join(out) or '<p class="note">No trials.</p>'


def build_report(experiment_id: str, parent_run_id: str, out_dir: Path) -> Path:
    """Write out_dir/index.html for the sweep under `parent_run_id` and return its path."""
    parent = tracking.get_run(parent_run_id)
    params = parent.data.params
    objective = params.get("search.objective", "val_brier")
    direction = params.get("search.direction", "min")
    hp_names = [k[len("space."):] for k in sorted(params) if k.startswith("space.")]  # the sweep's space summary
    runs = tracking.child_runs(experiment_id, parent_run_id)
    if "tags.kind" in runs.columns:
        runs = runs[runs["tags.kind"].fillna("trial") == "trial"]
    if not hp_names and "params.head" in runs.columns:
        hp_names = ["head"]
    table = trial_table(runs, hp_names, objective, direction)
    rows = {r["run_id"]: r for _, r in table.iterrows()}
    hist = {rid: h for rid in rows if isinstance(h := tracking.read_artifact(rid, "history.csv"), pd.DataFrame)
            and not h.empty}
    table["epochs"] = [len(hist[rid]) if rid in hist else e for rid, e in zip(table["run_id"], table["epochs"])]
    rows = {r["run_id"]: r for _, r in table.iterrows()}
    histories = {_trial_name(rows[rid]): h for rid, h in hist.items()}
    heads = {_trial_name(r): r["head_label"] for r in rows.values()}

    best_run_id = parent.data.tags.get("best_run_id")
    rec, seeds = recommended(table, best_run_id), seed_trials(table)
    found = {name: tracking.read_artifact(rec["run_id"], f"{name}.json") if rec is not None else None
             for name in ("calibration", "threshold")}
    found = {k: v if isinstance(v, dict) else None for k, v in found.items()}
    verdict = verdict_text(table, objective, found["calibration"], found["threshold"],
                           {p: hist[r["run_id"]] for p, r in seeds.items() if r["run_id"] in hist}, best_run_id, hp_names)

    shown = {best_run_id: f"best trial by {objective}"} if best_run_id in rows else {}
    if rec is not None:
        shown.setdefault(rec["run_id"], "recommended trial")
    for p, r in seeds.items():
        shown.setdefault(r["run_id"], f"seed configuration{f', path {p}' if p else ''}")
    reliability, probes = _figures(rows, shown)
    seed_note = "" if seeds else (f'<p class="note">This sweep has no finished trial with the seed\'s configuration '
                                  f"({SEED[0]} + {SEED[1]}), so only the best trial is shown.</p>")
    sections = {
        "verdict": ("Verdict", f'<div class="verdict">{_paras(verdict)}</div>'),
        "trials": ("Trials", _trials_html(table, hp_names, objective, direction)),
        "curves": ("Per-epoch curves", _paras(curves_text(head_summary(histories, heads)))
                   + _img(plots.epoch_curves(histories, heads), "per-epoch curves by head")
                   + f'<h3>Probe examples</h3><div class="figs">{probes}</div>'),
        "reliability": ("Reliability", f'{seed_note}<div class="figs">{reliability}</div>'),
        "effects": ("Hyperparameter effects", _effects_html(effects_table(table, hp_names, [objective, "val_ece"]))),
        "diagnosis": ("Diagnosis per trial", _diagnosis_html(rows)),
    }
    name = html.escape(parent.data.tags.get("sweep") or parent.info.run_name or parent_run_id)
    nav = "".join(f'<a href="#{sid}">{sid}</a>' for sid in sections)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Sweep {name}</title>'
            f"<style>{CSS}</style></head><body><h1>Sweep report: {name}</h1>"
            f'<p class="note">Parent run {html.escape(parent_run_id)}, experiment {html.escape(str(experiment_id))}; '
            f"objective {html.escape(objective)} ({html.escape(direction)}). Everything below is read from MLflow.</p>"
            f"<nav>{nav}</nav>\n" + "".join(_section(sid, t, body) for sid, (t, body) in sections.items())
            + "</body></html>\n")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
