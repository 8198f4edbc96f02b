"""Engine aggregates that feed ``DataQualityReport`` (each one query; small results come back)."""

from __future__ import annotations

import pandas as pd
import ibis
from ibis import _

from fb_analyst import schema as S
from fb_analyst.ingest import report as R
from fb_analyst.ingest.prepare import ACTION_TYPE, FILE_IDX, rule_col, warn_col
from fb_analyst.ingest.validate import IMPUTATION_RULES, SOFT_RULES
from fb_analyst.kpis import RATIO_KPIS, ratio_value

_EXAMPLES = 5


def action_types(marked: ibis.Table, file_index: int) -> dict[str, int]:
    """Marketing API: rows per purchase action type used (accepted and quarantined rows)."""
    rows = marked.filter((marked[FILE_IDX] == file_index) & marked[ACTION_TYPE].notnull())
    df = rows.group_by(ACTION_TYPE).aggregate(n=_.count()).execute()
    return {str(r[0]): int(r[1]) for r in df.itertuples(index=False)}


def imputations(accepted: ibis.Table, measures: list[str]) -> list[R.Imputation]:
    metrics = {}
    for m in measures:
        for i, (text, _needs, _f) in enumerate(IMPUTATION_RULES.get(m, [])):
            metrics[f"{m}__{i}"] = (accepted[rule_col(m)] == text).fill_null(False).sum()
    if not metrics:
        return []
    row = accepted.aggregate(**metrics).execute().iloc[0]
    out = []
    for m in measures:
        for i, (text, _needs, _f) in enumerate(IMPUTATION_RULES.get(m, [])):
            n = int(row[f"{m}__{i}"] or 0)
            if n:
                out.append(R.Imputation(measure=m, rule=text, rows=n))
    return out


def warnings(accepted: ibis.Table) -> list[R.AnomalyWarning]:
    row = accepted.aggregate(**{k: accepted[warn_col(k)].sum() for k in SOFT_RULES}).execute().iloc[0]
    out = []
    for kind, desc in SOFT_RULES.items():
        n = int(row[kind] or 0)
        if not n:
            continue
        ex = accepted.filter(accepted[warn_col(kind)]).order_by([FILE_IDX, S.SOURCE_ROW]).select(
            S.SOURCE_FILE, S.SOURCE_ROW).limit(_EXAMPLES).execute()
        out.append(R.AnomalyWarning(kind=kind, description=desc, rows=n,
                                    examples=[f"{r[0]}:{int(r[1])}" for r in ex.itertuples(index=False)]))
    return out


def missingness(table: ibis.Table) -> dict[str, R.Missingness]:
    cols = [c for c in table.columns if not c.startswith("imputed_")]
    row = table.aggregate(_n=_.count(), **{c: table[c].isnull().sum() for c in cols}).execute().iloc[0]
    n = int(row["_n"]) or 1
    return {c: R.Missingness(missing=int(row[c]), share=round(int(row[c]) / n, 6)) for c in cols}


def kpi_totals(table: ibis.Table, measures: list[str]) -> R.KpiTotals:
    """Sums over known values; each ratio KPI over rows where both its inputs are known."""
    agg: dict[str, ibis.Value] = {"_n": table.count()}
    for m in measures:
        agg[f"sum_{m}"] = table[m].sum()
        agg[f"known_{m}"] = table[m].count()
    usable = [k for k in RATIO_KPIS if k.numerator in measures and k.denominator in measures]
    for k in usable:
        both = table[k.numerator].notnull() & table[k.denominator].notnull()
        agg[f"{k.name}_num"] = ibis.ifelse(both, table[k.numerator], None).sum()
        agg[f"{k.name}_den"] = ibis.ifelse(both, table[k.denominator], None).sum()
        agg[f"{k.name}_rows"] = both.sum()
    row = table.aggregate(**agg).execute().iloc[0]
    n = int(row["_n"])
    kpis = {}
    for k in RATIO_KPIS:
        if k not in usable:
            kpis[k.name] = ratio_value(None, None, k.scale, 0.0)
            continue
        rows = int(row[f"{k.name}_rows"])
        num = None if pd.isna(row[f"{k.name}_num"]) else float(row[f"{k.name}_num"])
        den = None if pd.isna(row[f"{k.name}_den"]) else float(row[f"{k.name}_den"])
        kpis[k.name] = ratio_value(num, den, k.scale, round(rows / n, 6) if n else 0.0)
    return R.KpiTotals(
        rows=n,
        totals={m: (None if pd.isna(row[f"sum_{m}"]) else float(row[f"sum_{m}"])) for m in measures},
        known_rows={m: int(row[f"known_{m}"]) for m in measures},
        kpis=kpis,
    )


def name_resolution(level: str, decisions: list) -> R.NameResolution:
    canonical: dict[str, int] = {}
    for d in decisions:
        canonical[d.canonical] = canonical.get(d.canonical, 0) + d.rows
    canonical = dict(sorted(canonical.items(), key=lambda kv: (-kv[1], kv[0])))
    return R.NameResolution(
        level=level, raw_names=len(decisions), canonical_names=len(canonical), canonical=canonical,
        audit=[R.NameAuditEntry(raw=d.raw, canonical=d.canonical, rows=d.rows, score=d.score, rule=d.rule)
               for d in decisions],
    )
