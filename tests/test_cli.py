"""The entry points: one behaviour whichever way a command is started, conf/ inside the package,
and `report`/`ui` without TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import probsweep
from probsweep import cli
from probsweep.config import CONF_DIR

SRC = Path(probsweep.__file__).resolve().parents[1]  # the src/ folder these tests import
PROJECT = SRC.parent
# Exactly what the `probsweep` console script does (pip writes this shim into .venv/bin/probsweep).
CONSOLE_SCRIPT = "import sys; from probsweep.cli import main; sys.argv[0] = 'probsweep'; sys.exit(main())"


def run(args, cwd=None, pythonpath=SRC):
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_console_script_is_the_dispatcher():
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"probsweep": "probsweep.cli:main"}


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_bad_override_gets_the_same_one_line_whichever_entry_is_used(command):
    bad = "model.activaton=softmax"
    entries = {
        "module": ["-m", f"probsweep.cli.{command}", bad],
        "console script": ["-c", CONSOLE_SCRIPT, command, bad],
        "python -m probsweep": ["-m", "probsweep", command, bad],
    }
    errors = {}
    for name, args in entries.items():
        done = run(args)
        assert done.returncode == 2, (name, done.stderr[-2000:])
        assert done.stdout == "" and done.stderr.count("\n") == 1, (name, done.stderr[-2000:])
        errors[name] = done.stderr
    assert len(set(errors.values())) == 1, errors
    assert "Key 'activaton' not in 'ModelConfig'" in errors["module"]
    assert errors["module"].startswith("error: ") and cli.WHERE_KEYS in errors["module"]


def test_argparse_entries_share_the_decorator_bad_input_is_one_line(tmp_path):
    done = run(["-m", "probsweep", "report", "no-such-sweep", "--sweeps-dir", str(tmp_path)])
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: no sweep 'no-such-sweep'")


def test_the_dispatcher_names_an_unknown_or_missing_command_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["probsweep", "trian"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2 and "usage: probsweep {train,sweep," in capsys.readouterr().err
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "teleport"))
    monkeypatch.setattr(sys, "argv", ["probsweep", "teleport"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "no module probsweep.cli.teleport" in err


def test_report_and_ui_start_without_tensorflow():
    code = (
        "import sys, probsweep.cli.report, probsweep.cli.ui, probsweep.report.page, probsweep.tracking; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))"
    )
    done = run(["-c", code])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_a_wheel_carries_the_conf_yamls_and_finds_them_installed(tmp_path):
    """Built offline (the test extra pins setuptools); unpacked, the package composes its own conf/."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (copy / name).write_bytes((PROJECT / name).read_bytes())
    subprocess.run(["cp", "-r", str(SRC), str(copy / "src")], check=True)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp_path / "dist"),
            str(copy),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("probsweep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    yamls = {f"probsweep/conf/{p.relative_to(CONF_DIR).as_posix()}" for p in CONF_DIR.rglob("*.yaml")}
    assert "probsweep/conf/config.yaml" in yamls and "probsweep/conf/search/default.yaml" in yamls
    assert yamls <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "probsweep = probsweep.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    # Installed (unpacked) away from any checkout: conf/ comes from the package, outputs go to the cwd.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    where = run(
        ["-c", "from probsweep.config import CONF_DIR, PROJECT_ROOT; print(CONF_DIR); print(PROJECT_ROOT)"],
        cwd=work,
        pythonpath=site,
    )
    assert where.stdout.split() == [str(site / "probsweep" / "conf"), str(work)]
    bad = run(["-m", "probsweep", "train", "search=nope"], cwd=work, pythonpath=site)
    assert bad.returncode == 2 and "Could not find 'search/nope'" in bad.stderr and bad.stderr.count("\n") == 1
