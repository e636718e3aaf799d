"""The report's verdict: the sweep's answer in plain language, composed from its trial table alone.

The verdict is the report's argument (what the seed's sigmoid + sparse_categorical_crossentropy
head does to its outputs, which trial to use instead, how to calibrate it and pick a threshold),
and it is where wording and numbers can go wrong. It lives apart from the HTML so it can be read
and tested on a hand-made table: this module is pure (pandas and numpy only; no MLflow, no
matplotlib). report.page reads the runs and artifacts and passes them in; the tables it
shows, and the number format, are report.tables'.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from probsweep.head import COLLAPSE_WHY, SATURATION_WHY, SEED_HEAD
from probsweep.probs.diagnosis import COLLAPSE_MAX, SATURATION_MAX, SATURATION_SUM
from probsweep.report.tables import BASELINE, FINISHED
from probsweep.report.tables import fmt as _f
from probsweep.report.tables import num as _num

__all__ = [
    "family_paragraph",
    "is_seed",
    "seed_trials",
    "recommended",
    "baseline_row",
    "beats_baseline",
    "handed_over",
    "verdict_text",
]

BASELINE_NAME = "TF-IDF (word 1-2-grams, character 2-5-grams) + logistic regression"

SEED = (SEED_HEAD.activation.value, SEED_HEAD.loss.value)  # the seed's head and loss, as the table holds them


def _finished(table: pd.DataFrame) -> pd.DataFrame:
    """Finished trials; the baseline row is not a trial."""
    fin = table[table["status"] == FINISHED] if "status" in table.columns else table
    return fin[fin["trial"] != BASELINE] if "trial" in fin.columns else fin


def baseline_row(table: pd.DataFrame) -> pd.Series | None:
    """The baseline's row (finished if one finished), or None when the sweep fitted none."""
    if "trial" not in table.columns:
        return None
    rows = table[table["trial"] == BASELINE]
    if rows.empty:
        return None
    done = rows[rows["status"] == FINISHED] if "status" in rows.columns else rows
    return (done if len(done) else rows).iloc[0]


def beats_baseline(rec: pd.Series | None, base: pd.Series | None, objective: str, direction: str) -> bool | None:
    """True when the trial is strictly better than the baseline on the objective (validation); a tie goes
    to the simpler model. None when either number is missing."""
    a = _num(rec.get(objective)) if rec is not None else None
    b = _num(base.get(objective)) if base is not None and base.get("status", FINISHED) == FINISHED else None
    if a is None or b is None:
        return None
    return a < b if direction == "min" else a > b


def is_seed(table: pd.DataFrame) -> pd.Series:
    """Rows with the seed's pairing: sigmoid outputs trained with sparse_categorical_crossentropy."""
    return (table.get("activation", pd.Series(index=table.index, dtype=object)) == SEED[0]) & (
        table.get("loss", pd.Series(index=table.index, dtype=object)) == SEED[1]
    )


def seed_trials(table: pd.DataFrame) -> dict[str, pd.Series]:
    """Path -> the finished seed-config trial with the most epochs (ties: the better objective)."""
    seed = _finished(table[is_seed(table)])
    if seed.empty:
        return {}
    seed = seed.assign(
        _e=pd.to_numeric(seed.get("epochs"), errors="coerce").fillna(0),
        _p=seed.get("path", pd.Series("", index=seed.index)).fillna("").astype(str),
    )
    ordered = seed.sort_values("_e", ascending=False, kind="stable")  # stable: table order breaks ties
    return {p: g.iloc[0].drop(["_e", "_p"]) for p, g in sorted(ordered.groupby("_p", sort=False), key=lambda t: t[0])}


def recommended(table: pd.DataFrame, best_run_id: str | None = None) -> pd.Series | None:
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


def _level(m: float | None, s: float | None, m_first: float | None = None) -> str:
    if m is not None and m < COLLAPSE_MAX:
        return f"the outputs have collapsed towards 0 ({COLLAPSE_WHY})"
    if m is not None and s is not None and s > SATURATION_SUM and m > SATURATION_MAX:
        return f"the outputs have saturated: many are near 1 at once ({SATURATION_WHY})"
    if m is not None and s is not None and m_first is not None and s < 1 and m < m_first / 2:
        return (
            "the outputs are drifting towards 0: they no longer sum to 1 and the largest has lost more than "
            f"half its level while accuracy rose ({COLLAPSE_WHY})"
        )
    return "their level is whatever training left it at"


