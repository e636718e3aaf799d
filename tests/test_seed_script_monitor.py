"""The seed's own script with ProbabilityMonitor added (benchmarks/seed_script.py --monitor, the two lines of
docs/diagnose.md): the mismatch is flagged before the first epoch, and the loss path is recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "seed_script.py"


@pytest.mark.slow
def test_seed_script_with_the_monitor_flags_the_mismatch_at_start_and_records_path_a(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # A fresh user's shell: no MLFLOW_* from this process (mlflow.set_experiment in earlier tests exports
    # MLFLOW_EXPERIMENT_ID, an experiment the script's new store does not have).
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env = {**clean, "MLFLOW_TRACKING_URI": uri, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "2", "--monitor"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:]
    warned = out.index("HeadLossMismatchWarning")
    assert warned < out.index("Epoch 1/2"), "the mismatch is flagged before training starts"
    assert out.count("HeadLossMismatchWarning") == 1 and "path A" in out[warned : warned + 600]
    assert "Fix: use softmax with a categorical loss" in out
    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert run.data.tags["loss_path"] == "A" and run.data.tags["head"] == "sigmoid+sparse_categorical_crossentropy"
    assert run.data.tags["diag.head_loss_mismatch"] == "true"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_prob_sum")] == [1, 2]
    diagnosis = client.download_artifacts(run.info.run_id, "diagnosis.txt", str(tmp_path))
    assert "path A" in Path(diagnosis).read_text()
