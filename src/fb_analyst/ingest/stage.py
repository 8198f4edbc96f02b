"""``ingest_files``: the ingest stage, end to end, on one Ibis (DuckDB) connection.

1. readers expose each file as a lazy view; ``prepare`` builds its cleaning expression;
2. the union of all files is written once into a private DuckDB database attached to the
   connection: in memory for ordinary inputs, a temporary file for large ones (compressed and
   buffer-managed, so 10M rows stay under 2 GB of RAM; ``ingest.disk_stage_rows``); this is the
   only full pass over the inputs;
3. exact duplicates are found by hash, verified on the values, counted and deleted; the per-file
   counts re-check the staging pass's hard-rule flag on every row; one query names the reasons of
   the flagged rows, which are extracted with their raw cells (quarantine) and deleted;
4. distinct texts (not rows) go through Python: ftfy repair and entity resolution (rapidfuzz);
   the changes are applied in the engine by UPDATE ... FROM a mapping table;
5. the canonical table is a view projecting that table (``IngestResult.table``); its column types
   are checked against the canonical contract (``validate.canonical_rules``, the rules pandera's
   ``canonical_schema`` states), and its data checks are counted in the one query that computes
   the report's aggregates (``summaries.profile``).

DuckDB SQL is used where Ibis has no operation: ATTACH, DELETE, UPDATE ... FROM, GROUPING SETS.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd
from ibis import _

from fb_analyst import schema as S
from fb_analyst.engine import default_connection, duckdb_settings, temp_view
from fb_analyst.errors import EmptyInputError, StageError
from fb_analyst.ingest import report as R
from fb_analyst.ingest.names import load_overrides, repair_text, resolve_names
from fb_analyst.ingest.prepare import (
    FILE_IDX, FLAG_BITS, FLAGS, RAW, RULES, SUSPECT, PreparedFile, conform, prepare_file, rule_col, unpack,
)
from fb_analyst.ingest.readers import expand_inputs, new_workdir, read_source
from fb_analyst.ingest.validate import HARD_RULES, canonical_check_counts, hard_violations, schema_problems
from fb_analyst.settings import Settings

NAME_LEVELS = (S.CAMPAIGN, S.ADSET)
TABLE = "canonical"
_QUARANTINE_COLUMNS = [S.SOURCE_FILE, S.SOURCE_ROW, "reason"]


def ingest_files(inputs: list[str | Path], settings: Settings, con: Any = None) -> R.IngestResult:
    """Read, map, parse, clean, resolve names, validate and quarantine ``inputs`` (paths or globs)."""
    con = con or default_connection()
    if getattr(con, "name", None) != "duckdb":
        # Files are read with DuckDB's readers; hand the result to another engine via Parquet.
        raise StageError("ingest", f"ingest needs an Ibis DuckDB connection, got {getattr(con, 'name', con)!r}")
    uid = uuid.uuid4().hex[:10]
    paths = expand_inputs(inputs)
    store = f"fb_ingest_{uid}"
    try:
        with new_workdir() as wd:
            prefix = f"_ingest_src_{uid}"
            sources = [read_source(p, con, f"{prefix}_{i}", Path(wd), settings.ingest.purchase_action_types)
                       for i, p in enumerate(paths)]
            on_disk = sum(s.estimated_rows for s in sources) > settings.ingest.disk_stage_rows
            _attach_store(con, store, on_disk)
            # A large input is staged under a memory cap (DuckDB spills to its temp_directory);
            # rows keep their file order, which numbers them (``_number_rows``).
            limit = settings.ingest.disk_stage_memory_limit if on_disk else None
            with duckdb_settings(con, memory_limit=limit, preserve_insertion_order=True):
                try:
                    try:
                        files, dims, measures = _stage(con, store, sources, settings, prefix, typed=True)
                    except duckdb.ConversionException:
                        # A value beyond the sniffed sample did not fit its native type: read as text.
                        con.raw_sql(f'DROP TABLE IF EXISTS "{store}".main.{TABLE}')
                        sources = [read_source(p, con, f"{prefix}_{i}", Path(wd), settings.ingest.purchase_action_types)
                                   for i, p in enumerate(paths)]
                        files, dims, measures = _stage(con, store, sources, settings, prefix, typed=False)
                finally:
                    for i in range(len(paths)):
                        for suffix in ("_l3", "_l2", "_l1", ""):
                            con.raw_sql(f'DROP VIEW IF EXISTS "{prefix}_{i}{suffix}"')
                        con.raw_sql(f'DROP TABLE IF EXISTS "{prefix}_{i}_x"')  # XLSX sheets
                return _finish(con, store, files, dims, measures, settings)
    except BaseException:
        con.raw_sql(f'DETACH DATABASE IF EXISTS "{store}"')
        raise


def _stage(con: Any, store: str, sources: list, settings: Settings, prefix: str,
           typed: bool) -> tuple[list[PreparedFile], list[str], list[str]]:
    """Prepare every file and write their union into the store (the one full pass)."""
    files = [prepare_file(src, i, settings, con, f"{prefix}_{i}", typed) for i, src in enumerate(sources)]
    union, dims, measures = conform(files)
    qualified = f'"{store}".main.{TABLE}'
    con.raw_sql(f"CREATE TABLE {qualified} AS {con.compile(union)}")
    _number_rows(con, qualified, files)
    return files, dims, measures


def _number_rows(con: Any, qualified: str, files: list[PreparedFile]) -> None:
    """Set ``source_row`` of the files whose reader left it to the stage (delimited text): the
    row's position in its file, counting the header line as 1, as the quarantine reports it.

    The staging query keeps each file's rows in file order (DuckDB preserves insertion order
    through projections and UNION ALL; ``preserve_insertion_order`` is on while staging), so in
    the fresh table a row's ``rowid`` minus its file's first ``rowid`` is its position. Runs before
    any DELETE: a checkpoint may compact rows, and their rowids, after one. The order within a
    file rests on ``preserve_insertion_order``; what is checked is that each file's rows form one
    contiguous run of rowids (otherwise an error, never a wrong number).
    """
    pending = [i for i, f in enumerate(files) if f.source.numbered_when_staged]
    if not pending:
        return
    spans = con.raw_sql(
        f"SELECT {FILE_IDX}, min(rowid), max(rowid), count(*) FROM {qualified} "
        f"WHERE {FILE_IDX} IN ({', '.join(map(str, pending))}) GROUP BY {FILE_IDX}").fetchall()
    for i, first, last, rows in spans:
        if last - first + 1 != rows:
            raise StageError("ingest", f"{files[i].source.label}: rows were not staged in file order")
    start = " ".join(f"WHEN {i} THEN {first}" for i, first, _last, _rows in spans)
    con.raw_sql(f"UPDATE {qualified} SET {S.SOURCE_ROW} = rowid - (CASE {FILE_IDX} {start} END) + 2 "
                f"WHERE {FILE_IDX} IN ({', '.join(str(i) for i, *_ in spans)})")


def _attach_store(con: Any, name: str, on_disk: bool) -> None:
    """Attach the private database holding the ingest table: in memory for ordinary inputs, a
    temporary file (compressed, buffer-managed, removed at exit) for large ones."""
    if not on_disk:
        con.raw_sql(f"ATTACH ':memory:' AS \"{name}\"")
        return
    folder = Path(tempfile.mkdtemp(prefix="fb-analyst-ingest-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    con.raw_sql(f"ATTACH '{folder / 'ingest.duckdb'}' AS \"{name}\"")


def _finish(con: Any, store: str, files: list[PreparedFile], dims: list[str], measures: list[str],
            settings: Settings) -> R.IngestResult:
    qualified = f'"{store}".main.{TABLE}'
    # Views (compiled once) of what every later query, and the whole run, reads: see temp_view.
    base = temp_view(con, f"{store}_staged", unpack(con.table(TABLE, database=store), measures))
    dup_counts = _remove_duplicates(con, qualified, dims, measures)
    per_file = _per_file_counts(base, dup_counts, measures)
    suspects = sum(v[2] for v in per_file.values())
    quarantine = _quarantine(base, files, measures) if suspects else _no_quarantine()
    for i, f in enumerate(files):
        read, acc, quar, _dups = per_file.get(i, (0, 0, 0, 0))
        if quar and not acc:  # every row invalid (or a duplicate); a file of duplicates alone is fine
            raise EmptyInputError(_all_invalid_message(quarantine, f, read))
    if suspects:
        con.raw_sql(f"DELETE FROM {qualified} WHERE ({FLAGS} & {1 << FLAG_BITS[SUSPECT]}) <> 0")

    audits = _repair_texts(con, qualified, base, dims, settings)
    wide = base.mutate(**{S.imputed_flag(m): base[rule_col(m)].notnull() for m in measures},
                       **{S.SOURCE_FILE: _file_label(base, files)})
    table = temp_view(con, f"{store}_{TABLE}", wide.select(*[c for c in S.CANONICAL_ORDER if c in wide.columns]))
    wrong_types = schema_problems(table)
    if wrong_types:
        raise StageError("ingest", f"canonical table fails its schema: {wrong_types}"[:500])

    from fb_analyst.ingest.summaries import build_report, profile

    row = profile(wide, list(table.columns), measures, canonical_check_counts(wide, list(table.columns)))
    failed = {k: int(v) for k, v in row.items() if k.startswith("check:") and int(v or 0)}
    if failed:
        raise StageError("ingest", f"canonical table fails its schema: {failed}"[:500])
    report = build_report(table, wide, row, files, per_file, measures, audits, quarantine)
    return R.IngestResult(table=table, report=report, quarantine=quarantine)


def _file_label(base: ibis.Table, files: list[PreparedFile]) -> Any:
    """source_file from the file index (a per-row string would cost memory for nothing)."""
    if len(files) == 1:
        return ibis.literal(files[0].source.label)
    return base[FILE_IDX].cases(*[(i, f.source.label) for i, f in enumerate(files)])


def _remove_duplicates(con: Any, qualified: str, dims: list[str], measures: list[str]) -> dict[int, int]:
    """Delete every exact duplicate after its first occurrence; return counts per file.

    Rows equal in every canonical column (raw names, parsed date and measures, currency, the
    recovery rule used) are duplicates. Candidates share a hash of the date, entity names and
    measures (one aggregate of one integer per row; usually nothing comes back), then only they
    are compared on the values.
    """
    keys = [S.DATE, *dims, *measures, RULES, S.CURRENCY]
    probe = ", ".join(f'"{c}"' for c in [S.DATE, *[d for d in S.ENTITY_DIMENSIONS if d in dims], *measures])
    hashes = con.raw_sql(
        f"SELECT h FROM (SELECT hash({probe}) AS h FROM {qualified}) GROUP BY h HAVING count(*) > 1"
    ).fetchall()
    if not hashes:
        return {}
    name = f"_ingest_dups_{uuid.uuid4().hex[:8]}"
    con.con.register(name, pd.DataFrame({"h": [h for (h,) in hashes]}, dtype="uint64"))
    try:
        partition = ", ".join(f'"{c}"' for c in keys)
        frame = con.raw_sql(f"""
            SELECT {FILE_IDX}, {S.SOURCE_ROW} FROM (
                SELECT {FILE_IDX}, {S.SOURCE_ROW},
                       row_number() OVER (PARTITION BY {partition} ORDER BY {FILE_IDX}, {S.SOURCE_ROW}) AS rn
                FROM {qualified} WHERE hash({probe}) IN (SELECT h FROM {name}))
            WHERE rn > 1""").df()
    finally:
        con.con.unregister(name)
    if frame.empty:
        return {}
    con.con.register(name, frame)
    try:
        con.raw_sql(f"DELETE FROM {qualified} AS t USING {name} AS d "
                    f"WHERE t.{FILE_IDX} = d.{FILE_IDX} AND t.{S.SOURCE_ROW} = d.{S.SOURCE_ROW}")
    finally:
        con.con.unregister(name)
    return {int(k): int(v) for k, v in frame[FILE_IDX].value_counts().items()}


def _per_file_counts(base: ibis.Table, dups: dict[int, int],
                     measures: list[str]) -> dict[int, tuple[int, int, int, int]]:
    """file index -> (read, accepted, quarantined, duplicates).

    The same query re-evaluates the hard rules on the staged values of every row: the staging
    pass's flag must agree with them (``_quarantine`` then names the reasons of the flagged rows only).
    """
    hard = ibis.or_(*hard_violations(base, measures).values())
    agg = base.group_by(FILE_IDX).aggregate(rows=_.count(), bad=_[SUSPECT].sum(), rechecked=hard.sum()).execute()
    if (agg["bad"] != agg["rechecked"]).any():
        raise StageError("ingest", "hard-rule checks disagree between the staging pass and the staged values")
    got = {int(r[FILE_IDX]): (int(r["rows"]), int(r["bad"])) for r in agg.to_dict("records")}
    out = {}
    for i in set(got) | set(dups):
        rows, bad = got.get(i, (0, 0))
        out[i] = (rows + dups.get(i, 0), rows - bad, bad, dups.get(i, 0))
    return out


def _all_invalid_message(quarantine: pd.DataFrame, f: PreparedFile, read: int) -> str:
    rows = quarantine[quarantine[S.SOURCE_FILE] == f.source.label]
    codes = pd.Series([c for r in rows["reason"] for c in r.split("; ")]).value_counts()
    top = ", ".join(f"{k} {v}" for k, v in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:4])
    first = rows.iloc[0]
    return (f"{f.source.label}: every one of its {read:,} rows is invalid ({top}; "
            f"e.g. row {int(first[S.SOURCE_ROW])}: {first['reason']}); fix those cells or export the report again")


def _no_quarantine() -> pd.DataFrame:
    return pd.DataFrame(columns=_QUARANTINE_COLUMNS)


def _quarantine(base: ibis.Table, files: list[PreparedFile], measures: list[str]) -> pd.DataFrame:
    """Rejected rows, from one query over the rows the staging pass flagged: which hard rules each
    breaks (the same ``hard_violations``) with its raw cells. Columns: source_file, source_row,
    reason codes ('; '-joined, in ``HARD_RULES`` order), then the file's own raw cells."""
    rules = hard_violations(base, measures)
    codes = [c for c in HARD_RULES if c in rules]
    flagged = base.filter(base[SUSPECT]).select(
        FILE_IDX, S.SOURCE_ROW, RAW, *[rules[c].name(f"_q{i}") for i, c in enumerate(codes)])
    rows = flagged.order_by([FILE_IDX, S.SOURCE_ROW]).execute()
    hits = zip(*[rows[f"_q{i}"].tolist() for i in range(len(codes))])
    reasons = ["; ".join(c for c, hit in zip(codes, row) if hit) for row in hits]
    if any(not r for r in reasons):
        raise StageError("ingest", "hard-rule checks disagree between the staging pass and the staged values")
    labels = [f.source.label for f in files]
    frame = pd.DataFrame({
        S.SOURCE_FILE: [labels[int(i)] for i in rows[FILE_IDX]],
        S.SOURCE_ROW: [int(r) for r in rows[S.SOURCE_ROW]],
        "reason": reasons,
    })
    cells = pd.DataFrame([json.loads(c) if isinstance(c, str) else dict(c or {}) for c in rows[RAW]], dtype=object)
    cells = cells.drop(columns=[c for c in cells.columns if c in _QUARANTINE_COLUMNS])
    return pd.concat([frame, cells], axis=1)