def _seed_paragraph(table: pd.DataFrame, seed_histories: dict[str, pd.DataFrame]) -> str:
    seed = table[is_seed(table)]
    if seed.empty:
        return (
            "This sweep has no trial with the seed's configuration (sigmoid outputs trained with "
            "sparse_categorical_crossentropy), so it cannot show that configuration failing; add the "
            "seed-mismatch heads to the search space to see it."
        )
    fin = _finished(seed)
    if fin.empty:
        return (
            f"All {len(seed)} trial(s) with the seed's configuration (sigmoid + sparse_categorical_crossentropy) "
            "failed, so this sweep has no numbers for it: see the diagnosis section."
        )
    sums = pd.to_numeric(fin.get("val_prob_sum"), errors="coerce").dropna()
    out = [
        "The seed's configuration, sigmoid outputs trained with sparse_categorical_crossentropy, does not give "
        "probabilities. The loss treats each row of outputs as one distribution over the classes, but the "
        "sigmoids are independent numbers: "
        + (
            f"in this sweep's {len(fin)} finished seed-config trial(s) an example's outputs sum to "
            f"{sums.mean():.3g} on average at the last epoch (from {sums.min():.3g} to {sums.max():.3g}), where a "
            "distribution sums to exactly 1."
            if len(sums)
            else "their output sums were not recorded."
        )
    ]
    levels, paths = [], []
    for path, row in seed_trials(table).items():
        h = seed_histories.get(path)
        name = f"Path {path}" if path else "The seed-config trial"
        if isinstance(h, pd.DataFrame) and not h.empty and "val_max_prob" in h.columns:
            first, last = h.iloc[0], h.iloc[-1]
            m1, m2, s1, s2 = (
                _num(first.get("val_max_prob")),
                _num(last.get("val_max_prob")),
                _num(first.get("val_prob_sum")),
                _num(last.get("val_prob_sum")),
            )
            e = int(_num(last.get("epoch")) or len(h))
            paths.append(
                f"{name} (trial {row['trial']}): after epoch 1 the largest output averages {_f(m1)} and the "
                f"outputs sum to {_f(s1)}; after epoch {e} the largest output averages {_f(m2)} and they sum "
                f"to {_f(s2)}: {_level(m2, s2, m1)}."
            )
            levels += [v for v in (m1, m2) if v is not None]
        else:
            m2, s2 = _num(row.get("val_max_prob")), _num(row.get("val_prob_sum"))
            paths.append(
                f"{name} (trial {row['trial']}, {_f(row.get('epochs'), '.0f')} epochs): at the end the largest "
                f"output averages {_f(m2)} and the outputs sum to {_f(s2)}: {_level(m2, s2)}."
            )
            levels += [m2] if m2 is not None else []
    lo, hi = (min(levels), max(levels)) if levels else (None, None)
    if lo is not None and hi is not None and (hi - lo > 0.2 or hi > 2 * max(lo, 1e-12)):
        spread = (
            f" Across epochs and paths the mean largest output ranges from {lo:.3g} to {hi:.3g}, so the same "
            "cut-off means a confident prediction for one model and nothing for another."
        )
    elif lo is not None:
        spread = (
            f" In this sweep the level moved little ({lo:.3g} to {hi:.3g}), but the loss holds it nowhere, "
            "so longer training or the other loss path can move it anywhere."
        )
    else:
        spread = ""
    acc = pd.to_numeric(fin.get("val_accuracy"), errors="coerce").dropna()
    out = [out[0], " ".join(paths)] if paths else out
    out.append(
        "That is why no fixed threshold can work: nothing in the loss pins the outputs' level, so it depends "
        "on training length and loss path, and outputs that are not a distribution give a threshold no fixed "
        "precision."
        + spread
        + (
            f" The ranking can still be right (seed-config validation accuracy up to {acc.max():.1%}); it is "
            "the numbers that mean nothing."
            if len(acc)
            else ""
        )
    )
    return "\n\n".join(out)


def _failed(table: pd.DataFrame) -> pd.DataFrame:
    """Trials that did not finish (the baseline's own status is said in its paragraph)."""
    if "status" not in table.columns:
        return table.iloc[:0]
    failed = table[table["status"] != FINISHED]
    return failed[failed["trial"] != BASELINE] if "trial" in failed.columns else failed


