"""Engine aggregates that feed ``DataQualityReport`` (each one query; small results come back).

``base`` is the ingest table with its helper columns (rule indices, warning flags, file index),
after duplicates and quarantined rows were deleted; ``table`` is the canonical projection of it.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd
from ibis import _

from fb_analyst import schema as S
from fb_analyst.ingest import report as R
from fb_analyst.ingest.prepare import ACTION_TYPE, FILE_IDX, PreparedFile, rule_col, warn_col
from fb_analyst.ingest.validate import HARD_RULES, IMPUTATION_RULES, ROW_SOFT_RULES, SOFT_RULES, audience_contradiction
from fb_analyst.kpis import RATIO_KPIS, ratio_value

_EXAMPLES = 5


def action_types(base: ibis.Table, file_index: int) -> dict[str, int]:
    """Marketing API: accepted rows per purchase action type used."""
    rows = base.filter((base[FILE_IDX] == file_index) & base[ACTION_TYPE].notnull())
    df = rows.group_by(ACTION_TYPE).aggregate(n=_.count()).execute()
    return {str(r[0]): int(r[1]) for r in df.itertuples(index=False)}


def imputations(accepted: ibis.Table, measures: list[str]) -> list[R.Imputation]:
    metrics = {}
    for m in measures:
        for i, (_text, _needs, _f) in enumerate(IMPUTATION_RULES.get(m, [])):
            metrics[f"{m}__{i}"] = (accepted[rule_col(m)] == i).fill_null(False).sum()
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


def warnings(base: ibis.Table, labels: list[str]) -> list[R.AnomalyWarning]:
    """Soft anomalies with counts and example rows ('file:row')."""
    row = base.aggregate(**{k: base[warn_col(k)].sum() for k in ROW_SOFT_RULES}).execute().iloc[0]
    found: dict[str, tuple[int, Any]] = {}
    for kind in ROW_SOFT_RULES:
        if int(row[kind] or 0):
            found[kind] = (int(row[kind]), base[warn_col(kind)])
    if S.ADSET in base.columns and S.AUDIENCE_TYPE in base.columns:
        pairs = base.group_by([S.ADSET, S.AUDIENCE_TYPE]).aggregate(n=_.count()).execute()
        bad = pairs[[audience_contradiction(a, b) for a, b in zip(pairs[S.ADSET], pairs[S.AUDIENCE_TYPE])]]
        if len(bad):
            key = ibis.literal("\x1f").join([base[S.ADSET], base[S.AUDIENCE_TYPE]])
            found["audience_label_mismatch"] = (
                int(bad["n"].sum()), key.isin([f"{a}\x1f{b}" for a, b in zip(bad[S.ADSET], bad[S.AUDIENCE_TYPE])]))
    out = []
    for kind, (n, pred) in found.items():
        ex = base.filter(pred).order_by([FILE_IDX, S.SOURCE_ROW]).select(FILE_IDX, S.SOURCE_ROW).limit(_EXAMPLES)
        examples = [f"{labels[int(r[FILE_IDX])]}:{int(r[S.SOURCE_ROW])}" for r in ex.execute().to_dict("records")]
        out.append(R.AnomalyWarning(kind=kind, description=SOFT_RULES[kind], rows=n, examples=examples))
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


def build_report(table: ibis.Table, base: ibis.Table, files: list[PreparedFile],
                 per_file: dict[int, tuple[int, int, int, int]], measures: list[str],
                 audits: dict[str, list], quarantine: pd.DataFrame) -> R.DataQualityReport:
    """Assemble data_quality.json from the per-file decisions and engine aggregates."""
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
            purchase_action_types=action_types(base, i) if f.source.format == "json" else None,
            rows_read=read, rows_accepted=acc, rows_quarantined=quar, duplicates_removed=dup,
        ))
    totals = [sum(v[k] for v in per_file.values()) for k in range(4)]
    codes = [c for r in quarantine["reason"] for c in str(r).split("; ")] if len(quarantine) else []
    reasons = {str(k): int(v) for k, v in pd.Series(codes, dtype=object).value_counts().items()}
    currencies = sorted(table.select(S.CURRENCY).distinct().execute()[S.CURRENCY].dropna().tolist())
    warns = warnings(base, [f.source.label for f in files])
    if len(currencies) > 1:
        warns.append(R.AnomalyWarning(kind="mixed_currency", rows=totals[1], examples=[],
                                      description=f"currencies {', '.join(currencies)}; sums across them mix units"))
    rng = table.aggregate(lo=table[S.DATE].min(), hi=table[S.DATE].max()).execute().iloc[0]
    return R.DataQualityReport(
        inputs=[f.source.label for f in files],
        rows_read=totals[0], rows_accepted=totals[1], rows_quarantined=totals[2], duplicates_removed=totals[3],
        quarantined_by_reason=reasons,
        reason_descriptions={k: v for k, v in HARD_RULES.items() if k in reasons},
        files=file_stats,
        currency=currencies[0] if len(currencies) == 1 else "mixed",
        columns=list(table.columns),
        date_range=(str(rng.lo)[:10], str(rng.hi)[:10]) if pd.notna(rng.lo) else None,
        name_resolution={d: name_resolution(d, audits[d]) for d in (S.CAMPAIGN, S.ADSET) if d in audits},
        imputations=imputations(base, measures),
        warnings=warns,
        missingness=missingness(table),
        kpis=kpi_totals(table, measures),
    )
