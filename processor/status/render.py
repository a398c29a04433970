"""``kbridge status -o table|json|yaml``: one report, three shapes."""

from __future__ import annotations

import json

import yaml
from rich.console import Console
from rich.table import Table

from processor.status.collect import StatusReport

FORMATS = ("table", "json", "yaml")


def render(report: StatusReport, fmt: str, console: Console | None = None) -> str | None:
    """JSON or YAML text; for ``table``, print to ``console`` and return None."""
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
    if fmt == "yaml":
        return str(yaml.safe_dump(report.as_dict(), sort_keys=False, allow_unicode=True))
    print_tables(report, console or Console())
    return None


def print_tables(report: StatusReport, console: Console) -> None:
    """Buses, targets and sources as tables, then the verdict and each problem."""
    buses = Table(title="buses (router group)")
    for column in ("bus", "group", "members", "lag", "partitions", "state"):
        buses.add_column(column)
    for bus in report.buses:
        r = bus.router
        buses.add_row(bus.name, r.group, str(r.members), str(r.lag), str(r.partitions), r.state)
    targets = Table(title="targets (sink groups)")
    for column in ("target", "kind", "members", "lag", "dead letters", "last error", "at"):
        targets.add_column(column)
    for t in report.targets:
        error = f"{t.last_error_code}: {t.last_error}" if t.last_error else ""
        targets.add_row(
            t.name,
            t.kind,
            str(t.sink.members),
            str(t.sink.lag),
            str(t.dead_letters),
            error[:80],
            t.last_error_at or "",
        )
    sources = Table(title="sources")
    for column in ("source", "kind", "bus", "state"):
        sources.add_column(column)
    for s in report.sources:
        sources.add_row(s.name, s.kind, s.bus, s.state)
    for table in (buses, targets, sources):
        if table.row_count:
            console.print(table)
    if report.healthy:
        console.print(f"healthy (Kafka {report.kafka})")
    else:
        console.print(f"UNHEALTHY (Kafka {report.kafka}):")
        for problem in report.problems:
            console.print(f"  - {problem}", markup=False)
