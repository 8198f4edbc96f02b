"""``ingest_files``: the ingest stage, end to end, on one Ibis connection.

1. readers expose each file as a lazy view; ``prepare`` builds its cleaning expression;
2. the union of all files is materialised once (``_ingest_stage_*``): the only full pass;
3. exact duplicates are found by hash, verified on the values, and removed;
4. distinct texts (not rows) go through Python: ftfy repair, entity resolution (rapidfuzz);
   the mappings are joined back in the engine;
5. the accepted rows become the canonical table (``ingest_canonical_*``), checked lazily by the
   pandera schema; aggregates for the report are computed in the engine.
"""

from __future__ import annotations

import json
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
from fb_analyst.ingest.prepare import (
    ACTION_TYPE, DATE_RAW, FILE_IDX, HASH, RAW, REASON, PreparedFile, conform, prepare_file, rule_col, warn_col,
)
from fb_analyst.ingest.readers import expand_inputs, new_workdir, read_source
from fb_analyst.ingest.validate import HARD_RULES, IMPUTATION_RULES, SOFT_RULES, canonical_schema
from fb_analyst.kpis import RATIO_KPIS, ratio_value
from fb_analyst.settings import Settings

NAME_LEVELS = (S.CAMPAIGN, S.ADSET)


def ingest_files(inputs: list[str | Path], settings: Settings, con: Any = None) -> R.IngestResult:
    """Read, map, parse, clean, resolve names, validate and quarantine ``inputs`` (paths or globs)."""
    con = con or default_connection()
    uid = uuid.uuid4().hex[:8]
    paths = expand_inputs(inputs)
    stage_name = f"_ingest_stage_{uid}"
    with new_workdir() as wd:
        files = [
            prepare_file(read_source(p, con, f"_ingest_src_{uid}_{i}", Path(wd), settings.ingest.purchase_action_types), i, settings, con,
                         f"_ingest_src_{uid}_{i}")
            for i, p in enumerate(paths)
        ]
        union, dims, measures = conform(files)
        stage = con.create_table(stage_name, union)
        for i in range(len(files)):
            for suffix in ("_l2", "_l1", ""):
                con.raw_sql(f'DROP VIEW IF EXISTS "_ingest_src_{uid}_{i}{suffix}"')
            con.raw_sql(f'DROP TABLE IF EXISTS "_ingest_src_{uid}_{i}_x"')  # XLSX sheets
    try:
        return _finish(con, uid, stage, files, dims, measures, settings)
    finally:
        # Ibis' drop_table emits SQL that this DuckDB version rejects; plain SQL instead.
        con.raw_sql(f'DROP TABLE IF EXISTS "{stage_name}"; DROP TABLE IF EXISTS "_ingest_dups_{uid}"')


def _finish(con: Any, uid: str, stage: ibis.Table, files: list[PreparedFile], dims: list[str],
            measures: list[str], settings: Settings) -> R.IngestResult:
    dups = _duplicates(con, uid, stage, dims, measures)
    marked = stage.left_join(dups.mutate(_dup=True), [FILE_IDX, S.SOURCE_ROW]).select(
        stage, _dup=_._dup.fill_null(False)
    )
    accepted = marked.filter(marked[REASON].isnull() & ~marked._dup)
    per_file = _per_file_counts(marked)
    for f, i in zip(files, range(len(files))):
        read, acc = per_file.get(i, (0, 0, 0, 0))[:2]
        if read and not acc:
            raise EmptyInputError(_all_invalid_message(marked, f, i, read))

    maps, audits = _text_maps(accepted, dims, settings)
    canonical_expr = _canonical(accepted, dims, measures, maps)
    table = con.create_table(f"ingest_canonical_{uid}", canonical_expr)
    errors = _pandera_errors(table)
    if errors:
        raise StageError("ingest", f"canonical table fails its schema: {errors}")

    quarantine = _quarantine(marked)
    report = _report(table, marked, accepted, files, per_file, dims, measures, audits, quarantine)
    return R.IngestResult(table=table, report=report, quarantine=quarantine)


