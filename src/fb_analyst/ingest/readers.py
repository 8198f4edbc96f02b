"""Readers: find the input files, recognise their format and expose each as a lazy engine view.

Input: paths or globs. Output: one :class:`RawSource` per file, an Ibis table on the ingest
connection whose columns are the file's own headers (untouched), plus ``source_row`` (delimited
text: numbered when staged, see ``RawSource.numbered_when_staged``).
Nothing is loaded into Python except a small byte sample used to recognise the format, the
encoding and the delimiter, and (for XLSX, which DuckDB cannot read offline) the sheet itself.

DuckDB SQL is used directly where Ibis has no equivalent: ``read_csv``/``read_json``/
``read_parquet`` options (encoding, delimiter, ``file_row_number``) and the JSON unnesting of
Marketing API ``actions`` arrays (see :mod:`fb_analyst.ingest.api_json`).
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import itertools
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ibis

from fb_analyst.errors import EmptyInputError, InputError
from fb_analyst.ingest.parsing import NULL_TOKENS

SUPPORTED = ".csv, .tsv, .txt, .xlsx, .json, .jsonl, .ndjson, .parquet"
_TEXT_EXT = {".csv", ".tsv", ".txt", ".tab"}
_JSON_EXT = {".json", ".jsonl", ".ndjson"}
_SAMPLE_BYTES = 64 * 1024
_DELIMS = [",", ";", "\t", "|"]
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class InputNotFoundError(InputError):
    """A named input file (or glob) does not exist."""


class UnknownFormatError(InputError):
    """An input is not one of the supported formats."""


class BinaryInputError(InputError):
    """An input is a binary file that is not a supported format."""


@dataclass
class RawSource:
    """One input file exposed as a lazy table with its original headers and ``source_row``.

    ``numbered_when_staged``: the view has no ``source_row``; the stage numbers the rows from the
    order they were written in (``stage._number_rows``). Delimited text is read this way because
    numbering in the view (``row_number() OVER ()``) makes DuckDB read the file on one thread.
    """

    path: Path
    format: str  # csv | tsv | xlsx | parquet | json
    table: ibis.Table
    delimiter: str | None = None
    encoding: str | None = None
    bom: bool = False
    notes: dict[str, Any] = field(default_factory=dict)
    nulls_normalised: bool = False  # True when the reader already turned null tokens into NULL
    read_path: Path | None = None  # delimited text: the UTF-8 file DuckDB reads
    typed: list[str] = field(default_factory=list)  # delimited text: columns read with native types
    estimated_rows: int = 0  # for choosing where to stage (memory or disk)
    numbered_when_staged: bool = False

    @property
    def label(self) -> str:
        return str(self.path)


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Expand globs, keep order, drop repeats; a name that matches nothing is an error."""
    out: list[Path] = []
    for item in inputs:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputNotFoundError(f"{text}: no file matches this pattern; check the glob and the folder")
            paths = [Path(m) for m in matches if Path(m).is_file()]
        else:
            p = Path(text)
            if p.is_dir():
                raise InputError(f"{p}: is a folder, not a file; pass the export files or a glob like '{p}/*.csv'")
            if not p.exists():
                raise InputNotFoundError(f"{p}: file not found; check the path and the file name")
            paths = [p]
        for p in paths:
            if p.resolve() not in {q.resolve() for q in out}:
                out.append(p)
    if not out:
        raise InputError("no input files given; pass at least one CSV, TSV, XLSX, JSON or Parquet export")
    return out


