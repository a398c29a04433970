"""survey-aggregate and the function sink's result events (no broker needed)."""

from __future__ import annotations

import importlib.metadata

from kbridge_demo.survey import aggregate_answers, answers_of

from processor.events.model import CloudEvent
from processor.sinks.base import Delivery
from processor.sinks.function import (
    EntryPointFunctionSink,
    _Publisher,
    event_form,
    load_entry_point,
    result_events,
)


def test_survey_aggregate_is_registered_as_entry_point() -> None:
    names = {e.name for e in importlib.metadata.entry_points(group="kbridge.functions")}
    assert "survey-aggregate" in names
    assert load_entry_point("survey-aggregate") is aggregate_answers


def test_aggregates_tencent_envelopes_per_survey() -> None:
    events = [
        {
            "data": {
                "object": "Answer",
                "action": "answer.create",
                "payload": {
                    "survey_id": "s1",
                    "respondent_id": "u1",
                    "duration": 30,
                    "answers": [
                        {"question_id": "q1", "answer": "A"},
                        {"question_id": "score", "answer": 8},
                    ],
                },
            }
        },
        {
            "data": {
                "object": "Answer",
                "action": "answer.create",
                "payload": {
                    "survey_id": "s1",
                    "respondent_id": "u2",
                    "duration": 50,
                    "answers": [
                        {"question_id": "q1", "answer": ["A", "B"]},
                        {"question_id": "score", "answer": "6"},
                    ],
                },
            }
        },
        {"data": {"object": "Answer", "action": "answer.delete", "payload": {"survey_id": "s1"}}},
    ]
    [summary] = aggregate_answers(events) or []
    assert summary["survey_id"] == "s1" and summary["responses"] == 2
    assert summary["respondents"] == 2 and summary["mean_duration"] == 40
    assert summary["questions"]["q1"]["answers"] == {"A": 2, "B": 1}
    assert summary["questions"]["score"]["numeric"] == {
        "count": 2,
        "mean": 7.0,
        "min": 6.0,
        "max": 8.0,
    }


def test_flat_wjx_fields_and_nothing_to_aggregate() -> None:
    assert answers_of({"activity": "9", "q1": "2", "q2": "x", "name": "n"}) == [
        ("q1", "2"),
        ("q2", "x"),
    ]
    assert aggregate_answers([{"data": "not a response"}]) is None


def test_result_event_ids_are_deterministic_for_the_same_inputs() -> None:
    inputs = [Delivery(value=b"{}", headers={"ce_id": f"e{i}"}) for i in range(3)]
    first = result_events({"total": 3}, target="t", inputs=inputs)
    again = result_events({"total": 3}, target="t", inputs=list(reversed(inputs)))
    assert [e.id for e in first] == [e.id for e in again]
    assert first[0].data == {"total": 3} and first[0].type == "kbridge.function.result"
    own = CloudEvent(id="x", source="s", type="t")
    assert result_events([own, 1], target="t", inputs=inputs)[0] is own
    assert result_events(None, target="t", inputs=inputs) == []


async def test_entry_point_sink_reports_function_errors_per_batch() -> None:
    def boom(events: list[dict[str, object]]) -> None:
        raise ValueError("bad input")

    sink = EntryPointFunctionSink(boom, target="t", publisher=_Publisher("t", None, None))
    items = [Delivery(value=b'{"a": 1}', headers={"ce_id": "1", "ce_type": "x"})]
    [outcome] = await sink.deliver(items)
    assert isinstance(outcome, ValueError)
    assert event_form(items[0]) == {"id": "1", "type": "x", "data": {"a": 1}}