def _name_of(row: pd.Series) -> str:
    return "the baseline" if row.get("trial") == BASELINE else f"trial {row.get('trial')}"


def _baseline_paragraph(table: pd.DataFrame, rec: pd.Series | None, objective: str, direction: str) -> str:
    """Did tuning beat the simple thing? With the numbers, and which model to use."""
    base = baseline_row(table)
    if base is None:
        return (
            "This sweep fitted no linear baseline (search.baseline=false), so it cannot say whether the tuned "
            "network beats the simple thing; leave search.baseline on to see it."
        )
    if base.get("status") != FINISHED:
        return f"The linear baseline ({BASELINE_NAME}) did not finish ({base.get('status')}): see its run's error."
    b_acc, b_test = _f(base.get("val_accuracy"), ".1%"), _num(base.get("test_accuracy"))
    if rec is None:
        return (
            f"Only the linear baseline ({BASELINE_NAME}) finished: validation accuracy {b_acc}"
            + (f", test accuracy {b_test:.1%}" if b_test is not None else "")
            + ". Use it: `make best` registers it."
        )
    wins = beats_baseline(rec, base, objective, direction)
    better = "lower" if direction == "min" else "higher"
    r_test = _num(rec.get("test_accuracy"))
    numbers = (
        f"{objective} {_f(rec.get(objective), '.4g')} against the baseline's {_f(base.get(objective), '.4g')} on "
        f"validation ({better} is better); validation accuracy {_f(rec.get('val_accuracy'), '.1%')} against {b_acc}"
        + (f", test accuracy {r_test:.1%} against {b_test:.1%}" if r_test is not None and b_test is not None else "")
    )
    if wins is None:
        return (
            f"The linear baseline ({BASELINE_NAME}) finished, but {objective} is missing for it or for trial "
            f"{rec.get('trial')}, so they cannot be compared on it: validation accuracy "
            f"{_f(rec.get('val_accuracy'), '.1%')} "
            f"against {b_acc}."
        )
    if wins:
        return (
            f"Trial {rec.get('trial')} beats the linear baseline ({BASELINE_NAME}): {numbers}. `make best` "
            f"registers trial {rec.get('trial')}."
        )
    return (
        f"Trial {rec.get('trial')} does NOT beat the linear baseline ({BASELINE_NAME}): {numbers}. Use the "
        f"baseline: `make best` registers it instead of the network, with its own temperature "
        f"(T = {_f(base.get('temperature'))}) and threshold ({_f(base.get('threshold'))} on the calibrated largest "
        f"probability, keeping {_f(base.get('threshold_val_coverage'), '.0%')} of validation examples). In this "
        "sweep the network, as searched, does not reach what a linear model fitted in "
        f"{_f(base.get('epoch_seconds'), '.0f')} s does."
    )


def family_paragraph(table: pd.DataFrame, objective: str, direction: str) -> str:
    """Which model family won, by how much over the best of each other family, and against the baseline.
    Empty when the finished trials are of one family only (the seed's question)."""
    fin = _finished(table)
    if "family" not in fin.columns or fin.empty:
        return ""
    fin = fin.assign(_score=pd.to_numeric(fin[objective], errors="coerce")).dropna(subset=["_score"])
    if fin["family"].nunique() < 2:
        return ""
    best = fin.sort_values("_score", ascending=direction == "min", kind="stable").groupby("family", sort=False).head(1)
    win, others = best.iloc[0], best.iloc[1:]
    margin = ", ".join(
        f"{r['family']} (trial {r['trial']}: {_f(r['_score'], '.4g')}, by {_f(abs(win['_score'] - r['_score']), '.3g')})"  # noqa: E501
        for _, r in others.iterrows()
    )
    counts = ", ".join(f"{k} {v}" for k, v in fin["family"].value_counts().items())
    text = (
        f"The {win['family']} family won: trial {win['trial']} has the best {objective}, {_f(win['_score'], '.4g')} "
        f"on validation, ahead of the best of each other family: {margin}. Finished trials per family: {counts}."
    )
    base = baseline_row(table)
    b = _num(base.get(objective)) if base is not None and base.get("status") == FINISHED else None
    if base is not None and b is not None:
        side = "beats it by" if beats_baseline(win, base, objective, direction) else "falls short of it by"
        text += f" Against the linear baseline ({_f(b, '.4g')}), the {win['family']} family {side} " + _f(
            abs(float(win["_score"]) - float(b)), ".3g"
        )
        w_test, b_test = _num(win.get("test_accuracy")), _num(base.get("test_accuracy"))
        if w_test is not None and b_test is not None:
            text += f" (test accuracy {w_test:.1%} against {b_test:.1%})"
        text += "."
    return text


