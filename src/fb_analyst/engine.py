"""The one seam to the data engine: an Ibis connection (DuckDB embedded by default, PySpark for scale).

Stages receive an ``ibis.Table`` and aggregate in the engine; only small aggregates come back
to Python (``.to_pandas()``). Point the product at a warehouse by connecting Ibis to it and
passing the table to the library functions (see README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pandas as pd


def connect(backend: str = "duckdb", **kwargs: Any) -> Any:
    """Return an Ibis backend. ``duckdb`` (in-memory unless ``database=`` is given) or ``pyspark``."""
    if backend == "duckdb":
        return ibis.duckdb.connect(**kwargs)
    if backend == "pyspark":
        from pyspark.sql import SparkSession

        session = kwargs.pop("session", None) or (
            SparkSession.builder.master(kwargs.pop("master", "local[2]"))
            .appName("fb-analyst")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        return ibis.pyspark.connect(session)
    from fb_analyst.errors import UnknownNameError

    raise UnknownNameError("engine", backend, ["duckdb", "pyspark"])


_DEFAULT: dict[str, Any] = {}


def default_connection() -> Any:
    """A process-wide in-memory DuckDB connection (lazy)."""
    if "duckdb" not in _DEFAULT:
        _DEFAULT["duckdb"] = ibis.duckdb.connect()
    return _DEFAULT["duckdb"]


def read_canonical(path: str | Path, con: Any | None = None) -> ibis.Table:
    """Open a canonical Parquet file as an Ibis table on ``con`` (default DuckDB)."""
    con = con or default_connection()
    return con.read_parquet(str(path))


def table_from_pandas(df: pd.DataFrame, con: Any | None = None, name: str | None = None) -> ibis.Table:
    """Register an in-memory frame as an Ibis table on ``con`` (default DuckDB)."""
    con = con or default_connection()
    return con.create_table(name or f"t_{id(df)}", df, overwrite=True)