def _duplicates(con: Any, uid: str, stage: ibis.Table, dims: list[str], measures: list[str]) -> ibis.Table:
    """(file, row) of every exact duplicate after its first occurrence (hash, then values)."""
    cand = stage.group_by(HASH).aggregate(n=_.count()).filter(_.n > 1).select(HASH)
    keys = [HASH, DATE_RAW, *dims, *measures]
    sub = stage.semi_join(cand, HASH)
    w = ibis.window(group_by=[sub[k] for k in keys], order_by=[sub[FILE_IDX], sub[S.SOURCE_ROW]])
    dups = sub.mutate(_rn=ibis.row_number().over(w)).filter(_._rn > 0).select(FILE_IDX, S.SOURCE_ROW)
    return con.create_table(f"_ingest_dups_{uid}", dups, temp=True)


def _per_file_counts(marked: ibis.Table) -> dict[int, tuple[int, int, int, int]]:
    agg = marked.group_by(FILE_IDX).aggregate(
        read=_.count(),
        accepted=(_[REASON].isnull() & ~_._dup).sum(),
        quarantined=(_[REASON].notnull() & ~_._dup).sum(),
        dups=_._dup.sum(),
    ).execute()
    return {int(r[FILE_IDX]): (int(r["read"]), int(r["accepted"]), int(r["quarantined"]), int(r["dups"]))
            for r in agg.to_dict("records")}


def _all_invalid_message(marked: ibis.Table, f: PreparedFile, i: int, read: int) -> str:
    bad = marked.filter((marked[FILE_IDX] == i) & marked[REASON].notnull())
    first = bad.order_by(S.SOURCE_ROW).select(S.SOURCE_ROW, REASON).limit(1).execute()
    codes = _reason_counts(bad)
    top = ", ".join(f"{k} {v}" for k, v in list(codes.items())[:4])
    example = f"e.g. row {int(first.iloc[0, 0])}: {first.iloc[0, 1]}" if len(first) else ""
    return (f"{f.source.label}: every one of its {read:,} rows is invalid ({top}; {example}); "
            "fix those cells or export the report again")


def _reason_counts(rows: ibis.Table) -> dict[str, int]:
    codes = rows.select(code=rows[REASON].split("; ").unnest()).group_by("code").aggregate(n=_.count()).execute()
    return {str(r.code): int(r.n) for r in codes.sort_values(["n", "code"], ascending=[False, True]).itertuples()}


def _text_maps(accepted: ibis.Table, dims: list[str], settings: Settings) -> tuple[dict[str, pd.DataFrame], dict]:
    """Per text column, raw -> repaired/canonical (distinct values only); and the name audits."""
    maps: dict[str, pd.DataFrame] = {}
    audits: dict[str, list] = {}
    for d in dims:
        counts = accepted.group_by(d).aggregate(n=_.count()).execute()
        counts = counts[counts[d].notna()]
        if d in NAME_LEVELS:
            overrides = load_overrides(settings.ingest.name_overrides_file, d)
            decisions = resolve_names(dict(zip(counts[d], counts["n"].astype(int))), settings.ingest.fuzzy_threshold,
                                      overrides)
            frame = pd.DataFrame([vars(x) for x in decisions], columns=["raw", "canonical", "rows", "score", "rule"])
            audits[d] = decisions
        else:
            frame = pd.DataFrame({"raw": counts[d], "canonical": [repair_text(v) for v in counts[d]]})
        maps[d] = frame
    return maps, audits


def _canonical(accepted: ibis.Table, dims: list[str], measures: list[str], maps: dict[str, pd.DataFrame]) -> ibis.Table:
    t = accepted
    for d, frame in maps.items():
        changed = frame[frame["raw"] != frame["canonical"]][["raw", "canonical"]]
        if changed.empty:
            continue
        m = ibis.memtable(changed.rename(columns={"raw": f"_raw_{d}", "canonical": f"_canon_{d}"}))
        t = t.left_join(m, t[d] == m[f"_raw_{d}"]).select(
            t, **{f"_canon_{d}": m[f"_canon_{d}"]}
        )
    cols: dict[str, Any] = {S.DATE: t[S.DATE]}
    for d in dims:
        cols[d] = ibis.coalesce(t[f"_canon_{d}"], t[d]) if f"_canon_{d}" in t.columns else t[d]
    for m in measures:
        cols[m] = t[m].round().cast("int64") if m in S.COUNT_MEASURES else t[m].cast("float64")
    cols[S.CURRENCY] = t[S.CURRENCY]
    cols[S.SOURCE_FILE] = t[S.SOURCE_FILE]
    cols[S.SOURCE_ROW] = t[S.SOURCE_ROW]
    for m in measures:
        cols[S.imputed_flag(m)] = t[rule_col(m)].notnull()
    order = [c for c in S.CANONICAL_ORDER if c in cols]
    return t.select(**{c: cols[c] for c in order}).order_by([S.SOURCE_FILE, S.SOURCE_ROW])


