"""The demo's ``survey-aggregate`` function for a ``kind: function`` target.

Registered in the entry-point group ``kbridge.functions`` (pyproject), like any user's
function would be: kbridge ships no built-in functions. :func:`aggregate_answers` is the
demo's "data processing" step: it
turns a batch of questionnaire responses into one summary per survey (response count,
per-question answer distribution, numeric statistics, mean completion time), which the
function target can publish back to a bus for dashboards or alerts.

Answers are read from the shapes questionnaire tools send: 腾讯问卷's envelope
(``{"object": "Answer", "payload": {...}}``) with the answers in ``payload.answer`` /
``payload.answers``, 问卷星's flat ``q1``..``qN`` fields, or a generic ``answers`` mapping or
list of ``{question, answer}`` items.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

_Q_FIELD = re.compile(r"^q\d+$")
_QUESTION_KEYS = ("question_id", "question", "id", "title", "qid")
_ANSWER_KEYS = ("answer", "value", "text", "options", "choice", "score")


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data", event)
    if not isinstance(data, Mapping):
        return {}
    inner = data.get("payload")
    return inner if isinstance(inner, Mapping) else data


def _answer_value(item: Mapping[str, Any]) -> Any:
    for key in _ANSWER_KEYS:
        if key in item:
            return item[key]
    return None


def answers_of(payload: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(question, answer)`` pairs found in one response payload."""
    found = payload.get("answers", payload.get("answer"))
    pairs: list[tuple[str, Any]] = []
    if isinstance(found, Mapping):
        pairs.extend((str(k), v) for k, v in found.items())
    elif isinstance(found, list):
        for item in found:
            if not isinstance(item, Mapping):
                continue
            question = next((item[k] for k in _QUESTION_KEYS if k in item), None)
            if question is not None:
                pairs.append((str(question), _answer_value(item)))
    pairs.extend((k, v) for k, v in payload.items() if _Q_FIELD.match(str(k)))
    return pairs


def _choices(answer: Any) -> Iterable[str]:
    if isinstance(answer, list):
        for item in answer:
            yield from _choices(item)
    elif isinstance(answer, Mapping):
        value = _answer_value(answer)
        yield from _choices(value if value is not None else str(dict(answer)))
    elif answer is not None:
        yield str(answer)


def _number(answer: Any) -> float | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int | float):
        return float(answer)
    if isinstance(answer, str):
        try:
            return float(answer)
        except ValueError:
            return None
    return None


class _Survey:
    def __init__(self) -> None:
        self.responses = 0
        self.respondents: set[str] = set()
        self.durations: list[float] = []
        self.counts: dict[str, Counter[str]] = {}
        self.numbers: dict[str, list[float]] = {}

    def add(self, payload: Mapping[str, Any]) -> None:
        self.responses += 1
        respondent = payload.get("respondent_id") or payload.get("openid")
        if respondent is not None:
            self.respondents.add(str(respondent))
        duration = _number(payload.get("duration", payload.get("timetaken")))
        if duration is not None:
            self.durations.append(duration)
        for question, answer in answers_of(payload):
            self.counts.setdefault(question, Counter()).update(_choices(answer))
            number = _number(answer)
            if number is not None:
                self.numbers.setdefault(question, []).append(number)

    def summary(self, survey_id: str) -> dict[str, Any]:
        questions: dict[str, Any] = {}
        for question, counter in sorted(self.counts.items()):
            entry: dict[str, Any] = {"answers": dict(counter.most_common())}
            values = self.numbers.get(question)
            if values:
                entry["numeric"] = {
                    "count": len(values),
                    "mean": sum(values) / len(values),
                    "min": min(values),
                    "max": max(values),
                }
            questions[question] = entry
        return {
            "survey_id": survey_id,
            "responses": self.responses,
            "respondents": len(self.respondents),
            "mean_duration": (
                sum(self.durations) / len(self.durations) if self.durations else None
            ),
            "questions": questions,
        }


def aggregate_answers(events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """One summary per survey of the questionnaire responses in ``events`` (None if none).

    Deleted answers (``action: answer.delete``) are not counted.
    """
    surveys: dict[str, _Survey] = {}
    for event in events:
        data = event.get("data")
        if isinstance(data, Mapping) and str(data.get("action", "")).endswith("delete"):
            continue
        payload = _payload(event)
        if not payload:
            continue
        survey_id = str(payload.get("survey_id") or payload.get("activity") or "unknown")
        surveys.setdefault(survey_id, _Survey()).add(payload)
    if not surveys:
        return None
    return [surveys[s].summary(s) for s in sorted(surveys)]
