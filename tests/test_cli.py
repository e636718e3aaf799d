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
    assert "unknown config key 'model.activaton': did you mean model.activation?" in errors["module"]
    assert errors["module"].startswith("error: ")


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


HEAVY = ("tensorflow", "keras", "mlflow", "keras_tuner")
# Runs one command in-process, then prints its exit code and which heavy modules it had imported.
IMPORTS_AT_EXIT = (
    "import sys\n"
    "from probsweep.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    print(exc.code, sorted(m for m in {heavy} if m in sys.modules))\n"
)


@pytest.mark.parametrize(
    "args,named",
    [
        (["train", "+model.activaton=softmax"], "did you mean model.activation?"),
        (["train", "train.epochs=0"], "train.epochs=0 must be at least 1"),
        (["sweep", "data.max_len=-5"], "data.max_len=-5 must be at least 1"),
        (["train", "model.dropout=2"], "model.dropout=2.0 must be in [0, 1)"),
        (["train", "data=file", "data.path=/no/such/file.csv"], "data file not found: /no/such/file.csv"),
        (["worker", "sweep.name=../x"], "must be a plain name"),
        (["best", "no-such-sweep"], "no sweep 'no-such-sweep'"),
    ],
)
def test_errors_that_need_no_data_come_before_tensorflow_keras_and_mlflow(args, named):
    code = IMPORTS_AT_EXIT.format(heavy=HEAVY)
    done = run(["-c", code, *args])
    *err_lines, last = done.stderr.splitlines() or [""]
    assert done.stdout.strip() == "2 []", (done.stdout, done.stderr[-2000:])  # exit 2, none of them imported
    assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr


def test_tensorflow_start_up_logging_stays_off_the_terminal_unless_asked():
    code = "from probsweep.cli import import_tensorflow_quietly as q; q(); import tensorflow as tf; print(tf.add(1, 1))"
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", cli.TF_LOGS_ENV)}
    env["PYTHONPATH"] = str(SRC)
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "tf.Tensor(2" in quiet.stdout, quiet.stderr
    assert quiet.stderr == ""
    env[cli.TF_LOGS_ENV] = "1"
    loud = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and "oneDNN" in loud.stderr  # TensorFlow's own start-up notice, when asked for