def _pandera_errors(table: ibis.Table) -> str | None:
    import pandera.errors as pe

    try:
        canonical_schema(list(table.columns)).validate(table, lazy=True)
    except pe.SchemaErrors as exc:
        return str(exc.failure_cases)[:500]
    return None


def _quarantine(marked: ibis.Table) -> pd.DataFrame:
    q = marked.filter(marked[REASON].notnull() & ~marked._dup).order_by([FILE_IDX, S.SOURCE_ROW])
    df = q.select(S.SOURCE_FILE, S.SOURCE_ROW, reason=q[REASON], _raw=q[RAW].cast("string")).execute()
    raw = [json.loads(v) if isinstance(v, str) else (v or {}) for v in df.pop("_raw")]
    raw_df = pd.DataFrame(raw, index=df.index)
    raw_df = raw_df.drop(columns=[c for c in raw_df.columns if c in df.columns], errors="ignore")
    out = pd.concat([df, raw_df], axis=1)
    if out.empty:
        out = pd.DataFrame(columns=[S.SOURCE_FILE, S.SOURCE_ROW, "reason"])
    return out


def _report(table: ibis.Table, marked: ibis.Table, accepted: ibis.Table, files: list[PreparedFile],
            per_file: dict[int, tuple[int, int, int, int]], dims: list[str], measures: list[str],
            audits: dict[str, list], quarantine: pd.DataFrame) -> R.DataQualityReport:
    from fb_analyst.ingest.summaries import (
        action_types, imputations, kpi_totals, missingness, name_resolution, warnings,
    )

    file_stats = []
    for i, f in enumerate(files):
        read, acc, quar, dup = per_file.get(i, (0, 0, 0, 0))
        file_stats.append(R.FileStats(
            path=f.source.label, format=f.source.format, source_kind=f.cmap.source_kind,
            delimiter=f.source.delimiter, encoding=f.source.encoding, bom=f.source.bom,
            decimal_mark=f.decimal.value if f.decimal else None,
            decimal_evidence=f.decimal.evidence if f.decimal else None,
            date_order=f.date_order.value, date_order_evidence=f.date_order.evidence,
            currency=f.currency, currency_source=f.currency_source,
            column_sources=dict(f.cmap.sources), unmapped_columns=f.cmap.unmapped,
            blank_results_are_zero=f.blank_results_are_zero,
            purchase_action_types=action_types(marked, i) if f.source.format == "json" else None,
            rows_read=read, rows_accepted=acc, rows_quarantined=quar, duplicates_removed=dup,
        ))
    totals = [sum(v[k] for v in per_file.values()) for k in range(4)]
    reasons = dict(pd.Series([c for r in quarantine.get("reason", []) for c in str(r).split("; ")]).value_counts()) \
        if len(quarantine) else {}
    currencies = table.select(S.CURRENCY).distinct().execute()[S.CURRENCY].dropna().tolist()
    warns = warnings(accepted)
    if len(currencies) > 1:
        warns.append(R.AnomalyWarning(kind="mixed_currency", description=f"currencies {', '.join(sorted(currencies))}; "
                                      "sums across them are not meaningful", rows=totals[1], examples=[]))
    rng = table.aggregate(lo=table[S.DATE].min(), hi=table[S.DATE].max()).execute().iloc[0]
    return R.DataQualityReport(
        inputs=[f.source.label for f in files],
        rows_read=totals[0], rows_accepted=totals[1], rows_quarantined=totals[2], duplicates_removed=totals[3],
        quarantined_by_reason={str(k): int(v) for k, v in reasons.items()},
        reason_descriptions={k: v for k, v in HARD_RULES.items() if k in reasons},
        files=file_stats,
        currency=currencies[0] if len(currencies) == 1 else "mixed",
        columns=list(table.columns),
        date_range=(str(rng.lo)[:10], str(rng.hi)[:10]) if rng.lo is not None else None,
        name_resolution={d: name_resolution(d, audits[d]) for d in NAME_LEVELS if d in audits},
        imputations=imputations(accepted, measures),
        warnings=warns,
        missingness=missingness(table),
        kpis=kpi_totals(table, measures),
    )


__all__ = ["ingest_files", "IMPUTATION_RULES", "SOFT_RULES", "ACTION_TYPE", "warn_col"]
