"""The self-contained code blocks of docs/diagnose.md run as written (the two-line fragment for the seed's
script is run by tests/test_seed_script_monitor.py, the commands by tests/test_diagnose.py)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "diagnose.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if b.startswith("import keras")]


def test_the_page_has_its_blocks():
    assert len(BLOCKS) == 2 and "from probsweep.keras import ProbabilityMonitor" in DOC.read_text()


@pytest.mark.parametrize("block", BLOCKS, ids=["monitor", "check"])
def test_block_runs(block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(block, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "val_prob_sum" in out or "False A True" in out
