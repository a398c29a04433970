"""Tables for ``kbridge get``: one row per live object, secrets and passwords masked.

Rules whose bus or targets are not (yet) live are flagged, since the router skips them.
"""

from __future__ import annotations

import json
import shutil

from rich.console import Console
from rich.table import Table

from processor.config.buses import Bus
from processor.config.checks import rule_reference_problems
from processor.config.durations import format_duration
from processor.config.model import SECTIONS, KbridgeConfig, ObjectKind
from processor.config.rules import Rule
from processor.config.sources import SourceBase
from processor.config.targets import TargetBase

_COLUMNS: dict[ObjectKind, tuple[str, ...]] = {
    "bus": ("NAME", "PARTITIONS", "RETENTION", "MAX EVENT BYTES", "DESCRIPTION"),
    "connection": ("NAME", "KIND", "DESCRIPTION"),
    "target": ("NAME", "KIND", "PARTITIONS", "FORMAT", "DESTINATION"),
    "source": ("NAME", "KIND", "BUS", "ORIGIN"),
    "rule": ("NAME", "BUS", "ENABLED", "TARGETS", "PATTERN", "STATUS"),
}


def rows(kind: ObjectKind, config: KbridgeConfig, name: str | None = None) -> list[tuple[str, ...]]:
    """The table rows of ``kind`` (only ``name``'s when given; pure, the tests read these)."""
    result: list[tuple[str, ...]] = []
    buses = frozenset(bus.name for bus in config.buses)
    targets = frozenset(target.name for target in config.targets)
    for obj in config.section(kind):
        if name is not None and obj.name != name:
            continue
        if isinstance(obj, Bus):
            result.append(
                (
                    obj.name,
                    str(obj.partitions),
                    format_duration(obj.retention),
                    str(obj.max_event_bytes),
                    obj.description,
                )
            )
        elif isinstance(obj, Rule):
            problems = [p.message for p in rule_reference_problems(obj, buses, targets)]
            result.append(
                (
                    obj.name,
                    obj.bus,
                    "yes" if obj.enabled else "no",
                    ", ".join(obj.target_names()),
                    _shorten(json.dumps(obj.pattern, ensure_ascii=False, separators=(",", ":"))),
                    "; ".join(problems) or "ok",
                )
            )
        elif isinstance(obj, TargetBase):
            result.append(
                (
                    obj.name,
                    obj.kind,
                    str(obj.partitions),
                    obj.format,
                    obj.destination(),
                )
            )
        elif isinstance(obj, SourceBase):
            result.append((obj.name, obj.kind, obj.bus, obj.origin()))
        else:
            result.append((obj.name, obj.kind, obj.description))
    return result


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_table(kind: ObjectKind, config: KbridgeConfig, name: str | None = None) -> None:
    """Print the live objects of ``kind`` (or the one called ``name``) as a table."""
    width = max(shutil.get_terminal_size((160, 24)).columns, 120)
    console = Console(width=width, soft_wrap=False)
    data = rows(kind, config, name)
    if not data:
        console.print(f"no {SECTIONS[kind]}")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in _COLUMNS[kind]:
        table.add_column(column, overflow="fold")
    for row in data:
        table.add_row(*row)
    console.print(table)