def _repair_texts(con: Any, qualified: str, base: ibis.Table, dims: list[str], settings: Settings) -> dict[str, list]:
    """Repair/resolve distinct texts in Python and write the changes back; return the name audits."""
    if not dims:
        return {}
    sets = ", ".join(f'("{d}")' for d in dims)
    which = " ".join(f"WHEN NOT grouping(\"{d}\")::BOOL THEN '{d}'" for d in dims)
    value = " ".join(f"WHEN NOT grouping(\"{d}\")::BOOL THEN \"{d}\"" for d in dims)
    distinct = con.raw_sql(
        f"SELECT CASE {which} END AS col, CASE {value} END AS raw, count(*) AS n "
        f"FROM {qualified} GROUP BY GROUPING SETS ({sets})"
    ).df()
    distinct = distinct[distinct["raw"].notna()]
    audits: dict[str, list] = {}
    for d in dims:
        counts = distinct[distinct["col"] == d]
        if d in NAME_LEVELS:
            overrides = load_overrides(settings.ingest.name_overrides_file, d)
            decisions = resolve_names(dict(zip(counts["raw"], counts["n"].astype(int))),
                                      settings.ingest.fuzzy_threshold, overrides)
            audits[d] = decisions
            mapping = {x.raw: x.canonical for x in decisions}
        else:
            mapping = {v: repair_text(v) for v in counts["raw"]}
        changed = pd.DataFrame([(k, v) for k, v in mapping.items() if k != v], columns=["raw", "canonical"],
                               dtype=object)
        if changed.empty:
            continue
        name = f"_ingest_map_{uuid.uuid4().hex[:8]}"
        con.con.register(name, changed)
        try:
            con.raw_sql(f'UPDATE {qualified} AS t SET "{d}" = m.canonical FROM {name} AS m WHERE t."{d}" = m.raw')
        finally:
            con.con.unregister(name)
    return audits
