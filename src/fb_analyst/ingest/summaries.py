"""Engine aggregates that feed ``DataQualityReport``.

Every per-row count of the report (KPI sums and coverage, missingness, imputations by rule, soft
warnings, the date range, the currencies, the canonical data checks) is one named aggregate of a
single query over the accepted rows (:func:`profile`), so the table is scanned once; only what
needs rows or groups (warning examples, audience pairs, API action types) is a query of its own.

``wide`` is the ingest table with its helper columns (rule indices, warning flags, file index)
plus the canonical-only columns (imputed flags, source_file), after duplicates and quarantined
rows were deleted; the canonical table is a projection of it.
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
from fb_analyst.kpis import N_ROWS, RATIO_KPIS, den_col, metric_exprs, n_col, num_col, ratio_value, with_all_measures

_EXAMPLES = 5


def profile(wide: ibis.Table, columns: list[str], measures: list[str], extra: dict[str, Any]) -> pd.Series:
    """One aggregate over the accepted rows: every count the report needs, plus ``extra``. The
    KPI parts are :func:`~fb_analyst.kpis.metric_exprs`'s (``n_rows``, sums, known-row counts,
    per-KPI numerator and denominator over the rows where both are known)."""
    t = with_all_measures(wide)
    metrics: dict[str, Any] = {"date_lo": t[S.DATE].min(), "date_hi": t[S.DATE].max(),
                               "currency_lo": t[S.CURRENCY].min(), "currency_hi": t[S.CURRENCY].max()}
    metrics |= metric_exprs(t)
    for c in _missing_columns(columns):
        metrics[f"missing_{c}"] = t[c].isnull().sum()
    for m in measures:
        for i, _rule in enumerate(IMPUTATION_RULES.get(m, [])):
            metrics[f"imputed_{m}__{i}"] = (t[rule_col(m)] == i).fill_null(False).sum()
    for kind in ROW_SOFT_RULES:
        metrics[f"warn_{kind}"] = t[warn_col(kind)].sum()
    return t.aggregate(**metrics, **extra).execute().iloc[0]


def _missing_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if not c.startswith("imputed_")]


def action_types(base: ibis.Table, file_index: int) -> dict[str, int]:
    """Marketing API: accepted rows per purchase action type used."""
    rows = base.filter((base[FILE_IDX] == file_index) & base[ACTION_TYPE].notnull())
    df = rows.group_by(ACTION_TYPE).aggregate(n=_.count()).execute()
    return {str(r[0]): int(r[1]) for r in df.itertuples(index=False)}


def imputations(row: pd.Series, measures: list[str]) -> list[R.Imputation]:
    out = []
    for m in measures:
        for i, (text, _needs, _f) in enumerate(IMPUTATION_RULES.get(m, [])):
            n = int(row[f"imputed_{m}__{i}"] or 0)
            if n:
                out.append(R.Imputation(measure=m, rule=text, rows=n))
    return out


def warnings(base: ibis.Table, labels: list[str], row: pd.Series) -> list[R.AnomalyWarning]:
    """Soft anomalies with counts (from ``row``) and example rows ('file:row')."""
    found: dict[str, tuple[int, Any]] = {}
    for kind in ROW_SOFT_RULES:
        if int(row[f"warn_{kind}"] or 0):
            found[kind] = (int(row[f"warn_{kind}"]), base[warn_col(kind)])
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


def missingness(row: pd.Series, columns: list[str]) -> dict[str, R.Missingness]:
    n = int(row[N_ROWS]) or 1
    return {c: R.Missingness(missing=int(row[f"missing_{c}"]), share=round(int(row[f"missing_{c}"]) / n, 6))
            for c in _missing_columns(columns)}


def kpi_totals(row: pd.Series, measures: list[str]) -> R.KpiTotals:
    """Sums over known values; each ratio KPI over rows where both its inputs are known (an
    absent input: no such row)."""
    n = int(row[N_ROWS])
    kpis = {}
    for k in RATIO_KPIS:
        rows = int(row[n_col(k.name)])
        num, den = row[num_col(k.name)], row[den_col(k.name)]
        kpis[k.name] = ratio_value(None if pd.isna(num) else float(num), None if pd.isna(den) else float(den),
                                   k.scale, round(rows / n, 6) if n else 0.0)
    return R.KpiTotals(
        rows=n,
        totals={m: (None if pd.isna(row[m]) else float(row[m])) for m in measures},
        known_rows={m: int(row[n_col(m)]) for m in measures},
        kpis=kpis,
    )


def currencies(table: ibis.Table, row: pd.Series) -> list[str]:
    """Distinct currencies of the accepted rows (a query only when the profile saw several)."""
    if pd.isna(row["currency_lo"]):
        return []
    if row["currency_lo"] == row["currency_hi"]:
        return [str(row["currency_lo"])]
    return sorted(table.select(S.CURRENCY).distinct().execute()[S.CURRENCY].dropna().tolist())


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


def build_report(table: ibis.Table, base: ibis.Table, row: pd.Series, files: list[PreparedFile],
                 per_file: dict[int, tuple[int, int, int, int]], measures: list[str],
                 audits: dict[str, list], quarantine: pd.DataFrame) -> R.DataQualityReport:
    """Assemble data_quality.json from the per-file decisions and the :func:`profile` row."""
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
    found = currencies(table, row)
    warns = warnings(base, [f.source.label for f in files], row)
    if len(found) > 1:
        warns.append(R.AnomalyWarning(kind="mixed_currency", rows=totals[1], examples=[],
                                      description=f"currencies {', '.join(found)}; sums across them mix units"))
    columns = list(table.columns)
    return R.DataQualityReport(
        inputs=[f.source.label for f in files],
        rows_read=totals[0], rows_accepted=totals[1], rows_quarantined=totals[2], duplicates_removed=totals[3],
        quarantined_by_reason=reasons,
        reason_descriptions={k: v for k, v in HARD_RULES.items() if k in reasons},
        files=file_stats,
        currency=found[0] if len(found) == 1 else "mixed",
        columns=columns,
        date_range=(str(row["date_lo"])[:10], str(row["date_hi"])[:10]) if pd.notna(row["date_lo"]) else None,
        name_resolution={d: name_resolution(d, audits[d]) for d in (S.CAMPAIGN, S.ADSET) if d in audits},
        imputations=imputations(row, measures),
        warnings=warns,
        missingness=missingness(row, columns),
        kpis=kpi_totals(row, measures),
    )
