"""Writing generated samples to disk (.csv or .parquet, chosen by suffix).

Both go through Arrow: dates become a ``date32`` column (ISO ``YYYY-MM-DD`` in CSV), dimension
columns stay dictionary-encoded in Parquet and are decoded batch by batch for CSV, so 10M-row
samples write with flat memory.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fb_analyst import schema as S
from fb_analyst.errors import InputError
from fb_analyst.sample.scenarios import SampleData

SUFFIXES = (".csv", ".parquet")


def write_sample(data: SampleData, path: str | Path) -> Path:
    """Write ``data.frame`` to ``path``; the suffix picks the format. Returns the path written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"cannot write sample to {str(path)!r}: unknown suffix {path.suffix!r}; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    table = pa.Table.from_pandas(data.frame, preserve_index=False)
    i = table.schema.get_field_index(S.DATE)
    if i >= 0:
        table = table.set_column(i, S.DATE, table.column(i).cast(pa.date32()))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            pq.write_table(table, path)
        else:
            _write_csv(table, path)
    except OSError as exc:
        raise InputError(f"cannot write sample to {str(path)!r}: {exc.strerror or exc}") from exc
    return path


def _write_csv(table: pa.Table, path: Path, batch_rows: int = 500_000) -> None:
    """CSV in batches, decoding dictionary columns per batch so memory stays flat at 10M rows."""
    plain = pa.schema(
        [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema]
    )
    with pacsv.CSVWriter(path, plain) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_table(pa.Table.from_batches([batch]).cast(plain))
