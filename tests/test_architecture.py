"""The layering contracts: models/, the pipeline, the store and the exporters never import Qt, and the
import-linter contracts in pyproject.toml hold."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_FREE = ["models", "app/pipeline", "app/store", "app/ingest", "app/export", "app/eval", "app/demo"]
FORBIDDEN = ("PySide6", "pyqtgraph", "qasync", "app.ui", "shiboken6")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_qt_below_the_ui() -> None:
    offenders = []
    checked = 0
    for folder in QT_FREE:
        for path in (ROOT / folder).rglob("*.py"):
            checked += 1
            for name in imported_modules(path):
                if name.startswith(FORBIDDEN):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert checked > 20
    assert offenders == []


def test_the_checker_sees_a_qt_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6.QtWidgets import QWidget\n")
    assert any(n.startswith(FORBIDDEN) for n in imported_modules(bad))


def test_the_import_contracts_hold() -> None:
    """pyproject.toml's import-linter contracts (Qt only in the UI, models below app, the layers of
    CONTEXT.md, so no import cycle such as store <-> ingest) checked by the test suite, not only by hand."""
    import contextlib
    import io

    from importlinter import cli  # in the test extras, like pytest: missing it is a broken setup

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == 0, out.getvalue()
