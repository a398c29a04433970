"""Issue 22.6: the MySQL dump's key column holds every id ingest allows, on real MariaDB.

Ingest bounds ``id`` at :data:`processor.events.attributes.MAX_ID_LENGTH` characters; the
dump table must keep every such id apart (no truncation onto another id, no case folding,
any Unicode text) even though the test database's default charset is latin1 with a
case-insensitive collation.
"""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa

from processor.errors import FatalError
from processor.events.attributes import MAX_ID_LENGTH
from processor.sinks.base import Delivery
from processor.sinks.mysql import MysqlSink

pytestmark = [pytest.mark.mariadb]


def _delivery(event_id: str, n: int) -> Delivery:
    headers = {"ce_id": event_id, "ce_source": "test.ids", "ce_type": "t"}
    return Delivery(value=orjson.dumps({"n": n}), headers=headers)


async def test_key_column_keeps_every_id_ingest_allows_apart(mysql_url: str, unique: str) -> None:
    table = f"ids_{unique}"
    prefix = "p" * (MAX_ID_LENGTH - 1)
    ids = [
        prefix + "a",  # two ids of the longest allowed length sharing a 254-char prefix
        prefix + "b",
        "Case",  # latin1_swedish_ci would treat these two as the same key
        "case",
        "\U0001f600" * MAX_ID_LENGTH,  # 255 four-byte characters: latin1 cannot hold them
    ]
    sink = MysqlSink(mysql_url, table, allow_private_network=True)  # loopback MariaDB
    try:
        await sink.setup()
        outcomes = await sink.deliver([_delivery(i, n) for n, i in enumerate(ids)])
        assert list(outcomes) == [None] * len(ids)
        with sink.engine.connect() as conn:
            stored = dict(conn.execute(sa.text(f"select id, data from `{table}`")).all())
        assert sorted(stored) == sorted(ids)
        assert orjson.loads(stored["case"]) == {"n": 3}

        too_long = await sink.deliver([_delivery("x" * (MAX_ID_LENGTH + 1), 9)])
        assert isinstance(too_long[0], FatalError)
        assert "id column holds 255" in str(too_long[0])
    finally:
        with sink.engine.begin() as conn:
            conn.execute(sa.text(f"drop table if exists `{table}`"))
        await sink.close()
