"""The SQL dump sink on SQLite (the embedded default): table, upsert, extra columns, bad rows."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlalchemy as sa

from processor.errors import FatalError
from processor.sinks.base import Delivery
from processor.sinks.mysql import MysqlSink, upsert_statement


def _delivery(i: int, *, data: bytes | None = None, **extra: str) -> Delivery:
    headers = {
        "ce_id": f"evt-{i}",
        "ce_source": "kms.audit",
        "ce_type": "kms.key.rotated",
        "ce_subject": f"key-{i % 7}",
        "ce_time": "2026-11-26T10:00:00.250+01:00",
        "kbridge-rule": "dump",
        "kbridge-ingested-at": "1764147600.5",
        **extra,
    }
    value = data if data is not None else orjson.dumps({"n": i, "key": {"alias": f"a{i}"}})
    return Delivery(value=value, headers=headers, topic="kbridge.target.db", offset=i)


async def test_creates_table_and_upserts_by_event_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dump.db'}"
    sink = MysqlSink(url, "events", columns={"alias": "$.key.alias", "missing": "$.nope"})
    await sink.setup()
    assert await sink.deliver([_delivery(i) for i in range(50)]) == [None] * 50
    # replay with changed content: same ids, no new rows, content updated
    replay = [
        _delivery(i, data=orjson.dumps({"n": i * 10, "key": {"alias": "z"}})) for i in range(50)
    ]
    assert await sink.deliver(replay) == [None] * 50
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select * from events order by id")).mappings().all()
    await sink.close()
    assert len(rows) == 50
    first = rows[0]
    assert first["id"] == "evt-0" and first["source"] == "kms.audit"
    assert first["type"] == "kms.key.rotated" and first["rule"] == "dump"
    assert orjson.loads(first["data"]) == {"n": 0, "key": {"alias": "z"}}
    assert orjson.loads(first["alias"]) == "z" and first["missing"] is None
    assert str(first["time"]).startswith("2026-11-26 09:00:00.250")
    assert str(first["ingested_at"]).startswith("2025-11-26 09:00:00.5")


async def test_record_without_event_id_fails_alone(tmp_path: Path) -> None:
    sink = MysqlSink(f"sqlite:///{tmp_path / 'd.db'}", "t")
    no_id = Delivery(value=b"{}", headers={"ce_source": "s"})
    outcomes = await sink.deliver([_delivery(1), no_id, _delivery(2)])
    await sink.close()
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], FatalError) and outcomes[1].code == "no-event-id"


async def test_attributes_fall_back_to_structured_payload(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    sink = MysqlSink(url, "t")
    event = {"specversion": "1.0", "id": "x1", "source": "s", "type": "t", "data": {"a": 1}}
    assert await sink.deliver([Delivery(value=orjson.dumps(event), headers={})]) == [None]
    with sa.create_engine(url).connect() as conn:
        row = conn.execute(sa.text("select id, source, type from t")).one()
    await sink.close()
    assert tuple(row) == ("x1", "s", "t")


async def test_non_json_payload_stored_as_json_string(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    sink = MysqlSink(url, "t")
    assert await sink.deliver([_delivery(1, data=b"plain text")]) == [None]
    with sa.create_engine(url).connect() as conn:
        data = conn.execute(sa.text("select data from t")).scalar_one()
    await sink.close()
    assert orjson.loads(data) == "plain text"


def test_upsert_statement_per_dialect() -> None:
    from sqlalchemy.dialects import mysql, sqlite

    sink = MysqlSink("sqlite://", "t")
    lite = upsert_statement(sa.create_engine("sqlite://"), sink._write_table)
    assert "ON CONFLICT (id) DO UPDATE" in str(lite.compile(dialect=sqlite.dialect()))  # type: ignore[attr-defined]
    engine = sa.create_engine("mysql+pymysql://u:p@127.0.0.1/db")
    my = upsert_statement(engine, sink._write_table)
    assert "ON DUPLICATE KEY UPDATE" in str(my.compile(dialect=mysql.dialect()))  # type: ignore[attr-defined]
