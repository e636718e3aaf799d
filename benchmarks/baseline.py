"""How long the sweep's linear baseline takes, and what it reaches, on a configured data set.

Fits `probsweep.train.baseline` (TF-IDF word 1-2-grams + char_wb 2-5-grams, logistic regression)
`--repeats` times on the data the Hydra overrides select, and prints the fit time of each repeat
and, through the same analysis as a trial, validation/test accuracy, ECE before and after
temperature scaling and, where the data has out-of-scope rows, the rejection figures.

    PYTHONPATH=src .venv/bin/python benchmarks/baseline.py                    # the embedded data
    PYTHONPATH=src .venv/bin/python benchmarks/baseline.py data=file data.path=intents.csv \\
        data.split_column=split data.oos_label=oos
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from probsweep.config import CONF_DIR, register, validate  # noqa: E402
from probsweep.data.loading import load_dataset  # noqa: E402
from probsweep.probs.analysis import analyse  # noqa: E402
from probsweep.train.baseline import fit_baseline  # noqa: E402
from probsweep.train.tracked import BASELINE_HEAD  # noqa: E402


def main(argv) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args, overrides = parser.parse_known_args(argv)
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=overrides))
    t0 = time.perf_counter()
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    train = data.frame.text[data.frame.split == "train"].tolist()
    r = data.report
    print(
        f"data: {r['n_train']} train / {r['n_val']} val / {r['n_test']} test, {data.n_classes} classes, "
        f"{r['n_oos']} out-of-scope; mean {pd.Series(train).str.split().str.len().mean():.1f} words per training "
        f"text; loaded in {time.perf_counter() - t0:.1f} s"
    )
    for i in range(args.repeats):
        fitted = fit_baseline(train, data.y_train, cfg.seed)
        t = time.perf_counter()
        p_val, p_test = fitted.predict_proba(data.texts_val), fitted.predict_proba(data.texts_test)
        predict_s = time.perf_counter() - t
        print(f"repeat {i + 1}: fit {fitted.fit_seconds:.1f} s, predict val+test {predict_s:.1f} s")
    has_test = len(data.y_test) > 0
    found = analyse(
        BASELINE_HEAD,
        p_val,
        data.y_val,
        raw_test=p_test if has_test else None,
        y_test=data.y_test if has_test else None,
        target_precision=cfg.train.target_precision,
        class_names=data.class_names,
    )
    m = found.metrics
    in_val = data.y_val >= 0
    val_acc = (p_val[in_val].argmax(axis=1) == data.y_val[in_val]).mean()
    print(
        f"val accuracy {val_acc:.4f}  test accuracy {m.get('test_accuracy', float('nan')):.4f}  "
        f"test ECE {m.get('test_ece', float('nan')):.4f} -> {m.get('test_ece_calibrated', float('nan')):.4f} "
        f"after T = {m['temperature']:.3g}"
    )
    if "oos_threshold" in m:
        print(
            f"out of scope: threshold {m['oos_threshold']:.3f} (validation); in-scope accuracy "
            f"{m['oos_in_scope_accuracy']:.4f}, out-of-scope recall {m['oos_recall']:.4f}, AUROC {m['oos_auroc']:.4f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
