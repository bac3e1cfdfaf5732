"""The Spark engine: a log that lives in a lake or warehouse, queried where it is.

How a query runs (SPEC §7; see :mod:`cxdata.engines` for kernel / then):

1. Spark reads the source (a catalog table, or a format and a path), keeps the mapped
   columns as text, numbers the rows (``_ord``: Spark has no file order) and
   repartitions them by customer, so that each partition holds whole customers.
2. On every partition an embedded DuckDB turns the text into the canonical events with
   the *same* SQL the workspace ingest uses (:func:`cxdata.io.ingest.build_transform_sql`:
   §1's rules, rejected rows left out) and runs the analysis kernel over them
   (``mapInArrow``).  Only the kernel's rows leave the partition.  The parsed events are
   kept in Spark's cache, packed column by column (:mod:`cxdata.engines.spark_partitions`),
   so later questions skip the read and the parse and take only the columns they read.
3. The kernel rows meet in one partition, where another DuckDB runs the ``then`` SQL;
   its result (an aggregate) is all that comes back to the driver.

Nothing is copied to the workspace.  The same SQL text runs on both engines, so the
numbers are the DuckDB engine's, event for event.  Times are UTC (the Spark session's
time zone is set to UTC).  pyspark is imported only here, and only when a Spark source
is used: ``pip install -r requirements-spark.txt``.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlparse

import pandas as pd

from cxdata.io import schema
from cxdata.engines.base import Engine
from cxdata.engines.spark_partitions import columns_read, output_schema, partition_runner, select_fields
from cxdata.errors import UnusableInput
from cxdata.sql import quote_ident

#: Formats a ``spark:FORMAT:PATH`` source may name.
FORMATS = ("parquet", "csv", "json", "orc", "delta", "avro", "text")
DEFAULT_URL = "local[*]"
INSTALL_HINT = "install it with `pip install -r requirements-spark.txt`"
#: Seconds to wait for a Spark Connect server to accept a connection.
CONNECT_TIMEOUT = 10.0
#: The port pyspark's local mode serves Spark Connect on.
LOCAL_CONNECT_PORT = 15002
#: Seconds to wait for a local Spark (a JVM starting) to answer its first call.
START_TIMEOUT = 180.0
_SESSIONS: dict[str, object] = {}


@dataclass(frozen=True)
class SparkSource:
    """A parsed ``spark:`` source: a catalog table, or a format and a path."""
    table: str | None = None
    format: str | None = None
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> "SparkSource":
        """``spark:main.cx.events`` or ``spark:parquet:/lake/events/`` (the ``spark:``
        prefix optional)."""
        body = text[len("spark:"):] if text.startswith("spark:") else text
        if not body:
            raise UnusableInput("Name a Spark table (spark:catalog.schema.table) or a format and "
                                "a path (spark:parquet:/lake/events/).")
        head, sep, rest = body.partition(":")
        if sep and head.lower() in FORMATS:
            if not rest:
                raise UnusableInput(f"Give the path after spark:{head}: (for example "
                                    f"spark:{head}:/data/events/).")
            return cls(format=head.lower(), path=rest)
        if sep and "/" not in head and head.lower() not in FORMATS and not head.startswith("`"):
            raise UnusableInput(f"Unknown Spark format '{head}': use one of {', '.join(FORMATS)}, "
                                "or a table name without a colon.")
        return cls(table=body)

    def describe(self) -> str:
        return f"Spark table {self.table}" if self.table else f"{self.format} files at {self.path}"

    def text(self) -> str:
        """The source as the CLI spells it (``spark:TABLE`` or ``spark:FORMAT:PATH``)."""
        return f"spark:{self.table}" if self.table else f"spark:{self.format}:{self.path}"


@dataclass(frozen=True)
class Narrowing:
    """A smaller question to ask first, pushed into the scan.

    ``sample_percent`` (1…99): only the customers whose id hashes into that share
    (``pmod(hash(trim(customer)), 100) < sample_percent``, Spark's Murmur3 hash, so the
    same customers every time and on every cluster), with all of their events, filtered
    in Spark before the shuffle.  ``start`` / ``end``: only events on those days (UTC,
    both inclusive), kept after the rows are parsed.  Every number is then the number
    of that subset, never scaled up.
    """
    sample_percent: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self):
        if self.sample_percent is not None and not 1 <= int(self.sample_percent) <= 99:
            raise UnusableInput("A customer sample is 1 to 99 percent of the customers.")
        if self.start and self.end and self.start > self.end:
            raise UnusableInput("The first day of the range comes after its last day.")

    @property
    def active(self) -> bool:
        return bool(self.sample_percent or self.start or self.end)

    def label(self) -> str:
        """``"Sample: 10% of customers (by hash), 2025-01-01 to 2025-03-31"``; "" when
        nothing is narrowed."""
        parts = []
        if self.sample_percent:
            parts.append(f"{self.sample_percent}% of customers (by hash of the customer id)")
        if self.start or self.end:
            parts.append(f"events {self.start or 'from the first'} to {self.end or 'the last'} (UTC)")
        return ("Sample: " + ", ".join(parts)) if parts else ""

    def slug(self) -> str:
        """A short file-name part: ``sample-10pct``, ``2025-01-01_2025-03-31``."""
        parts = []
        if self.sample_percent:
            parts.append(f"sample-{self.sample_percent}pct")
        if self.start or self.end:
            parts.append(f"{self.start or 'first'}_{self.end or 'last'}")
        return "-".join(parts)

    def ts_condition(self) -> str:
        """DuckDB condition on ``ts`` for the day range ("" without one)."""
        terms = []
        if self.start:
            terms.append(f"ts >= TIMESTAMP '{self.start.isoformat()}'")
        if self.end:
            terms.append(f"ts < TIMESTAMP '{(self.end + dt.timedelta(days=1)).isoformat()}'")
        return " AND ".join(terms)


def spark_url(explicit: str | None = None) -> str:
    """Where Spark runs: ``--spark URL``, else ``CXDATA_SPARK``, else ``local[*]``."""
    return explicit or os.environ.get("CXDATA_SPARK") or DEFAULT_URL


def redact(url: str) -> str:
    """The URL with any token or password cut short, for showing it back."""
    parts = url.split(";")
    shown = [parts[0]]
    for part in parts[1:]:
        key, _, value = part.partition("=")
        secret = key.lower() in ("token", "password", "x-databricks-token") or "token" in key.lower()
        shown.append(f"{key}={value[:4]}…" if secret and value else part)
    return ";".join(shown)


def _check_reachable(url: str) -> None:
    """A plain sentence instead of a hang when a Spark Connect server does not answer."""
    parsed = urlparse(url.split(";")[0])
    host, port = parsed.hostname, parsed.port or 15002
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError:
        raise UnusableInput(f"The Spark Connect server at {host}:{port} did not answer within "
                            f"{CONNECT_TIMEOUT:.0f} s; check the URL (--spark or CXDATA_SPARK) and "
                            "that the server is running.") from None


def session(url: str | None = None):
    """A Spark Connect session for ``url`` (``sc://host:port`` or ``local[N]``), made
    once per process and kept; its SQL time zone is UTC."""
    url = spark_url(url)
    if url in _SESSIONS:
        return _SESSIONS[url]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UnusableInput(f"Spark sources need pyspark, which is not installed: {INSTALL_HINT}.") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if url.startswith("sc://"):
        _check_reachable(url)
    elif url.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")      # stay on the loopback
        if _port_taken(LOCAL_CONNECT_PORT):
            # pyspark's local mode always serves Spark Connect on this port
            raise UnusableInput(f"Another local Spark already serves port {LOCAL_CONNECT_PORT} on this "
                                f"machine; connect to it with --spark sc://localhost:{LOCAL_CONNECT_PORT} "
                                "(and its SPARK_CONNECT_AUTHENTICATE_TOKEN), or stop it first.")
    else:
        raise UnusableInput(f"Cannot use the Spark address '{redact(url)}': give sc://host:port "
                            "(Spark Connect) or local[N].")
    try:
        spark = SparkSession.builder.remote(url).config("spark.sql.session.timeZone", "UTC").getOrCreate()
        # The first call to a server: bounded, since a client that cannot complete its
        # handshake (a wrong scheme, TLS, a token) retries for minutes otherwise.
        _within(lambda: spark.conf.set("spark.sql.session.timeZone", "UTC"),
                START_TIMEOUT if url.startswith("local") else 3 * CONNECT_TIMEOUT, url)
    except UnusableInput:
        raise
    except Exception as exc:
        raise UnusableInput(f"Spark at {redact(url)} could not be started or reached: "
                            f"{_first_line(exc)}") from None
    _SESSIONS[url] = spark
    return spark


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _within(call, seconds: float, url: str) -> None:
    """Run ``call`` and wait at most ``seconds`` for it (an UnusableInput sentence after)."""
    import threading
    outcome: list = []

    def work():
        try:
            call()
            outcome.append(None)
        except BaseException as exc:   # handed back to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise UnusableInput(f"Spark at {redact(url)} did not answer within {seconds:.0f} s; check the "
                            "URL (for a token: sc://host:port/;token=…; TLS: ;use_ssl=true) and the server.")
    if outcome[0] is not None:
        raise outcome[0]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def read_source(spark, src: SparkSource):
    """The source as a Spark DataFrame (CSV: a header row, every column text); a missing
    table or path is an UnusableInput sentence."""
    try:
        if src.table:
            frame = spark.read.table(src.table)
        else:
            reader = spark.read.format(src.format)
            if src.format == "csv":
                reader = reader.option("header", "true").option("inferSchema", "false")
            frame = reader.load(src.path)
        frame.columns        # resolves the source: a missing table or path fails here
        return frame
    except UnusableInput:
        raise
    except Exception as exc:
        text = str(exc)
        if "TABLE_OR_VIEW_NOT_FOUND" in text or "PATH_NOT_FOUND" in text or "not found" in text.lower():
            raise UnusableInput(f"Spark cannot find {src.describe()}: check the name or path.") from None
        raise UnusableInput(f"Spark could not read {src.describe()}: {_first_line(exc)}") from None


def source_columns(spark, src: SparkSource) -> list[str]:
    """The column names of a source (reads its schema only, no rows)."""
    return list(read_source(spark, src).columns)


class SparkEngine(Engine):
    """Events of a Spark source (:class:`SparkSource`), mapped to roles as a file is
    (``overrides`` win over the guesses, SPEC §1), ``order_key`` ordering one customer's
    events at one instant, ``narrowing`` (:class:`Narrowing`) a customer sample or a day
    range to ask about first.  Kernels run as table ``events`` on every partition."""

    table = "events"

    def __init__(self, spark, source: SparkSource, overrides: dict[str, str] | None = None,
                 *, order_key: str | None = None, score_policy: str = "reject",
                 partitions: int | None = None, narrowing: Narrowing | None = None):
        from cxdata.io import ingest
        self.spark, self.source, self.order_key = spark, source, order_key
        self.narrowing = narrowing or Narrowing()
        frame = self._read()
        columns = list(frame.columns)
        self.roles = schema.guess_roles(columns, overrides)
        ingest.check_roles(self.roles, columns)
        if order_key is not None and order_key not in columns:
            raise UnusableInput(f"The order key column {order_key!r} is not in {source.describe()}; "
                                f"its columns are {', '.join(columns[:30])}.")
        self.columns = columns
        self.partitions = partitions or self._default_partitions()
        from pyspark.sql import functions as F
        # Every source column as text, as the ingest sees a file, plus _ord: Spark has no
        # file order, so ties keep the order Spark read them in, unless an order key says.
        text = frame.select(*[F.col(quote_spark(c)).cast("string").alias(c) for c in columns])
        text = text.withColumn("_ord", F.monotonically_increasing_id() + 1)
        customer = F.trim(F.col(quote_spark(self.roles["customer_id"])))
        if self.narrowing.sample_percent:
            # In Spark, before the shuffle: the left-out customers never move.
            text = text.filter(F.pmod(F.hash(customer), F.lit(100)) < int(self.narrowing.sample_percent))
        self._text = text.repartition(self.partitions, customer)
        transform, self.attributes = ingest.build_transform_sql(
            _Opened(columns, "SELECT * FROM input"), self.roles, score_policy, "src._ord")
        self._transform = transform
        self._events_sql = self._events_select(transform, score_policy)
        self._types: dict[str, str] | None = None
        self._events = None
        self._bounds: tuple | None = None

    # -- reading -------------------------------------------------------------------
    def _read(self):
        return read_source(self.spark, self.source)

    def _default_partitions(self) -> int:
        """The session's shuffle partitions; for a local session one per core: every
        partition is a task that pays a fixed ~0.1–0.3 s (a Python worker's turn, an
        embedded DuckDB, its packed events), so more tasks than cores only add rounds
        (measured at 1M events on 2 cores: a funnel 0.63 s with 2, 1.03 s with 4)."""
        try:
            master = str(self.spark.conf.get("spark.master"))
        except Exception:
            master = ""
        if master.startswith("local"):
            inside = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
            cores = (os.cpu_count() or 2) if inside in ("*", "") else int(inside.split(",")[0])
            return max(1, cores)
        try:
            return int(self.spark.conf.get("spark.sql.shuffle.partitions"))
        except Exception:
            return 200

    def _events_select(self, transform: str, score_policy: str) -> str:
        """The canonical events of a partition: the transform's rows without a rejecting
        problem, ``_row`` re-numbered so that ties follow the order key when there is one."""
        drop = "_problems"
        # A row without problems has a NULL list (cxdata.io.ingest.build_transform_sql).
        kept = ("coalesce(len(_problems), 0) = 0" if score_policy == "reject"
                else "coalesce(len(list_filter(_problems, lambda p: p.action = 'rejected')), 0) = 0")
        if self.narrowing.ts_condition():
            kept = f"{kept} AND {self.narrowing.ts_condition()}"
        self._kept = kept
        if self.order_key is None:
            return f"SELECT * EXCLUDE ({drop}) FROM ({transform}) WHERE {kept}"
        # As the DuckDB engine's order-key view: ties of one customer by the key (the
        # numbers are only compared within a customer, so per-partition numbering holds).
        key = quote_ident(self._attribute_of(self.order_key))
        return (f"SELECT * EXCLUDE ({drop}, _row), row_number() OVER (ORDER BY customer_id, ts, "
                f"TRY_CAST({key} AS DOUBLE) NULLS LAST, {key}, _row) AS _row "
                f"FROM ({transform}) WHERE {kept}")

    def stage_order(self) -> list[str]:
        """The stage order of the log as the ingest finds it (SPEC §1): the default order
        when every stage is a default one, else first appearance in read order (the
        transform's _row, before an order key renumbers it)."""
        rows = self._rows_of_transform(
            f"SELECT stage, min(_row) AS first FROM checked WHERE stage IS NOT NULL AND {self._kept} "
            "GROUP BY stage", "SELECT stage FROM kernel GROUP BY stage ORDER BY min(first)")
        return schema.default_stage_order([r[0] for r in rows])

    def _rows_of_transform(self, kernel: str, then: str) -> list[tuple]:
        stages = [("checked", self._transform, []), ("kernel_out", kernel, [])]
        rows, schema_out = self._map(self._text, stages, self._input_schema())
        rows, _ = self._map(rows.repartition(1), [("result", then, [])], schema_out, "kernel")
        return [tuple(r.values()) for r in _naive_utc(rows.toArrow()).to_pylist()]

    def _attribute_of(self, column: str) -> str:
        """The events column holding source column ``column``."""
        for role, mapped in self.roles.items():
            if mapped == column:
                return schema.ROLE_COLUMN[role]
        return schema.attribute_name(column)

    # -- the Engine interface ----------------------------------------------------------
    def _input_schema(self):
        import pyarrow as pa
        return pa.schema([pa.field(c, pa.string()) for c in self.columns] + [pa.field("_ord", pa.int64())])

    def _map(self, frame, stages, input_schema, input_name: str = "input", *,
             packed_input: Sequence[str] = (), pack_output: bool = False):
        """``frame`` through ``stages`` on every partition, and the Arrow schema of the
        last stage's rows (worked out here, by the same stages on an empty input).  With
        ``pack_output`` the frame's rows are packed blocks of them (:func:`~cxdata.engines.spark_partitions.partition_runner`)."""
        import pyarrow as pa
        from pyspark.sql.pandas.types import from_arrow_schema
        runner = partition_runner(stages, input_schema.serialize().to_pybytes(), input_name,
                                   packed_input=packed_input, pack_output=pack_output)
        output = output_schema(stages, input_schema, input_name)
        spark_schema = pa.schema([pa.field(f"c{i}", pa.binary()) for i in range(len(output))]) \
            if pack_output else output
        return frame.mapInArrow(runner, from_arrow_schema(spark_schema)), output

    def _canonical_events(self):
        """The canonical events, partitioned by customer, computed once and kept in the
        Spark session's cache as packed blocks (every later query starts from them: no
        second read, parse or shuffle of the source); and their Arrow schema."""
        if self._events is None:
            frame, schema_out = self._map(self._text, [("events", self._events_sql, [])],
                                          self._input_schema(), pack_output=True)
            self._events = (frame.persist(), schema_out)
        return self._events

    def cached_bytes(self) -> int:
        """Bytes of the packed canonical events in Spark's cache (LZ4-compressed Arrow;
        the first query's read and parse when they are not cached yet)."""
        from pyspark.sql import functions as F
        events, _ = self._canonical_events()
        return int(events.agg(sum(F.sum(F.length(c)) for c in events.columns)).first()[0] or 0)

    def _result(self, kernel: str, params: Sequence, then: str | None, then_params: Sequence):
        """The result as an Arrow table, timestamps naive UTC (as DuckDB's)."""
        events, events_schema = self._canonical_events()
        read = columns_read(kernel, params, events_schema)
        index = [events_schema.get_field_index(name) for name in read]
        rows, schema_out = self._map(events.select(*[f"c{i}" for i in index]),
                                     [("kernel_out", kernel, list(params))],
                                     select_fields(events_schema, index), "events", packed_input=read)
        if then is not None:
            rows = rows.repartition(1)
            rows, _ = self._map(rows, [("result", then, list(then_params))], schema_out, "kernel")
        try:
            return _naive_utc(rows.toArrow())
        except Exception as exc:
            raise UnusableInput(f"Spark could not run the query: {_first_line(exc)}") from None

    def run(self, kernel: str, params: Sequence = (), then: str | None = None,
            then_params: Sequence = ()) -> pd.DataFrame:
        return self._result(kernel, params, then, then_params).to_pandas()

    def rows(self, kernel: str, params: Sequence = (), then: str | None = None,
             then_params: Sequence = ()) -> list[tuple]:
        table = self._result(kernel, params, then, then_params)
        return [tuple(row.values()) for row in table.to_pylist()]

    def column_types(self) -> dict[str, str]:
        if self._types is None:
            import duckdb
            import pyarrow as pa
            con = duckdb.connect()
            con.register("input_arrow", pa.Table.from_batches([], schema=self._input_schema()))
            con.execute("CREATE TABLE input AS SELECT * FROM input_arrow")
            rows = con.execute(f"DESCRIBE {self._events_sql}").fetchall()
            con.close()
            self._types = {row[0]: row[1] for row in rows}
        return dict(self._types)

    def time_range_us(self) -> tuple[int | None, int | None]:
        if self._bounds is None:
            low, high = self.rows("SELECT epoch_us(min(ts)) AS lo, epoch_us(max(ts)) AS hi FROM events",
                                  then="SELECT min(lo), max(hi) FROM kernel")[0]
            self._bounds = (low, high)
        return self._bounds

    # -- §1 accounting ---------------------------------------------------------------
    def validation(self, problem_limit: int = 1000) -> dict:
        """Rows read / accepted / rejected by §1's rules and the first problems, as
        ``validate`` reports them (row = Spark's read position)."""
        stages = [("checked", self._transform, []),
                  ("kernel_out", "SELECT count(*) AS n, count(*) FILTER (WHERE len(list_filter(_problems, "
                                 "lambda p: p.action = 'rejected')) > 0) AS rejected, "
                                 "list({'row': _row, 'problems': _problems} ORDER BY _row) FILTER "
                                 "(WHERE len(_problems) > 0)[1:?] AS problems FROM checked",
                   [problem_limit])]
        rows, schema_out = self._map(self._text, stages, self._input_schema())
        rows = rows.repartition(1)
        rows, _ = self._map(rows, [("result", "SELECT sum(n)::BIGINT AS n, sum(rejected)::BIGINT AS "
                                              "rejected, flatten(list(problems)) AS problems FROM kernel",
                                    [])], schema_out, "kernel")
        n, rejected, problems = rows.toArrow().to_pylist()[0].values()
        listed = []
        for item in sorted(problems or [], key=lambda p: p["row"])[:problem_limit]:
            for problem in item["problems"]:
                listed.append({"row": int(item["row"]), "column": problem["column"],
                               "value": problem["value"], "reason": problem["reason"]})
        n, rejected = int(n or 0), int(rejected or 0)
        return {"rows_read": n, "rows_accepted": n - rejected, "rows_rejected": rejected,
                "roles": dict(self.roles), "problems": listed[:problem_limit]}


@dataclass
class _Opened:
    """The two fields of :class:`cxdata.io.sources.OpenedSource` the transform reads."""
    columns: list[str]
    relation_sql: str


def quote_spark(name: str) -> str:
    """A column name for Spark's ``col()`` (backquoted: dots and colons stay literal)."""
    return "`" + name.replace("`", "``") + "`"


def _naive_utc(table):
    """Spark hands timestamps back zone-aware (UTC): make them naive UTC, as DuckDB's are."""
    import pyarrow as pa
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            naive = table.column(index).cast(pa.timestamp(field.type.unit))
            table = table.set_column(index, pa.field(field.name, naive.type), naive)
    return table