def _oos_paragraph(chosen: pd.Series, other: pd.Series | None) -> str:
    """Out-of-scope rejection of the model `make best` hands over (and the other one, for comparison)."""
    if _num(chosen.get("oos_threshold")) is None:
        return ""

    def figures(row: pd.Series) -> str:
        return (
            f"in-scope accuracy {_f(row.get('oos_in_scope_accuracy'), '.1%')}, out-of-scope recall "
            f"{_f(row.get('oos_recall'), '.1%')}, AUROC {_f(row.get('oos_auroc'), '.3f')}"
        )

    text = (
        f"Out-of-scope queries: with {_name_of(chosen)}, reject a prediction as out of scope when its calibrated "
        f"largest probability is below {_f(chosen.get('oos_threshold'), '.3f')} (chosen on validation, where it "
        f"maximises accuracy with out-of-scope as one more class). On the test split this gives {figures(chosen)} "
        "(a rejected in-scope query counts as an error; AUROC is how well the largest probability separates "
        "in-scope from out-of-scope queries, whatever the threshold)."
    )
    if other is not None and _num(other.get("oos_threshold")) is not None:
        text += (
            f" For comparison, {_name_of(other)}: threshold {_f(other.get('oos_threshold'), '.3f')}, {figures(other)}."
        )
    return text


def handed_over(
    table: pd.DataFrame, objective: str, direction: str, best_run_id: str | None = None
) -> pd.Series | None:
    """The row of the model `make best` registers: the recommended trial, or the baseline when it is better."""
    rec, base = recommended(table, best_run_id), baseline_row(table)
    if (
        base is not None
        and base.get("status") == FINISHED
        and (rec is None or beats_baseline(rec, base, objective, direction) is False)
    ):
        return base
    return rec


