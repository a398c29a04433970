"""``kind: mysql``: dump events into a SQL table, upserted by event id (the "event dump").

SQLAlchemy Core with one multi-row upsert per batch: ``INSERT ... ON DUPLICATE KEY UPDATE``
on MariaDB/MySQL, ``INSERT ... ON CONFLICT (id) DO UPDATE`` on SQLite and PostgreSQL. Keyed
by the CloudEvent id, a retried or replayed batch overwrites its rows instead of adding
new ones, which is what makes the worker's at-least-once delivery exactly-once in the
table. The table is created when missing: ``id`` (primary key), ``source``, ``type``,
``subject``, ``time``, ``data`` (JSON), ``rule``, ``ingested_at``, plus one JSON column
per entry of ``columns`` (column name -> JSONPath into the delivered payload).

A lost connection or a database that is down is retriable (the worker retries per the
rule's policy, nothing is committed meanwhile); a batch rejected for its content is split
and retried row by row, so one bad row is dead-lettered alone. The blocking DBAPI work runs
in a thread so other partitions and targets keep flowing.

The database host passes the SSRF guard (:mod:`processor.netguard`) on every new DBAPI
connection: resolved, refused when private, loopback, link-local or a metadata address
(unless the target sets ``allow_private_network``), and the driver connects to exactly the
vetted address. A refused database fails the batch's records with the non-retriable
``ssrf-refused`` (dead letters), never the sink's setup. URLs with TLS options (``ssl*`` in
the query) are vetted but not pinned: the driver checks the certificate against the name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.engine import Connection, Engine

from processor.errors import FatalError, RetriableError
from processor.events import deepjson
from processor.events.attributes import MAX_ID_LENGTH
from processor.kafka.headers import RULE
from processor.netguard import SsrfRefused, checked_addresses_sync
from processor.sinks.base import Delivery, DeliveryOutcome, Sink, register_sink
from processor.sinks.batch import event_origin
from processor.transform.jsonpath import MISSING, JsonPath, compile_path

log = logging.getLogger(__name__)

RESERVED = ("id", "source", "type", "subject", "time", "data", "rule", "ingested_at")


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


# Every id ingest allows, kept apart byte for byte: MariaDB's default latin1 case-insensitive
# collation would refuse non-Latin ids and let "A" and "a" overwrite each other.
_ID_TYPE = sa.String(MAX_ID_LENGTH).with_variant(
    sa_mysql.VARCHAR(MAX_ID_LENGTH, charset="utf8mb4", collation="utf8mb4_bin"),
    "mysql",
    "mariadb",
)


def define_table(
    metadata: sa.MetaData, name: str, extra_columns: Sequence[str], *, json_as_text: bool
) -> sa.Table:
    """The dump table; ``json_as_text`` gives a write-side twin that binds JSON text as-is."""
    json_type: sa.types.TypeEngine[Any] = sa.Text() if json_as_text else sa.JSON()
    return sa.Table(
        name,
        metadata,
        sa.Column("id", _ID_TYPE, primary_key=True),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(512)),
        sa.Column("time", sa.DateTime()),
        sa.Column("data", json_type),
        sa.Column("rule", sa.String(255)),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        *(sa.Column(column, json_type) for column in extra_columns),
    )


def upsert_statement(engine: Engine, table: sa.Table) -> sa.sql.Executable:
    """The dialect's upsert of ``table`` keyed by ``id``, every other column overwritten."""
    dialect = engine.dialect.name
    columns = [c.name for c in table.columns if c.name != "id"]
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        my = mysql_insert(table)
        return my.on_duplicate_key_update({c: my.inserted[c] for c in columns})
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table)
        return lite.on_conflict_do_update(
            index_elements=["id"], set_={c: lite.excluded[c] for c in columns}
        )
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        return pg.on_conflict_do_update(
            index_elements=["id"], set_={c: pg.excluded[c] for c in columns}
        )
    raise FatalError(f"no upsert for SQL dialect {dialect!r}", code="config")


