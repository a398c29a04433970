"""docs/architecture.md's "may import" column holds for every module in ``processor/``.

The table is the layering as written for maintainers; this test makes it binding: every
``import``/``from`` statement at any depth (function-level imports count, ``if
TYPE_CHECKING:`` blocks do not) and every ``importlib.import_module("literal")`` is an edge
from the importing module's top-level unit (``router`` for ``processor/router/core.py``,
``clock`` for ``processor/clock.py``) to the imported one, and each edge must be listed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "processor"
DOC = ROOT / "docs" / "architecture.md"
ROW = re.compile(r"^\| `([\w.]+)` \| [^|]+ \| ([^|]+) \|$")


def allowed() -> dict[str, set[str] | None]:
    """unit -> the units it may import (``None``: everything), read from the doc's table."""
    table: dict[str, set[str] | None] = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line.strip())
        if match is None:
            continue
        unit, cell = match.groups()
        cell = cell.strip()
        table[unit] = None if cell == "everything" else set(re.findall(r"`([\w.]+)`", cell))
    return table


def _unit(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(path: Path) -> set[str]:
    """Top-level units of ``processor`` (or ``kbridge_demo``) that ``path`` imports."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "processor":  # submodules; other names come from __init__
                names.extend(
                    f"processor.{alias.name}"
                    for alias in node.names
                    if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file()
                )
            else:
                names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    units = set()
    for name in names:
        parts = name.split(".")
        if parts[0] == "processor" and len(parts) > 1:
            units.add(parts[1])
        elif parts[0] == "kbridge_demo":
            units.add("kbridge_demo")
    return units


def test_every_unit_is_in_the_table() -> None:
    table = allowed()
    units = {
        _unit(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE
    }
    missing = sorted(units - set(table))
    assert not missing, f"add a row to docs/architecture.md for: {missing}"
    stale = sorted(set(table) - units)
    assert not stale, f"docs/architecture.md lists units that do not exist: {stale}"


def test_no_import_outside_the_table() -> None:
    table = allowed()
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        unit = _unit(path)
        permitted = table.get(unit, set())
        if permitted is None:
            continue
        for target in sorted(imported(path) - {unit} - permitted):
            wrong.append(f"{path.relative_to(ROOT)} imports {target} ({unit} may import: "
                         f"{', '.join(sorted(permitted)) or 'nothing'})")
    assert not wrong, "imports the layering in docs/architecture.md forbids:\n" + "\n".join(
        wrong
    )


def test_process_packages_never_import_each_other() -> None:
    """The design's rule, independent of how the table is edited."""
    processes = {"gateway", "sources", "router", "sinks"}
    table = allowed()
    for unit in processes:
        permitted = table[unit]
        assert permitted is not None and not (permitted & processes), unit


def test_the_checker_sees_function_level_and_importlib_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n    from processor.router import core\n"
        "def f():\n    from processor.sinks.base import Sink\n"
        "    importlib.import_module('processor.gateway.app')\n"
        "from processor import __version__, errors\n"
    )
    assert imported(module) == {"sinks", "gateway", "errors"}
