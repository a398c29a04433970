"""Which events are traced: sampling by the event id's hash, the per-bus ``trace`` section
of kbridge.yaml, the environment's default and switches, and the writer obeying them."""

from __future__ import annotations

import pytest

from processor.config import parse_config
from processor.errors import ConfigError
from processor.sinks.base import Delivery
from processor.trace import writer
from processor.trace.partitioning import trace_hash
from processor.trace.policy import TracePolicy
from processor.trace.settings import TraceSettings
from tests.unit.trace.test_trace import Memory

CONFIG = """
buses:
  - {name: quiet, trace: {enabled: false}}
  - {name: tenth, trace: {sample: 0.1}}
  - {name: plain}
  - {name: all, trace: {sample: 1.0}}
"""


def policy_for(config: str = CONFIG, **settings: object) -> TracePolicy:
    policy = TracePolicy(TraceSettings(**settings))  # type: ignore[arg-type]
    policy.update(parse_config(config, "kbridge.yaml").buses)
    return policy


def share(policy: TracePolicy, bus: str, ids: list[str]) -> float:
    return sum(policy.traced(trace_hash(i.encode()), bus) for i in ids) / len(ids)


IDS = [f"event-{i}" for i in range(20_000)]


def test_per_bus_switch_and_sampling_from_kbridge_yaml() -> None:
    policy = policy_for()
    assert share(policy, "quiet", IDS) == 0.0
    assert 0.09 < share(policy, "tenth", IDS) < 0.11
    assert share(policy, "plain", IDS) == 1.0  # no section: the default (everything)
    assert share(policy, "unknown-bus", IDS) == 1.0


def test_the_environment_is_the_default_and_its_switches_win() -> None:
    policy = policy_for(sample=0.5)
    assert 0.48 < share(policy, "plain", IDS) < 0.52  # no section: the deployment's default
    assert share(policy, "all", IDS) == 1.0  # the bus asks for every event
    off = policy_for(off_buses="tenth")  # KBRIDGE_TRACE__OFF_BUSES wins over the file
    assert share(off, "tenth", IDS) == 0.0 and share(off, "plain", IDS) == 1.0


def test_every_process_picks_the_same_events() -> None:
    """Two processes (two policies) trace exactly the same events of a sampled bus."""
    first, second = policy_for(), policy_for()
    picked = [i for i in IDS if first.traced(trace_hash(i.encode()), "tenth")]
    assert picked == [i for i in IDS if second.traced(trace_hash(i.encode()), "tenth")]


def test_a_configuration_change_applies_to_later_events() -> None:
    policy = policy_for()
    assert share(policy, "plain", IDS[:100]) == 1.0
    policy.update(parse_config("buses: [{name: plain, trace: {enabled: false}}]", "k.yaml").buses)
    assert share(policy, "plain", IDS[:100]) == 0.0
    policy.update(())  # the section removed: back to the default
    assert share(policy, "plain", IDS[:100]) == 1.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{sample: 1.5}", "buses[b].trace.sample: must be less than or equal to 1, got 1.5"),
        ("{sample: -0.1}", "buses[b].trace.sample: must be greater than or equal to 0"),
        ("{enable: false}", "buses[b].trace.enable: unknown key 'enable' (did you mean 'enabled'?"),
        ("{enabled: maybe}", "buses[b].trace.enabled:"),
    ],
)
def test_a_bad_trace_section_names_file_line_and_field(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"buses:\n  - name: b\n    trace: {section}\n", "kbridge.yaml")
    assert "kbridge.yaml:3:" in str(raised.value) and message in str(raised.value)


def test_all_stages_of_a_sampled_event_are_written_and_none_of_the_others() -> None:
    """The gateway's, router's and sink's hooks agree on a sampled bus's events."""
    send = Memory()
    tracer = writer.TraceWriter(send, TraceSettings(), by="test", partitions=6, policy=policy_for())
    send.writer = tracer
    ids = IDS[:2000]
    for i, event_id in enumerate(ids):
        for bus in ("tenth", "quiet"):
            tracer.accepted(event_id, bus, 0, i)
            delivery = Delivery(
                b"{}", {"ce_id": event_id, "kbridge-bus": bus}, topic="kbridge.target.t"
            )
            tracer.delivered(delivery, attempts=1, latency=0.01)
    stages: dict[str, set[str]] = {}
    for _, rec in send.records:
        assert rec.bus == "tenth"  # nothing of the switched-off bus
        stages.setdefault(rec.event_id, set()).add(rec.stage)
    assert 150 < len(stages) < 250  # about a tenth of 2,000
    assert all(seen == {"accepted", "delivered"} for seen in stages.values())


def test_the_routers_unmatched_records_follow_the_bus_setting_too() -> None:
    """Most events of a busy bus match nothing: that path is inlined in the writer and
    must obey the same switch and sampling as the others."""
    from processor.events import CloudEvent, encode
    from processor.router.core import route
    from processor.router.records import InRecord
    from processor.router.table import RoutingTable

    config = parse_config(CONFIG, "kbridge.yaml")
    table = RoutingTable.from_config(config)
    send = Memory()
    tracer = writer.TraceWriter(send, TraceSettings(), by="test", partitions=6, policy=policy_for())
    send.writer = tracer
    for bus in ("quiet", "tenth", "plain"):
        records = []
        for i, event_id in enumerate(IDS[:2000]):
            encoded = encode(CloudEvent(id=event_id, source="s", type="T"), "binary")
            records.append(
                InRecord(f"kbridge.bus.{bus}", 0, i, None, encoded.value, encoded.headers)
            )
        results = [route(table, record) for record in records]
        assert not any(result.records for result in results)  # nothing matches: no rules
        tracer._add(tracer.routed_lines(records, results))
    counts: dict[str, int] = {}
    for _, rec in send.records:
        assert rec.stage == "unmatched"
        counts[rec.bus or "?"] = counts.get(rec.bus or "?", 0) + 1
    assert "quiet" not in counts and counts["plain"] == 2000
    expected = sum(policy_for().traced(trace_hash(i.encode()), "tenth") for i in IDS[:2000])
    assert counts["tenth"] == expected and 150 < expected < 250
