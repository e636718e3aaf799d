"""Shared fixtures: the real Hydra config, shrunk to a tiny model and data set, with a temporary store."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest
from hydra import compose, initialize_config_dir

from probsweep.config import CONF_DIR, register

register()

# A few seconds per training on 2 cores: 6 classes, short texts, a small network, no XLA compile.
TINY = [
    "data.synthetic.n_classes=6",
    "data.synthetic.n_groups=2",
    "data.synthetic.train_per_class=12",
    "data.synthetic.val_per_class=6",
    "data.synthetic.test_per_class=6",
    "data.synthetic.min_len=8",
    "data.synthetic.max_len=30",
    "data.max_len=30",
    "model.embed_dim=16",
    "model.gru_units=8",
    "model.conv_filters=8",
    "train.epochs=2",
    "train.jit_compile=false",
    "train.batch_size=16",
]

# The speed switches (issue 11) at the previous approach's values: tests/test_speed.py checks these give
# the same numbers as the defaults, and benchmarks/sweep_speed.py, epoch_speed.py, sweep_memory.py time them.
SPEED_SWITCHES_OFF = [
    "train.single_validation_pass=false",
    "train.steps_per_execution=1",
    "train.clear_session=false",
    "train.one_loop_bidirectional=false",
    "train.trace_once=false",
    "train.fixed_prefetch=false",
    "train.overlap_compile=false",
]


def compose_config(overrides=()):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store and sweeps folder under tmp_path."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return {"uri": uri, "sweeps": str(tmp_path / "sweeps"), "tmp": tmp_path}


@pytest.fixture
def tiny(store):
    """Compose the real config with TINY and the temporary store/sweeps folder, plus extra overrides."""

    def make(*extra):
        saved = f"train.save_model={store['tmp'] / 'models' / 'model.keras'}"  # never the checkout's models/
        return compose_config([*TINY, f"sweep.dir={store['sweeps']}", saved, *extra])

    return make


@pytest.fixture(scope="session")
def postgres_uri():
    """A real throwaway PostgreSQL cluster for the whole session (tests/pgcluster.py)."""
    from pgcluster import throwaway_cluster

    with throwaway_cluster() as uri:
        yield uri
