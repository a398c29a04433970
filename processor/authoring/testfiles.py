"""``kbridge test``: YAML test files of input events and what must come out.

A test file (``*.kbridge-test.yaml``, usually beside the configuration)::

    config: kbridge.yaml            # relative to this file
    tests:
      - name: critical alarm reaches the chat targets
        bus: monitoring             # optional when the config has one bus
        event: {source: cloud.monitor.prod, detail-type: CloudMonitor Alarm, detail: {...}}
        expect:
          matched: [critical-production-alarms]    # exactly these rules match
          not_matched: [kms-audit-dump]            # these do not (others may)
          targets:
            ops-slack:
              payload: "..."                       # exact transformed payload
              payload_subset: {alarm: cpu-high}    # JSON subset of it
              payload_pattern: {alarm: [{prefix: cpu}]}   # an EventBridge pattern on it
              content_type: text/plain
              sent_subset: {requests: [{body: {text: "..."}}]}  # subset of the sink's request/row
          not_targets: [survey-db]

Every case runs the router's core and the sinks' rendering offline (:mod:`.route`); the
configuration is compiled once per file, so hundreds of cases take well under a second.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from processor.authoring.route import EventInputError, RouteOutput, Router
from processor.config.problems import (
    ConfigProblem,
    ConfigValidationError,
    problems_from_validation_error,
)

TEST_SUFFIX = ".kbridge-test.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetExpectation(_Model):
    """What one target must receive (every given check must hold)."""

    payload: Any = Field(None, description="The exact transformed payload (JSON value or text).")
    payload_subset: Any = Field(
        None, description="A JSON subset: every key and list item given must be in the payload."
    )
    payload_pattern: dict[str, Any] | None = Field(
        None, description="An EventBridge event pattern the (JSON object) payload must match."
    )
    content_type: str | None = Field(None, description="The payload's content type.")
    sent_subset: Any = Field(
        None,
        description="A subset of what the sink sends: HTTP request, chat requests, mysql row, "
        "email headers and body (see `kbridge route -o yaml`).",
    )
    error: str | None = Field(
        None, description="The event is dead-lettered for this target; text the reason contains."
    )


class Expectation(_Model):
    """The expected routing of one event."""

    matched: list[str] | None = Field(None, description="Exactly these rules match.")
    not_matched: list[str] = Field(default_factory=list, description="These rules do not match.")
    targets: dict[str, TargetExpectation] = Field(
        default_factory=dict, description="Per target name, what it receives."
    )
    not_targets: list[str] = Field(
        default_factory=list, description="These targets receive nothing."
    )


class TestCase(_Model):
    """One input event and its expectations."""

    name: Annotated[str, Field(min_length=1)]
    bus: str | None = Field(None, description="The bus the event is put on.")
    event: dict[str, Any] | None = Field(None, description="The event: CloudEvent or AWS event.")
    event_file: str | None = Field(None, description="A JSON file holding the event.")
    now: str | None = Field(None, description="Ingestion time (RFC 3339); default: event time.")
    expect: Expectation


class TestFile(_Model):
    """A kbridge test file."""

    config: str | list[str] = Field(
        "kbridge.yaml", description="Configuration file(s) or directory, relative to this file."
    )
    tests: Annotated[list[TestCase], Field(min_length=1)]


@dataclass
class CaseResult:
    """The outcome of one case: passed, or the failures (each a readable text block)."""

    file: str
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


def discover(paths: Sequence[Path]) -> list[Path]:
    """Test files among ``paths`` (directories searched for ``*.kbridge-test.yaml``)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{TEST_SUFFIX}")))
        else:
            found.append(path)
    return found


def load_test_file(path: Path) -> TestFile:
    """Parse and check a test file; raises :class:`ConfigValidationError` naming the
    file:line:column and the field, in the same words as configuration problems."""
    from processor.config.loader import placed, read_yaml
    from processor.config.wording import plain_message

    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problem = ConfigProblem("", f"cannot read the file: {reason}", filename)
        raise ConfigValidationError(filename, [problem]) from None
    raw, _ = read_yaml(text, filename, with_positions=False)
    try:
        return TestFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raw, positions = read_yaml(text, filename)
        found = problems_from_validation_error(
            exc, raw, plain=lambda error: plain_message(error, TestFile, raw)
        )
        problems = [placed(problem, raw, positions) for problem in found]
        raise ConfigValidationError(filename, problems) from None


def run_file(path: Path, *, env: Mapping[str, str] | None = None) -> list[CaseResult]:
    """Run every case of one test file."""
    from processor.config.loader import load_configs

    spec = load_test_file(path)
    names = [spec.config] if isinstance(spec.config, str) else spec.config
    config = load_configs([path.parent / name for name in names], env=env)
    router = Router(config)
    return [run_case(router, case, path) for case in spec.tests]


def run_case(router: Router, case: TestCase, path: Path) -> CaseResult:
    """Route one case's event and compare with its expectations."""
    result = CaseResult(str(path), case.name)
    try:
        event = _event(case, path)
        now = _time(case.now) if case.now else None
        output = router.route(event, bus=case.bus, now=now)
    except (EventInputError, ValueError, OSError) as exc:
        result.failures.append(f"event: {exc}")
        return result
    result.failures.extend(check(case.expect, output, router))
    return result