def sniff_format(path: Path) -> str:
    """Recognise the format from the content first (magic bytes), the extension second."""
    with path.open("rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    ext = path.suffix.lower()
    if not head.strip():
        raise EmptyInputError(f"{path}: file is empty; export the report again with at least one row")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                if any(n.startswith("xl/") for n in zf.namelist()):
                    return "xlsx"
        except zipfile.BadZipFile:
            pass
        raise UnknownFormatError(
            f"{path}: unknown format (a zip archive that is not an Excel workbook); supported: {SUPPORTED}"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnknownFormatError(
            f"{path}: unknown format (legacy Excel .xls); save it as .xlsx or CSV and retry"
        )
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in head and not utf16:
        raise BinaryInputError(
            f"{path}: binary file, not a text or spreadsheet export; export the report as CSV, XLSX, JSON or Parquet"
        )
    text = _decode_sample(head, _detect_encoding(head)[0]).lstrip("\ufeff \t\r\n")
    if ext in _JSON_EXT or (ext not in _TEXT_EXT and text[:1] in "[{"):
        return "json"
    if ext in _TEXT_EXT or (ext in {"", ".dat"} and _best_delimiter(text)[1] > 1):
        return "tsv" if ext == ".tsv" else "csv"
    raise UnknownFormatError(
        f"{path}: unknown format '{ext or '(no extension)'}'; supported: {SUPPORTED}"
    )


def _detect_encoding(head: bytes) -> tuple[str, bool]:
    """(encoding, has_bom) from a byte sample: BOM, then strict UTF-8, then charset-normalizer."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    try:
        head.decode("utf-8")
        return "utf-8", False
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the sample boundary
            return "utf-8", False
    from charset_normalizer import from_bytes

    results = from_bytes(head)
    best = results.best()
    if best is None:
        return "cp1252", False
    # Short samples decode equally well in several code pages; among equals prefer Windows-1252,
    # what Excel writes on Western machines.
    ties = {r.encoding for r in results if (r.chaos, r.coherence) == (best.chaos, best.coherence)}
    enc = "cp1252" if "cp1252" in ties else best.encoding.replace("_", "-")
    return ("cp1252" if enc in {"ascii", "latin-1", "iso8859-1"} else enc), False


def _decode_sample(head: bytes, encoding: str) -> str:
    return head.decode(encoding if encoding != "utf-8" else "utf-8-sig", errors="ignore")


def _best_delimiter(text: str) -> tuple[str, int]:
    """The delimiter giving the most columns, consistently, over the sample's first lines."""
    lines = [ln for ln in text.splitlines()[:60] if ln.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a byte sample may be cut
    best, best_cols = ",", 1
    for delim in _DELIMS:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
        counts = [len(r) for r in rows if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        consistent = counts.count(mode) / len(counts)
        if mode > best_cols and consistent >= 0.9:
            best, best_cols = delim, mode
    return best, best_cols


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_source(path: Path, con: Any, name: str, workdir: Path,
                action_types: tuple[str, ...] | None = None) -> RawSource:
    """Expose one file as a lazy Ibis table (``name`` is the engine view name)."""
    fmt = sniff_format(path)
    if fmt in {"csv", "tsv"}:
        return _read_delimited(path, con, name, workdir, fmt)
    if fmt == "parquet":
        con.raw_sql(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE (file_row_number), "
            f"file_row_number + 1 AS source_row FROM read_parquet({_sql_str(str(path))}, file_row_number=true)"
        )
        rows = con.con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({_sql_str(str(path))})").fetchall()[0][0]
        return RawSource(path, "parquet", con.table(name), estimated_rows=int(rows or 0))
    if fmt == "xlsx":
        return _read_xlsx(path, con, name)
    from fb_analyst.ingest.api_json import read_api_json

    return read_api_json(path, con, name, *((tuple(action_types),) if action_types else ()))


def _read_delimited(path: Path, con: Any, name: str, workdir: Path, fmt: str) -> RawSource:
    with path.open("rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    encoding, bom = _detect_encoding(head)
    text = _decode_sample(head, encoding)
    delim, ncols = _best_delimiter(text)
    if fmt == "tsv" and ncols == 1:
        delim = "\t"
    read_path = path
    if encoding not in {"utf-8", "utf-16"}:
        # DuckDB reads UTF-8/UTF-16/latin-1 natively; other code pages are transcoded once,
        # streaming, to a private temporary copy.
        read_path = workdir / f"{name}.utf8.csv"
        with path.open("r", encoding=encoding, errors="replace", newline="") as src, read_path.open(
            "w", encoding="utf-8", newline=""
        ) as dst:
            for chunk in iter(lambda: src.read(1 << 20), ""):
                dst.write(chunk)
    elif encoding == "utf-16":
        read_path = workdir / f"{name}.utf8.csv"
        read_path.write_text(path.read_text(encoding="utf-16"), encoding="utf-8")
    _csv_view(con, name, read_path, delim, None)
    per_line = len(head) / max(1, head.count(b"\n"))
    return RawSource(path, "tsv" if delim == "\t" else fmt, con.table(name), delimiter=_DELIM_NAMES[delim],
                     encoding=encoding, bom=bom, nulls_normalised=True, read_path=read_path,
                     estimated_rows=int(path.stat().st_size / per_line), numbered_when_staged=True)


def _csv_view(con: Any, name: str, read_path: Path, delim: str, columns: dict[str, str] | None) -> None:
    """(Re)create the view over a delimited file: every column text, or the given types. No row
    number: the rows are numbered once staged, so that DuckDB reads the file in parallel."""
    types = ("auto_detect=false, columns={" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in columns.items())
             + "}") if columns else "all_varchar=true"
    con.raw_sql(
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * "
        f"FROM read_csv({_sql_str(str(read_path))}, delim={_sql_str(delim)}, header=true, {types}, "
        "quote='\"', escape='\"', null_padding=true, strict_mode=false, normalize_names=false, skip=0, "
        f"nullstr=[{', '.join(_sql_str(t) for t in NULL_TOKENS)}])"
    )


_NATIVE = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
           "UBIGINT", "FLOAT", "DOUBLE"}


def retype_delimited(src: RawSource, con: Any, name: str, numeric: set[str], dates: set[str]) -> RawSource:
    """Fast path: let DuckDB's CSV reader parse the given columns natively where its sniffer
    finds plain numbers (decimal point, no separators) or ISO dates; everything else stays text.

    Only valid when the file's decimal mark is '.'. If a later row does not fit a sniffed type,
    materialisation raises ``duckdb.ConversionException`` and the caller re-reads all as text.
    """
    delim = {v: k for k, v in _DELIM_NAMES.items()}[src.delimiter or "comma"]
    sniffed = con.con.execute(
        "SELECT Columns, DateFormat FROM sniff_csv(?, delim=?, header=true, quote='\"', escape='\"', "
        "null_padding=true, strict_mode=false, normalize_names=false)", [str(src.read_path), delim]
    ).fetchall()[0]
    columns, date_format = {c["name"]: c["type"] for c in sniffed[0]}, sniffed[1]
    chosen = {}
    for col, kind in columns.items():
        if col in numeric and kind in _NATIVE:
            chosen[col] = "DOUBLE"
        elif col in dates and kind == "DATE" and date_format in (None, "", "%Y-%m-%d"):
            chosen[col] = "DATE"
    if not chosen or list(columns) != list(src.table.columns):
        return src
    _csv_view(con, name, src.read_path, delim, {c: chosen.get(c, "VARCHAR") for c in columns})
    return replace(src, table=con.table(name), typed=sorted(chosen))


def _read_xlsx(path: Path, con: Any, name: str) -> RawSource:
    """First non-empty sheet via openpyxl (DuckDB's excel extension needs a download)."""
    import openpyxl
    import pandas as pd

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None or all(h is None for h in header):
                continue
            cols = [str(h).strip() if h is not None else f"column{i}" for i, h in enumerate(header)]
            data = [
                [None if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in r]
                for r in itertools.islice(rows, None)
            ]
            frame = pd.DataFrame(data, columns=cols, dtype=object)
            frame = frame.dropna(how="all")
            frame["source_row"] = frame.index.astype("int64") + 2
            con.con.register(f"{name}_df", frame)
            con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}_x" AS SELECT * FROM "{name}_df"')
            con.con.unregister(f"{name}_df")
            con.raw_sql(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM "{name}_x"')
            return RawSource(path, "xlsx", con.table(name), notes={"sheet": ws.title})
    finally:
        wb.close()
    raise EmptyInputError(f"{path}: workbook has no sheet with data; export the report again with at least one row")


def new_workdir() -> tempfile.TemporaryDirectory[str]:
    """A private folder for transcoded copies; removed when ingestion ends."""
    return tempfile.TemporaryDirectory(prefix="fb-analyst-ingest-")