def verdict_text(
    table: pd.DataFrame,
    objective: str,
    calibration: dict | None = None,
    threshold: dict | None = None,
    seed_histories: dict[str, pd.DataFrame] | None = None,
    best_run_id: str | None = None,
    hp_names: Iterable[str] = (),
    direction: str = "min",
) -> str:
    """Plain-language answer with this sweep's numbers; paragraphs separated by blank lines.

    `table` is trial_table's frame (columns it lacks count as unknown), `calibration` and
    `threshold` the recommended trial's calibration.json/threshold.json (else its metrics are
    used), `seed_histories` path -> history of seed_trials(table). Pure: no MLflow.
    """
    paras = [_seed_paragraph(table, seed_histories or {})]
    rec, fin = recommended(table, best_run_id), _finished(table)
    if rec is None:
        paras.append(
            "No trial finished, so there is no configuration to recommend yet: rerun the sweep "
            "(finished trials are kept) and build the report again."
        )
    else:
        hps = ", ".join(f"{h}={rec[h]}" for h in hp_names if h in rec.index and pd.notna(rec[h]))
        top = recommended(table.assign(mismatch=False), best_run_id)
        why = (
            f"the best {objective} ({_f(rec.get(objective), '.4g')}) of the {len(fin)} finished trial(s)"
            if top is None or top.name == rec.name
            else f"the best {objective} ({_f(rec.get(objective), '.4g')}) among heads whose outputs match their loss; "
            f"trial {top.get('trial')} scored {_f(top.get(objective), '.4g')} but its head does not give probabilities"
        )
        head = f"{rec.get('head_label', 'its head')}" + (f" ({hps})" if hps else "")
        facts = (
            f"{why}, validation accuracy {_f(rec.get('val_accuracy'), '.1%')} and outputs that sum to "
            f"{_f(rec.get('val_prob_sum'))}."
        )
        if bool(rec.get("mismatch")):
            paras.append(
                f"No trial with a matched head finished, so the best available is trial {rec.get('trial')}: "
                f"{head}, with {facts} Its outputs are not probabilities either: add softmax with "
                "sparse_categorical_crossentropy to the search space and sweep again."
            )
        else:
            paras.append(f"Use trial {rec.get('trial')} instead: {head}. It has {facts}")
        cal = calibration or {}
        val, test = cal.get("val") or {}, cal.get("test") or {}
        t = _num(cal.get("temperature", rec.get("temperature")))
        e0 = _num(val.get("ece_before", rec.get("val_ece")))
        e1 = _num(val.get("ece_after", rec.get("val_ece_calibrated")))
        if t is None and e1 is None:
            paras.append(
                f"No calibration was recorded for this trial, so only its raw validation ECE ({_f(e0)}) is "
                "known: fit a temperature on validation data before reading its outputs as probabilities."
            )
        else:
            side = (
                " (T > 1: the raw model is over-confident)"
                if t and t > 1
                else " (T < 1: the raw model is under-confident)"
                if t and t < 1
                else ""
            )
            text = (
                f"Its raw largest output has a validation ECE of {_f(e0)}; temperature scaling with T = {_f(t)}"
                f"{side}, i.e. logits divided by T before the softmax, brings that to {_f(e1)}"
            )
            if _num(val.get("nll_before")) is not None:
                text += f" and the NLL from {_f(val.get('nll_before'))} to {_f(val.get('nll_after'))}"
            if test:
                text += f"; on the test split ECE goes from {_f(test.get('ece_before'))} to {_f(test.get('ece_after'))}"
            paras.append(text + ". Accuracy is unchanged: one temperature cannot reorder the classes.")
        th = threshold or {
            "threshold": rec.get("threshold"),
            "val_coverage": rec.get("threshold_val_coverage"),
            "test_coverage": rec.get("threshold_test_coverage"),
            "test_precision": rec.get("threshold_test_precision"),
        }
        thr, target = _num(th.get("threshold")), _num(th.get("target_precision"))
        goal = f"{target:.0%} precision" if target is not None else "the target precision"
        if thr is None:
            paras.append(
                "No confidence threshold was recorded for this trial: choose one on validation data as the "
                "lowest calibrated largest probability whose kept predictions reach your target precision, "
                "then check it on held-out data."
            )
        elif th.get("reached") is False:
            paras.append(
                f"No threshold on the calibrated largest probability reaches {goal} on validation; the best, "
                f"{_f(thr)}, keeps {_f(th.get('val_coverage'), '.0%')} of examples at "
                f"{_f(th.get('val_precision'), '.1%')} precision: lower the target or add training data."
            )
        else:
            text = (
                f"To pick a threshold: accept a prediction only when its calibrated largest probability is at "
                f"least {_f(thr)}, the lowest cut-off reaching {goal} on validation; it keeps "
                f"{_f(th.get('val_coverage'), '.0%')} of the validation examples"
                + (
                    f" at {_f(th.get('val_precision'), '.1%')} precision."
                    if _num(th.get("val_precision")) is not None
                    else "."
                )
            )
            if _num(th.get("test_coverage")) is not None:
                text += (
                    f" On the test split the same threshold keeps {_f(th.get('test_coverage'), '.0%')} at "
                    f"{_f(th.get('test_precision'), '.1%')} precision."
                )
                test_p = _num(th.get("test_precision"))
                if target is not None and test_p is not None and test_p < target - 0.05:
                    text += (
                        " That is well below the target: the validation set is too small (or too unlike the "
                        "test set) to set this threshold reliably; choose it on more labelled data."
                    )
            else:
                text += " There is no test result for it: check it on held-out data before relying on it."
            paras.append(
                text + " Pick it again whenever the model is retrained: it belongs to this model's calibration."
            )
    paras.append(family_paragraph(table, objective, direction))
    paras.append(_baseline_paragraph(table, rec, objective, direction))
    chosen = handed_over(table, objective, direction, best_run_id)
    if chosen is not None:
        other = rec if chosen.get("trial") == BASELINE else baseline_row(table)
        paras.append(_oos_paragraph(chosen, other if other is not None and other.get("status") == FINISHED else None))
    paras = [p for p in paras if p]
    failed = _failed(table)
    if len(failed):
        listed = ", ".join(f"trial {r['trial']} ({r['status']})" for _, r in failed.iterrows())
        paras.append(
            f"{len(failed)} trial(s) did not finish and are left out of these numbers: {listed}; the "
            "diagnosis section shows why."
        )
    return "\n\n".join(paras)