def _event(case: TestCase, path: Path) -> dict[str, Any]:
    if case.event is not None:
        return case.event
    if case.event_file is not None:
        loaded = json.loads((path.parent / case.event_file).read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise EventInputError(f"{case.event_file}: the event must be a JSON object")
        return loaded
    raise EventInputError("give event or event_file")


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def check(expect: Expectation, output: RouteOutput, router: Router) -> Iterator[str]:
    """One readable failure text per expectation that does not hold."""
    matched = output.matched_rules
    rules = {rule.name for rule in router.config.rules}
    for name in [*(expect.matched or []), *expect.not_matched]:
        if name not in rules:
            yield f"rule {name!r} is not in the configuration ({_known(rules, name)})"
    if expect.matched is not None and sorted(expect.matched) != sorted(matched):
        yield "matched rules:\n" + diff(sorted(expect.matched), sorted(matched))
    for name in expect.not_matched:
        if name in matched:
            yield f"rule {name!r} matched, expected not to"
    for dead in output.dead_letters:
        yield f"the event was dead-lettered ({dead['code']}): {dead['message']}"
    by_target = {t.target: t for t in output.targets}
    targets = {target.name for target in router.config.targets}
    for name, wanted in expect.targets.items():
        got = by_target.get(name)
        if got is None:
            hint = _known(targets, name) if name not in targets else "no matched rule routes to it"
            yield f"target {name!r} received nothing ({hint})"
            continue
        yield from _check_target(name, wanted, got.as_json())
    for name in expect.not_targets:
        if name in by_target:
            yield f"target {name!r} received the event (rule {by_target[name].rule}), expected not"


def _known(names: set[str], wanted: str) -> str:
    close = difflib.get_close_matches(wanted, sorted(names), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known: {', '.join(sorted(names))}"


def _check_target(name: str, wanted: TargetExpectation, got: dict[str, Any]) -> Iterator[str]:
    where = f"targets.{name}"
    error = got.get("error")
    if wanted.error is not None:
        if error is None or wanted.error not in error:
            yield f"{where}.error: expected a dead letter with {wanted.error!r}, got {error!r}"
        return
    if error is not None:
        yield f"{where}: the event would be dead-lettered: {error}"
        return
    payload = got["payload"]
    fields = wanted.model_fields_set
    if "payload" in fields and wanted.payload != payload:
        yield f"{where}.payload:\n" + diff(wanted.payload, payload)
    if "payload_subset" in fields and not is_subset(wanted.payload_subset, payload):
        shown = project(payload, wanted.payload_subset)
        yield f"{where}.payload_subset:\n" + diff(wanted.payload_subset, shown)
    if wanted.payload_pattern is not None:
        yield from _check_pattern(where, wanted.payload_pattern, payload)
    if wanted.content_type is not None and wanted.content_type != got["content_type"]:
        yield f"{where}.content_type: expected {wanted.content_type!r}, got {got['content_type']!r}"
    if "sent_subset" in fields and not is_subset(wanted.sent_subset, got["sent"]):
        shown = project(got["sent"], wanted.sent_subset)
        yield f"{where}.sent_subset:\n" + diff(wanted.sent_subset, shown)


def _check_pattern(where: str, pattern: dict[str, Any], payload: Any) -> Iterator[str]:
    from processor.errors import InvalidEventError
    from processor.patterns import PatternError, compile_pattern

    try:
        compiled = compile_pattern(pattern)
    except PatternError as exc:
        yield f"{where}.payload_pattern: invalid pattern: {exc}"
        return
    if not isinstance(payload, dict):
        yield f"{where}.payload_pattern: the payload is not a JSON object: {payload!r}"
        return
    try:
        if not compiled.matches(payload):
            yield f"{where}.payload_pattern: the payload does not match\n" + diff(
                pattern, payload, labels=("pattern", "payload")
            )
    except InvalidEventError as exc:
        yield f"{where}.payload_pattern: {exc}"


def is_subset(expected: Any, actual: Any) -> bool:
    """Whether ``expected`` is contained in ``actual``: mappings by key (recursively), lists
    item by item in order (``actual`` may be longer), anything else equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) <= len(actual)
            and all(is_subset(e, a) for e, a in zip(expected, actual, strict=False))
        )
    return bool(expected == actual)


def project(actual: Any, expected: Any) -> Any:
    """``actual`` cut to the shape of ``expected`` (so a subset diff shows only what was asked)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: project(actual[k], v) for k, v in expected.items() if k in actual}
    if isinstance(expected, list) and isinstance(actual, list):
        return [project(a, e) for e, a in zip(expected, actual, strict=False)] + actual[
            len(expected) :
        ]
    return actual


def _lines(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str).splitlines()


def diff(expected: Any, actual: Any, *, labels: tuple[str, str] = ("expected", "actual")) -> str:
    """A unified diff of two values (JSON-rendered unless both are text), indented."""
    lines = difflib.unified_diff(_lines(expected), _lines(actual), *labels, lineterm="", n=3)
    return "\n".join("    " + line for line in lines)


@dataclass
class Summary:
    """All results of one ``kbridge test`` run."""

    results: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Failed cases."""
        return sum(1 for r in self.results if not r.passed)

    @property
    def ok(self) -> bool:
        """Whether everything passed and every file loaded."""
        return not self.errors and self.failed == 0 and bool(self.results)


def run(paths: Sequence[Path], *, env: Mapping[str, str] | None = None) -> Summary:
    """Run every test file found under ``paths``."""
    started = time.perf_counter()
    summary = Summary()
    files = discover(paths)
    if not files:
        summary.errors.append(f"no test files (*{TEST_SUFFIX}) in {', '.join(map(str, paths))}")
    for path in files:
        try:
            summary.results.extend(run_file(path, env=env))
        except ConfigValidationError as exc:
            summary.errors.extend(exc.lines)
    summary.seconds = time.perf_counter() - started
    return summary
