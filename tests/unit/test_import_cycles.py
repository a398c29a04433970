"""No import cycle anywhere in ``processor/`` (issue 20 item 2).

The graph has an edge A -> B when module A imports B: ``import``/``from`` statements at any
depth (a function-level import is still a dependency; only ``if TYPE_CHECKING:`` blocks are
left out) and ``importlib.import_module("literal")`` calls, which is how the old cycle
``sinks/base.py -> sinks/kinds.py -> every sink -> sinks/base.py`` hid. Implicit imports of
parent packages are not edges (a package's ``__init__`` importing its own submodules is not
a cycle). Strongly connected components of more than one module are cycles.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "processor"


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its closest enclosing module that exists in ``processor/``."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``processor`` modules that module ``name`` (at ``path``) imports."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    module = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    module = child.module or ""
                for alias in child.names:
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in modules else module)
            elif (
                isinstance(child, ast.Call)
                and ast.unparse(child.func) in ("importlib.import_module", "import_module")
                and child.args
                and isinstance(child.args[0], ast.Constant)
                and isinstance(child.args[0].value, str)
            ):
                found.add(child.args[0].value)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    targets = {_target(m, modules) for m in found if m.startswith("processor")}
    return {t for t in targets if t is not None and t != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_checker_sees_the_old_sinks_cycle(tmp_path: Path) -> None:
    # The shape of the cycle issue 20 found: a literal import_module in a function body.
    modules = {"processor.s.base": tmp_path / "base.py", "processor.s.kinds": tmp_path / "k.py"}
    modules["processor.s.base"].write_text(
        "def f():\n    import importlib\n    importlib.import_module('processor.s.kinds')\n"
    )
    modules["processor.s.kinds"].write_text("from processor.s.base import f\n")
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert cycles(graph) == [["processor.s.base", "processor.s.kinds"]]


def test_no_import_cycle_in_processor() -> None:
    modules = _modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert sum(len(edges) for edges in graph.values()) > 100  # the graph was really built
    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("kind", "absent"),
    [
        ("slack", ("sqlalchemy", "aiosmtplib", "processor.sinks.im.dingtalk")),
        ("webhook", ("sqlalchemy", "aiosmtplib", "processor.sinks.im")),
        ("mysql", ("aiosmtplib", "processor.sinks.im", "processor.sinks.webhook")),
    ],
)
def test_building_one_sink_imports_only_its_kind(kind: str, absent: tuple[str, ...]) -> None:
    targets = {
        "slack": "SlackTarget(name='t', url='https://hooks.slack.com/services/T/B/x')",
        "webhook": "WebhookTarget(name='t', url='https://example.com/hook')",
        "mysql": "MysqlTarget(name='t', url='sqlite:///:memory:', table='events')",
    }
    code = (
        "import sys\n"
        "from processor.config.targets import SlackTarget, WebhookTarget, MysqlTarget\n"
        "import processor.sinks.kinds as kinds\n"
        f"sink = kinds.build_sink({kind!r}, {targets[kind]})\n"
        f"loaded = [m for m in {absent!r} if m in sys.modules]\n"
        "print(type(sink).__name__, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    name, loaded = result.stdout.strip().split(" ", 1)
    assert name.endswith("Sink")
    assert loaded == "[]", f"building a {kind} sink imported {loaded}"
