"""The package's layering rules, read from the source: only the tracking package imports mlflow."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "probsweep"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_tracking_package_imports_mlflow():
    offenders = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "tracking" not in p.relative_to(SRC).parts[:1] and "mlflow" in _imported(p)
    )
    assert offenders == []
    inside = [p for p in (SRC / "tracking").glob("*.py") if "mlflow" in _imported(p)]
    assert inside, "the tracking package itself imports mlflow"


def test_the_tracking_server_module_starts_processes_without_calling_mlflow():
    assert "mlflow" not in _imported(SRC / "tracking" / "server.py")
