"""``ingest_files``: the ingest stage, end to end, on one Ibis (DuckDB) connection.

1. readers expose each file as a lazy view; ``prepare`` builds its cleaning expression;
2. the union of all files is written once into a private, disk-backed DuckDB database attached
   to the connection (compressed and buffer-managed, so 10M rows stay well under 2 GB of RAM);
   this is the only full pass over the inputs;
3. exact duplicates are found by hash, verified on the values, counted and deleted; quarantined
   rows are extracted with their raw cells and deleted;
4. distinct texts (not rows) go through Python: ftfy repair and entity resolution (rapidfuzz);
   the changes are applied in the engine by UPDATE ... FROM a mapping table;
5. the canonical table is a projection of that table (``IngestResult.table``), validated lazily
   by the pandera schema; the report's aggregates run in the engine.

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

import ibis
import pandas as pd
from ibis import _

from fb_analyst import schema as S
from fb_analyst.engine import default_connection
from fb_analyst.errors import EmptyInputError, StageError
from fb_analyst.ingest import report as R
from fb_analyst.ingest.names import load_overrides, repair_text, resolve_names
from fb_analyst.ingest.prepare import FILE_IDX, RAW, REASON, PreparedFile, conform, prepare_file, rule_col
from fb_analyst.ingest.readers import expand_inputs, new_workdir, read_source
from fb_analyst.ingest.validate import canonical_schema
from fb_analyst.settings import Settings

NAME_LEVELS = (S.CAMPAIGN, S.ADSET)
TABLE = "canonical"


def ingest_files(inputs: list[str | Path], settings: Settings, con: Any = None) -> R.IngestResult:
    """Read, map, parse, clean, resolve names, validate and quarantine ``inputs`` (paths or globs)."""
    con = con or default_connection()
    uid = uuid.uuid4().hex[:10]
    paths = expand_inputs(inputs)
    store = _attach_store(con, uid)
    try:
        with new_workdir() as wd:
            prefix = f"_ingest_src_{uid}"
            try:
                files = [prepare_file(read_source(p, con, f"{prefix}_{i}", Path(wd), settings.ingest.purchase_action_types),
                                      i, settings, con, f"{prefix}_{i}") for i, p in enumerate(paths)]
                union, dims, measures = conform(files)
                con.raw_sql(f'CREATE TABLE "{store}".main.{TABLE} AS {con.compile(union)}')
            finally:
                for i in range(len(paths)):
                    for suffix in ("_l3", "_l2", "_l1", ""):
                        con.raw_sql(f'DROP VIEW IF EXISTS "{prefix}_{i}{suffix}"')
                    con.raw_sql(f'DROP TABLE IF EXISTS "{prefix}_{i}_x"')  # XLSX sheets
        return _finish(con, store, files, dims, measures, settings)
    except BaseException:
        con.raw_sql(f'DETACH DATABASE IF EXISTS "{store}"')
        raise


def _attach_store(con: Any, uid: str) -> str:
    """Attach a private on-disk database (removed at process exit) and return its name."""
    folder = Path(tempfile.mkdtemp(prefix="fb-analyst-ingest-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    name = f"fb_ingest_{uid}"
    con.raw_sql(f"ATTACH '{folder / 'ingest.duckdb'}' AS \"{name}\"")
    return name


def _finish(con: Any, store: str, files: list[PreparedFile], dims: list[str], measures: list[str],
            settings: Settings) -> R.IngestResult:
    qualified = f'"{store}".main.{TABLE}'
    base = con.table(TABLE, database=store)
    dup_counts = _remove_duplicates(con, qualified, base, dims, measures)
    per_file = _per_file_counts(base, dup_counts)
    for i, f in enumerate(files):
        read, acc, quar, _dups = per_file[i]
        if quar and not acc:  # every row invalid (or a duplicate); a file of duplicates alone is fine
            raise EmptyInputError(_all_invalid_message(base, f, i, read))
    quarantine = _quarantine(base, files)
    con.raw_sql(f"DELETE FROM {qualified} WHERE {REASON} IS NOT NULL")

    audits = _repair_texts(con, qualified, base, dims, settings)
    table = base.select(
        *[c for c in S.CANONICAL_ORDER if c in base.columns and c != S.SOURCE_FILE],
        **{S.imputed_flag(m): base[rule_col(m)].notnull() for m in measures},
        **{S.SOURCE_FILE: _file_label(base, files)},
    )
    table = table.select(*[c for c in S.CANONICAL_ORDER if c in table.columns])
    errors = _pandera_errors(table)
    if errors:
        raise StageError("ingest", f"canonical table fails its schema: {errors}")

    from fb_analyst.ingest.summaries import build_report

    report = build_report(table, base, files, per_file, measures, audits, quarantine)
    return R.IngestResult(table=table, report=report, quarantine=quarantine)


def _file_label(base: ibis.Table, files: list[PreparedFile]) -> Any:
    """source_file from the file index (a per-row string would cost memory for nothing)."""
    if len(files) == 1:
        return ibis.literal(files[0].source.label)
    return base[FILE_IDX].cases(*[(i, f.source.label) for i, f in enumerate(files)])


def _remove_duplicates(con: Any, qualified: str, base: ibis.Table, dims: list[str],
                       measures: list[str]) -> dict[int, int]:
    """Delete every exact duplicate after its first occurrence; return counts per file.

    Rows equal in every canonical column (raw names, parsed date and measures, currency, the
    recovery rule used) are duplicates; candidates share a hash, then are compared on the values.
    """
    keys = [S.DATE, *dims, *measures, *[rule_col(m) for m in measures], S.CURRENCY]
    hashed = base.select(FILE_IDX, S.SOURCE_ROW, *keys, _h=ibis.struct({k: base[k] for k in keys}).hash())
    cand = hashed.group_by("_h").aggregate(n=_.count()).filter(_.n > 1).select("_h")
    sub = hashed.semi_join(cand, "_h")
    w = ibis.window(group_by=[sub[k] for k in keys], order_by=[sub[FILE_IDX], sub[S.SOURCE_ROW]])
    frame = sub.mutate(_rn=ibis.row_number().over(w)).filter(_._rn > 0).select(FILE_IDX, S.SOURCE_ROW).execute()
    if frame.empty:
        return {}
    name = f"_ingest_dups_{uuid.uuid4().hex[:8]}"
    con.con.register(name, frame)
    try:
        con.raw_sql(f"DELETE FROM {qualified} AS t USING {name} AS d "
                    f"WHERE t.{FILE_IDX} = d.{FILE_IDX} AND t.{S.SOURCE_ROW} = d.{S.SOURCE_ROW}")
    finally:
        con.con.unregister(name)
    return {int(k): int(v) for k, v in frame[FILE_IDX].value_counts().items()}


def _per_file_counts(base: ibis.Table, dups: dict[int, int]) -> dict[int, tuple[int, int, int, int]]:
    """file index -> (read, accepted, quarantined, duplicates)."""
    agg = base.group_by(FILE_IDX).aggregate(rows=_.count(), bad=_[REASON].notnull().sum()).execute()
    got = {int(r[FILE_IDX]): (int(r["rows"]), int(r["bad"])) for r in agg.to_dict("records")}
    out = {}
    for i in set(got) | set(dups):
        rows, bad = got.get(i, (0, 0))
        out[i] = (rows + dups.get(i, 0), rows - bad, bad, dups.get(i, 0))
    return out


def _reason_counts(rows: ibis.Table) -> dict[str, int]:
    codes = rows.select(code=rows[REASON].split("; ").unnest()).group_by("code").aggregate(n=_.count()).execute()
    return {str(r["code"]): int(r["n"]) for r in codes.sort_values(["n", "code"], ascending=[False, True]).to_dict("records")}


def _all_invalid_message(base: ibis.Table, f: PreparedFile, i: int, read: int) -> str:
    bad = base.filter((base[FILE_IDX] == i) & base[REASON].notnull())
    first = bad.order_by(S.SOURCE_ROW).select(S.SOURCE_ROW, REASON).limit(1).execute()
    top = ", ".join(f"{k} {v}" for k, v in list(_reason_counts(bad).items())[:4])
    return (f"{f.source.label}: every one of its {read:,} rows is invalid ({top}; "
            f"e.g. row {int(first.iloc[0, 0])}: {first.iloc[0, 1]}); fix those cells or export the report again")


def _quarantine(base: ibis.Table, files: list[PreparedFile]) -> pd.DataFrame:
    """Rejected rows: source_file, source_row, reason codes, then the file's own raw cells."""
    q = base.filter(base[REASON].notnull()).order_by([FILE_IDX, S.SOURCE_ROW])
    df = q.select(FILE_IDX, S.SOURCE_ROW, reason=q[REASON], _raw=q[RAW].cast("string")).execute()
    if df.empty:
        return pd.DataFrame(columns=[S.SOURCE_FILE, S.SOURCE_ROW, "reason"])
    raw = pd.DataFrame([json.loads(v) for v in df.pop("_raw")], index=df.index, dtype=object)
    labels = [f.source.label for f in files]
    df.insert(0, S.SOURCE_FILE, [labels[int(i)] for i in df.pop(FILE_IDX)])
    raw = raw.drop(columns=[c for c in raw.columns if c in df.columns])
    return pd.concat([df, raw], axis=1)


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


def _pandera_errors(table: ibis.Table) -> str | None:
    import pandera.errors as pe

    try:
        canonical_schema(list(table.columns)).validate(table, lazy=True)
    except pe.SchemaErrors as exc:
        return str(exc.failure_cases)[:500]
    return None