_EMPTY: Mapping[str, Any] = {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class MysqlSink(Sink):
    """Batched upserts into ``table`` through a SQLAlchemy engine."""

    def __init__(
        self,
        url: str,
        table: str,
        *,
        columns: Mapping[str, str] | None = None,
        batch_size: int = 500,
        engine: Engine | None = None,
        allow_private_network: bool = False,
    ) -> None:
        columns = dict(columns or {})
        clash = sorted(set(columns) & set(RESERVED))
        if clash:
            raise FatalError(f"extra columns clash with built-in ones: {clash}", code="config")
        self.url = url
        self.allow_private_network = allow_private_network
        self.table_name = table
        self.paths: dict[str, JsonPath] = {c: compile_path(p) for c, p in columns.items()}
        self.max_batch_size = batch_size
        self._engine = engine
        self._owns_engine = engine is None
        self._ready = False
        self._statement: sa.sql.Executable | None = None
        self._ddl_table = define_table(sa.MetaData(), table, list(columns), json_as_text=False)
        self._write_table = define_table(sa.MetaData(), table, list(columns), json_as_text=True)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = sa.create_engine(
                self.url, pool_pre_ping=True, pool_recycle=3600, pool_size=2, max_overflow=2
            )
            guard_connections(self._engine, allow_private_network=self.allow_private_network)
        return self._engine

    async def setup(self) -> None:
        # Creating the table needs the database; if it is down, the first deliver() retries.
        try:
            await asyncio.to_thread(self._ensure_table)
        except RetriableError as exc:
            log.warning("database not reachable at setup (%s); will retry on delivery", exc)
        except SsrfRefused as exc:  # its records are dead-lettered by deliver()
            log.error("database refused by the SSRF guard: %s", exc)

    async def close(self) -> None:
        if self._engine is not None and self._owns_engine:
            await asyncio.to_thread(self._engine.dispose)
            self._engine = None

    def _ensure_table(self) -> None:
        if self._ready:
            return
        try:
            self._ddl_table.metadata.create_all(self.engine, checkfirst=True)
        except sa_exc.DBAPIError as exc:
            raise _classify(exc) from exc
        self._statement = upsert_statement(self.engine, self._write_table)
        self._ready = True

    # -- rows ---------------------------------------------------------------------------

    def row(self, item: Delivery, now: float) -> dict[str, Any]:
        """The table row of one delivery (raises :class:`FatalError` without an event id).

        Attributes come from the ``ce_*`` headers; a payload that is itself a structured
        CloudEvent supplies the ones the headers lack. Runs once per row: keep it lean.
        """
        headers = item.headers
        value = item.value
        try:
            document: Any = orjson.loads(value)
            data = value.decode("utf-8")
        except orjson.JSONDecodeError:
            document = MISSING
            data = orjson.dumps(value.decode("utf-8", "replace")).decode()
        fallback = document if isinstance(document, dict) else _EMPTY
        event_id = headers.get("ce_id") or _text(fallback.get("id"))
        if not event_id:
            raise FatalError("record has no CloudEvent id (ce_id)", code="no-event-id")
        if len(event_id) > MAX_ID_LENGTH:  # never truncated into another event's key
            raise FatalError(
                f"event id is {len(event_id)} characters; the id column holds {MAX_ID_LENGTH}",
                code="id-too-long",
            )
        row: dict[str, Any] = {
            "id": event_id,
            "source": headers.get("ce_source") or _text(fallback.get("source")) or "",
            "type": headers.get("ce_type") or _text(fallback.get("type")) or "",
            "subject": headers.get("ce_subject") or _text(fallback.get("subject")),
            "time": _parse_time(headers.get("ce_time") or _text(fallback.get("time"))),
            "data": data,
            "rule": headers.get(RULE) or None,
            "ingested_at": _utc(event_origin(item, now)),
        }
        for column, path in self.paths.items():
            selected = path.select(document) if document is not MISSING else MISSING
            row[column] = None if selected is MISSING else deepjson.dumps(selected).decode()
        return row

    # -- delivery -----------------------------------------------------------------------

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        return await asyncio.to_thread(self._deliver_sync, batch)

    def _deliver_sync(self, batch: Sequence[Delivery]) -> list[DeliveryOutcome]:
        now = time.time()
        outcomes: list[DeliveryOutcome] = [None] * len(batch)
        rows: dict[str, tuple[int, dict[str, Any]]] = {}
        for index, item in enumerate(batch):
            try:
                row = self.row(item, now)
            except FatalError as exc:
                outcomes[index] = exc
                continue
            rows[row["id"]] = (index, row)  # the last record of an id in a batch wins
        if not rows:
            return outcomes
        try:
            self._ensure_table()
            with self.engine.begin() as conn:
                self._write(conn, [row for _, row in rows.values()])
        except (RetriableError, SsrfRefused) as exc:
            return [exc if outcome is None else outcome for outcome in outcomes]
        except sa_exc.DBAPIError as exc:
            error = _classify(exc)
            if error.retriable or len(rows) == 1:
                return [error if outcome is None else outcome for outcome in outcomes]
            return self._one_by_one(batch, rows, outcomes)
        return outcomes

    def _write(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        assert self._statement is not None
        conn.execute(self._statement, rows)

    def _one_by_one(
        self,
        batch: Sequence[Delivery],
        rows: dict[str, tuple[int, dict[str, Any]]],
        outcomes: list[DeliveryOutcome],
    ) -> list[DeliveryOutcome]:
        """Isolate the rows the database rejects so their neighbours are still written."""
        for index, row in rows.values():
            try:
                with self.engine.begin() as conn:
                    self._write(conn, [row])
            except sa_exc.DBAPIError as exc:
                outcomes[index] = _classify(exc)
                log.warning(
                    "row for %s rejected: %s",
                    batch[index].where(),
                    outcomes[index],
                    extra={"where": batch[index].where(), "event_id": row["id"]},
                )
        return outcomes


def _classify(exc: sa_exc.DBAPIError) -> FatalError | RetriableError:
    """Connection trouble and lock timeouts are transient; rejected content is not."""
    message = f"{type(exc.orig).__name__}: {exc.orig}"[:1000]
    if exc.connection_invalidated or isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.InternalError
    ):
        return RetriableError(message, code="db-unavailable")
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError | sa_exc.ProgrammingError):
        return FatalError(message, code="db-rejected")
    return RetriableError(message, code="db-error")


DEFAULT_PORTS = {"mysql": 3306, "mariadb": 3306, "postgresql": 5432, "mssql": 1433}


def guard_connections(engine: Engine, *, allow_private_network: bool) -> None:
    """Vet (and pin) the database address of every new DBAPI connection of ``engine``.

    No-op for URLs without a host (SQLite files, unix sockets).
    """
    url = engine.url
    if not url.host:
        return
    host = url.host
    port = url.port or DEFAULT_PORTS.get(url.get_backend_name(), 3306)
    pin = not any(key.startswith("ssl") for key in url.query)

    @sa.event.listens_for(engine, "do_connect")
    def _vetted(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        addresses = checked_addresses_sync(host, port, allow_private_network=allow_private_network)
        if pin and cparams.get("host") == host:
            cparams["host"] = addresses[0]


@register_sink("mysql")
def build_mysql(target: Any) -> MysqlSink:
    """Build from a ``kind: mysql`` target model (any SQLAlchemy URL works)."""
    return MysqlSink(
        target.url,
        target.table,
        columns=getattr(target, "columns", None),
        batch_size=int(getattr(target, "batch_size", 500)),
        allow_private_network=bool(getattr(target, "allow_private_network", False)),
    )
