"""The one seam to the data engine: an Ibis connection (DuckDB embedded by default, PySpark for scale).

Stages receive an ``ibis.Table`` and aggregate in the engine; only small aggregates come back
to Python (``.to_pandas()``). Point the product at a warehouse by connecting Ibis to it and
passing the table to the library functions (see README).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import ibis
import pandas as pd


def connect(backend: str = "duckdb", **kwargs: Any) -> Any:
    """Return an Ibis backend. ``duckdb`` (in-memory unless ``database=`` is given) or ``pyspark``."""
    if backend == "duckdb":
        return _quiet(ibis.duckdb.connect(**kwargs))
    if backend == "pyspark":
        from pyspark.sql import SparkSession

        session = kwargs.pop("session", None) or (
            SparkSession.builder.master(kwargs.pop("master", "local[2]"))
            .appName("fb-analyst")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # Local mode: Spark's default of 200 shuffle partitions makes small aggregates slow.
            .config("spark.sql.shuffle.partitions", str(kwargs.pop("shuffle_partitions", 4)))
            .getOrCreate()
        )
        return ibis.pyspark.connect(session)
    from fb_analyst.errors import UnknownNameError

    raise UnknownNameError("engine", backend, ["duckdb", "pyspark"])


_DEFAULT: dict[str, Any] = {}


def default_connection() -> Any:
    """A process-wide in-memory DuckDB connection (lazy)."""
    if "duckdb" not in _DEFAULT:
        _DEFAULT["duckdb"] = _quiet(ibis.duckdb.connect())
    return _DEFAULT["duckdb"]


def _quiet(con: Any) -> Any:
    """No DuckDB progress bar (it writes to the terminal under Rich's own progress display), and
    spills to a private temporary folder: DuckDB's default for an in-memory database is ``.tmp``
    in the current directory, i.e. the user's project folder."""
    con.raw_sql("SET enable_progress_bar = false")
    con.raw_sql(f"SET temp_directory = '{_spill_folder()}'")
    return con


@cache
def _spill_folder() -> Path:
    """One temporary folder per process for DuckDB's spill files, removed at exit (DuckDB
    creates it only when it actually spills)."""
    folder = Path(tempfile.gettempdir()) / f"fb-analyst-duckdb-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def limit_memory(con: Any, memory_limit: str | None) -> None:
    """Cap a DuckDB connection's memory at ``memory_limit`` (e.g. ``"1GB"``; ``None`` keeps DuckDB's
    default of 80% of RAM). Beyond it DuckDB spills aggregates and sorts to disk instead of
    growing, which keeps a 10M-row run's whole process under 3 GB (BENCHMARKS.md, "Whole run");
    its result sets still come back to Python in full. Other engines manage their own memory.
    :func:`duckdb_settings` sets it for one block of work instead."""
    if memory_limit and getattr(con, "name", None) == "duckdb":
        _set(con, "memory_limit", memory_limit)


@contextmanager
def duckdb_settings(con: Any, **values: Any) -> Iterator[None]:
    """Apply DuckDB settings (``memory_limit="1GB"``, ``preserve_insertion_order=True``) for the
    duration of a block, then restore the connection's previous values. A ``None`` value leaves
    that setting alone; on other engines nothing is set."""
    wanted = {k: v for k, v in values.items() if v is not None}
    if not wanted or getattr(con, "name", None) != "duckdb":
        yield
        return
    before = {k: _current(con, k) for k in wanted}
    for k, v in wanted.items():
        _set(con, k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            _set(con, k, v)


#: connection -> {setting: (value set through this module, DuckDB's display of it)}
_SET_HERE: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, str]]] = weakref.WeakKeyDictionary()


def _current(con: Any, name: str) -> str:
    """A setting's current value, exact where this module set it: DuckDB displays sizes rounded
    down ('2GB' reads back as '1.8 GiB'), so restoring the display would shrink a memory limit."""
    shown = con.raw_sql(f"SELECT current_setting('{name}')").fetchall()[0][0]
    exact, display = _SET_HERE.get(con, {}).get(name, (None, None))
    return exact if exact is not None and str(shown) == display else str(shown)


def _set(con: Any, name: str, value: Any) -> None:
    """SET a DuckDB setting; remember the value with its display for :func:`_current`."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    quoted = text.replace("'", "''")
    con.raw_sql(f"SET {name} = '{quoted}'")
    shown = con.raw_sql(f"SELECT current_setting('{name}')").fetchall()[0][0]
    _SET_HERE.setdefault(con, {})[name] = (text, str(shown))


def read_canonical(path: str | Path, con: Any | None = None) -> ibis.Table:
    """Open a canonical Parquet file as an Ibis table on ``con`` (default DuckDB)."""
    con = con or default_connection()
    return con.read_parquet(str(path))


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def table_from_pandas(df: pd.DataFrame, con: Any | None = None, name: str | None = None) -> ibis.Table:
    """Register an in-memory frame as an Ibis table on ``con`` (default DuckDB).

    Without ``name`` a fresh unique name is used. (Ibis 12's ``overwrite=True`` emits a ``DROP``
    that sqlglot >= 30 renders without its table name, so this never overwrites; on PySpark the
    frame becomes a session temp view rather than a table saved to the warehouse.)
    """
    con = con or default_connection()
    name = name or _unique_name("t")
    if con.name == "pyspark":
        con._session.createDataFrame(df).createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, ibis.memtable(df))


def read_file(path: str | Path, con: Any | None = None) -> ibis.Table:
    """Open a Parquet or CSV file lazily on ``con`` (default DuckDB); nothing is loaded into Python."""
    con = con or default_connection()
    path = str(path)
    return con.read_parquet(path) if path.lower().endswith(".parquet") else con.read_csv(path)


@contextmanager
def materialized(expr: ibis.Table) -> Iterator[ibis.Table]:
    """Compute ``expr`` once in its engine and yield it as a table; dropped/unpersisted on exit.

    Used for an intermediate aggregate that several queries read (the segment cube), so the
    raw rows are scanned once. DuckDB gets a temporary table (dropped with plain SQL, see
    :func:`table_from_pandas` for why not through Ibis); other backends use ``expr.cache()``.
    """
    con = expr.get_backend()
    if con.name != "duckdb":
        # Ibis 12's cache() on PySpark does not register the in-memory tables (``ibis.memtable``)
        # that ``expr`` reads, as executing it would: register them first.
        con._register_in_memory_tables(expr)
        cached = expr.cache()
        try:
            yield cached
        finally:
            cached.release()
        return
    name = _unique_name("cube")
    table = con.create_table(name, expr, temp=True)
    try:
        yield table
    finally:
        con.con.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')


def temp_view(con: Any, name: str, expr: ibis.Table) -> ibis.Table:
    """Create (or replace) the temporary DuckDB view ``name`` of ``expr``; return the view as a table.

    Ibis compiles an expression again into every query that reads it, and inlines a column
    expression into every place that uses it: a wide derived table read by many queries (the
    ingest layers, the canonical table the whole run reads) costs compile time, and its columns
    evaluation, in each. A view is compiled once; DuckDB expands it at no cost. Lives as long as
    the connection (or until replaced).
    """
    con.raw_sql(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {con.compile(expr)}')
    return con.table(name)


def to_frame(expr: ibis.Table) -> pd.DataFrame:
    """Execute ``expr`` and return a pandas frame through Arrow (much faster than Ibis's
    column-by-column pandas conversion for wide results). Integer columns with nulls become float64."""
    return expr.to_pyarrow().to_pandas()
