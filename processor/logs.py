"""Logging setup for every kbridge process: ``--log-format text|json`` (``KBRIDGE_LOG_FORMAT``).

Operators ship logs to Loki, Elasticsearch or CloudWatch, which want one JSON object per line
rather than a format to parse. With ``json`` every line is such an object: ``timestamp``
(UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``message``, ``process`` (the kind:
``router``, ``sink``, ``source``, ``gateway``, ...), ``pid``, and every ``extra=`` field the
line was logged with (``target``, ``bus``, ``event_id``, ``rule``, ``error``...), which the
text format leaves out. Exceptions become an ``exception`` field instead of extra lines.

One configuration covers every producer of lines: kbridge's own loggers, librdkafka's (its
lines already reach :data:`processor.kafka.config.LIBRDKAFKA_LOGGER`), uvicorn's (handed
:func:`dict_config` as its ``log_config``, so its spawned workers configure the same) and
Faust's (handed the same dict as ``logging_config``, which mode applies instead of its own).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""kbridge's text format; librdkafka's lines (processor.kafka.librdkafka) use it too."""

KIND_ENV = "KBRIDGE_PROCESS_KIND"
"""Where the process kind is kept, so that spawned workers (uvicorn) log the same kind."""

_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}
)
"""LogRecord attributes that are not a line's ``extra`` fields (uvicorn adds color_message)."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for the fields)."""

    def __init__(self, kind: str | None = None) -> None:
        super().__init__()
        self.kind = kind

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": self.kind or os.environ.get(KIND_ENV) or "kbridge",
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def check_format(value: str) -> str:
    """``text`` or ``json`` (any case); anything else is a ``ValueError`` naming both."""
    fmt = value.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"{value!r} is not a log format; use text or json")
    return fmt


def dict_config(fmt: str, level: str, kind: str | None = None) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the root logger that uvicorn and Faust reuse.

    uvicorn's and Faust's loggers get no handlers of their own and propagate to the root,
    so their lines come out in the same format as kbridge's.
    """
    formatter: dict[str, Any] = (
        {"()": "processor.logs.JsonFormatter", "kind": kind}
        if fmt == "json"
        else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"kbridge": formatter},
        "handlers": {
            "kbridge": {
                "class": "processor.logs.KbridgeHandler",
                "formatter": "kbridge",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["kbridge"]},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faust", "mode", "aiokafka")
        },
    }


class KbridgeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler :func:`configure` installs (told apart from anyone else's)."""


_current: dict[str, Any] = {"fmt": "text", "level": "INFO", "kind": None}


def configure(fmt: str = "text", level: str = "INFO", kind: str | None = None) -> None:
    """Set up the root logger for this process (the CLI calls this once per command).

    Like :func:`logging.basicConfig`, a root logger that already has someone else's
    handlers (a test runner's, an application embedding kbridge) is left to its owner; only
    the level is set. A handler of an earlier call is replaced.
    """
    _current.update(fmt=fmt, level=level, kind=kind)
    if kind:
        os.environ[KIND_ENV] = kind
    root = logging.getLogger()
    if any(not isinstance(h, KbridgeHandler) for h in root.handlers):
        root.setLevel(level)
        return
    logging.config.dictConfig(dict_config(fmt, level, kind))


def current_dict_config() -> dict[str, Any]:
    """The configuration :func:`configure` applied, for uvicorn's and Faust's own setup."""
    return dict_config(_current["fmt"], _current["level"], _current["kind"])
