"""--log-format json: one JSON object per line with the fields docs/operations.md#logs lists."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from processor import logs

ROOT = Path(__file__).parents[2]


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(kind="sink"))
    logger = logging.getLogger("kbridge.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_a_line_has_the_fields_and_the_extras(
    json_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_lines
    logger.warning(
        "delivery failed: %s", "timeout", extra={"target": "hook", "event_id": "e-1", "bus": "b"}
    )
    line = json.loads(stream.getvalue())
    assert line.pop("timestamp").endswith("+00:00")
    assert line.pop("pid") > 0
    assert line == {
        "level": "WARNING",
        "logger": "kbridge.test.logs",
        "message": "delivery failed: timeout",
        "process": "sink",
        "target": "hook",
        "event_id": "e-1",
        "bus": "b",
    }


def test_an_exception_is_one_field_not_extra_lines(
    json_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_lines
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed", extra={"odd": object()})
    text = stream.getvalue()
    assert text.count("\n") == 1  # the traceback's newlines are escaped inside the string
    line = json.loads(text)
    assert "ValueError: bad value" in line["exception"]
    assert line["odd"].startswith("<object object")  # not JSON: its str(), not a crash


def test_check_format() -> None:
    assert logs.check_format(" JSON ") == "json"
    with pytest.raises(ValueError, match="'xml' is not a log format; use text or json"):
        logs.check_format("xml")


def test_uvicorn_and_faust_loggers_propagate_to_the_one_handler() -> None:
    config = logs.dict_config("json", "INFO", "gateway")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faust", "mode"):
        assert config["loggers"][name] == {"handlers": [], "propagate": True}
    assert config["formatters"]["kbridge"]["()"] == "processor.logs.JsonFormatter"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "processor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_the_cli_refuses_an_unknown_format_with_a_message() -> None:
    result = run_cli("--log-format", "xml", "version", env={"COLUMNS": "200"})
    assert result.returncode == 2
    assert "'xml' is not a log format; use text or json" in result.stderr
    assert "Traceback" not in result.stderr


LIBRDKAFKA_SCRIPT = """
from confluent_kafka import Producer
from processor import logs
from processor.kafka.config import KafkaClientConfig
logs.configure("json", "INFO", kind="router")
Producer(KafkaClientConfig(bootstrap_servers="127.0.0.1:1").librdkafka()).poll(1.5)
"""


def test_librdkafka_lines_come_out_as_json_with_the_process_kind() -> None:
    """A dead port makes librdkafka log a connection failure: it is a JSON line."""
    result = subprocess.run(
        [sys.executable, "-c", LIBRDKAFKA_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    lines = [json.loads(x) for x in result.stderr.splitlines()]  # every line is JSON
    failed = [x for x in lines if "Connect to ipv4#127.0.0.1:1 failed" in x["message"]]
    assert failed, result.stderr
    assert failed[0]["logger"] == "processor.kafka.librdkafka"
    assert failed[0]["process"] == "router"
