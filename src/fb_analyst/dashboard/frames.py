"""Stage records -> small display tables and tiles for the pages (formatting only, no KPI maths).

Every number is read from a result record (:class:`~fb_analyst.diagnose.Diagnosis`,
:class:`~fb_analyst.creative.CreativeResult`, :class:`~fb_analyst.forecast.ForecastResult`,
:class:`~fb_analyst.ingest.DataQualityReport`, :class:`~fb_analyst.segments.SegmentTables`);
the change of a KPI comes from :func:`fb_analyst.segments.kpi_delta`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from fb_analyst.kpis import KPIS, format_kpi, get_kpi
from fb_analyst.pipeline.analysis import baseline_share, measure_text, segment_text
from fb_analyst.segments import kpi_delta

#: KPI tiles on the Overview, in reading order (money first, then the funnel).
TILE_KPIS: tuple[str, ...] = ("roas", "revenue", "spend", "purchases", "ctr", "cvr", "cpm", "cpa", "aov")


@dataclass(frozen=True)
class Tile:
    """One ``st.metric``: current value, change vs baseline and whether up is good."""

    name: str
    label: str
    value: str
    delta: str | None
    delta_color: str
    help: str


def kpi_tiles(account: dict[str, dict[str, Any]], names: tuple[str, ...] = TILE_KPIS) -> list[Tile]:
    """Tiles of the account KPIs, current window vs baseline."""
    tiles = []
    for name in names:
        kpi = get_kpi(name)
        base, cur = account["baseline"][name], account["current"][name]
        d = kpi_delta(base, cur)
        delta = f"{d.rel_delta:+.1%}" if d.rel_delta is not None else None
        cover = f"; coverage {cur.coverage:.0%} of rows" if cur.coverage is not None else ""
        why = f" ({d.undefined_reason})" if d.undefined_reason else ""
        tiles.append(Tile(
            name=name, label=kpi.label, value=format_kpi(kpi, cur), delta=delta,
            delta_color="normal" if kpi.better == "higher_is_better" else "inverse",
            help=f"baseline {format_kpi(kpi, base)}{why}{cover}",
        ))
    return tiles


def _pct(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) else None


def hypotheses_frame(diagnosis: Any) -> pd.DataFrame:
    """The ranked hypotheses: what moved, where, by how much, and how sure we are."""
    rows = []
    for h in diagnosis.hypotheses:
        ci = h.ci or [None, None]
        rows.append({
            "id": h.id, "status": h.status, "kind": h.kind, "title": h.title, "metric": h.metric.upper(),
            "segment": segment_text(h.segment), "baseline": h.baseline, "current": h.current,
            "change": _pct(h.delta_pct), "like_for_like_change": _pct(h.rate_change_pct),
            "ci_low": _pct(ci[0]), "ci_high": _pct(ci[1]),  # the interval is on like_for_like_change
            "q_value": h.q_value, "confidence": h.confidence,
            "revenue_at_stake": h.impact.revenue_at_stake, "spend_share": h.impact.spend_share,
            "explained_by": h.explained_by or "",
        })
    return pd.DataFrame(rows)


def evidence_frame(hypothesis: Any) -> pd.DataFrame:
    """The sums behind a hypothesis, which a reader can recompute from the canonical table."""
    return pd.DataFrame([{
        "window": e.window, "start": e.start, "end": e.end, "segment": segment_text(e.segment),
        "numerator": f"{e.numerator} = {measure_text(e.numerator, e.numerator_sum)}",
        "denominator": f"{e.denominator} = {measure_text(e.denominator, e.denominator_sum)}",
        e.kpi.upper(): e.value, "days": e.days,
        "excluded": ", ".join(map(str, e.excluded_dates)),
    } for e in hypothesis.evidence])


def decomposition_frame(dec: Any) -> pd.DataFrame:
    return pd.DataFrame([{
        "factor": p.factor.upper(), "baseline": p.baseline, "current": p.current,
        "log points": p.log_points, "revenue effect": p.currency,
    } for p in dec.parts])


def mix_frame(mix: Any) -> pd.DataFrame:
    return pd.DataFrame([{
        mix.dimension: s.value, "weight baseline": s.weight_baseline, "weight current": s.weight_current,
        f"{mix.kpi.upper()} baseline": s.kpi_baseline, f"{mix.kpi.upper()} current": s.kpi_current,
        "mix effect": s.mix_effect, "rate effect": s.rate_effect,
        # the same terms as shares of the account's baseline KPI, as the report shows them
        "mix effect (% of baseline)": baseline_share(s.mix_effect, mix.kpi_baseline),
        "rate effect (% of baseline)": baseline_share(s.rate_effect, mix.kpi_baseline),
    } for s in mix.segments])



def segment_frame(segments: Any, dimension: str, kpi: str) -> pd.DataFrame:
    """One dimension of the segment tables: spend and ``kpi`` per window and the change."""
    t = segments.table(dimension)
    out = pd.DataFrame({dimension: t["value_1"]})
    for w in ("baseline", "current"):
        out[f"spend {w}"] = t[f"spend_{w}"]
        out[f"spend share {w}"] = t[f"spend_share_{w}"]
    for w in ("baseline", "current"):
        out[f"{kpi.upper()} {w}"] = t[f"{kpi}_{w}"]
    out[f"{kpi.upper()} change"] = t[f"{kpi}_rel_delta"]
    return out.sort_values("spend current", ascending=False, na_position="last").reset_index(drop=True)


def theme_frame(clusters: Any) -> pd.DataFrame:
    """Themes with their KPIs (95% day-level intervals) and context-adjusted verdicts."""
    rows = []
    for t in clusters.themes:
        row = {"theme": t.id, "label": t.label, "verdict": t.verdict, "messages": t.n_messages,
               "impressions": t.impressions, "spend": t.spend}
        for k, v in t.kpis.items():
            row[k.upper()] = v.value
            row[f"{k.upper()} interval"] = (f"{_fmt(k, v.value)} [{_fmt(k, v.lower)}, {_fmt(k, v.upper)}]"
                                            if v.lower is not None and v.upper is not None else "n/a")
        eff = t.effects.get(t.verdict_metric)
        if eff is not None:
            row[f"adjusted {t.verdict_metric.upper()} ratio"] = eff.rate_ratio
            row["q_value"] = eff.q_value
        row["example"] = t.representative_message
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(kpi: str, x: float | None) -> str:
    return "n/a" if x is None else KPIS[kpi].fmt.format(x)


def fatigue_frame(fatigue: Any) -> pd.DataFrame:
    """Fatigue findings by message and by theme, fatigued first."""
    rows = [{**r, "level": "message"} for r in fatigue.by_message] + \
           [{**r, "level": "theme"} for r in fatigue.by_theme]
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    keep = [c for c in ("level", "key", "theme", "fatigued", "ctr_start", "ctr_recent", "decay_pct_per_week",
                        "onset_date", "onset_age_days", "days_active", "impressions", "q_value", "reason")
            if c in df.columns]
    return df[keep].sort_values(["fatigued", "level"], ascending=[False, True]).reset_index(drop=True)


def suggestions_frame(rec: Any) -> pd.DataFrame:
    """Suggested copy for one campaign with predicted CTR (interval) and the A/B test size."""
    return pd.DataFrame([{
        "suggested message": s.text, "theme": f"{s.theme} {s.theme_label}",
        "predicted CTR": s.predicted_ctr.value, "CTR low": s.predicted_ctr.lower, "CTR high": s.predicted_ctr.upper,
        "current CTR": s.ab_test.baseline_ctr, "expected lift": s.ab_test.expected_lift,
        "impressions per arm": s.ab_test.impressions_per_arm,
        "test": f"{s.ab_test.method}, alpha {s.ab_test.alpha}, power {s.ab_test.power}",
        "addresses": ", ".join(s.hypothesis_ids),
    } for s in rec.suggestions])


def series_label(series: Any) -> str:
    key = series.key
    where = "account" if key == {"level": "account"} else segment_text(key)
    return f"{series.metric.upper()} · {where}"


def series_frame(forecast: Any) -> pd.DataFrame:
    """Every forecast series: model chosen, its backtest error and interval coverage, the verdict."""
    return pd.DataFrame([{
        "series": series_label(s), "method": s.method, "model": s.model, "status": s.status,
        "MASE": s.backtest.mase if s.backtest else None,
        "coverage 80%": s.backtest.coverage80 if s.backtest else None,
        "coverage 95%": s.backtest.coverage95 if s.backtest else None,
        "history days": s.history_days, "verdict": s.verdict, "reason": s.reason or "",
    } for s in forecast.series])


def allocation_frame(budget: Any) -> pd.DataFrame:
    """The budget plan per campaign: current vs proposed daily spend and expected revenue."""
    def est(e: Any, fmt: str = "{:,.0f}") -> str:
        if e is None:
            return "n/a"
        return f"{fmt.format(e.mean)} [{fmt.format(e.lo80)}, {fmt.format(e.hi80)}]"

    return pd.DataFrame([{
        "campaign": c.campaign, "current spend/day": c.current_spend, "proposed spend/day": c.proposed_spend,
        "change": c.change_pct, "bounds": f"{c.lower_bound:,.0f}..{c.upper_bound:,.0f}",
        "marginal ROAS now (80%)": est(c.marginal_roas_current, "{:.2f}"),
        "marginal ROAS proposed (80%)": est(c.marginal_roas_proposed, "{:.2f}"),
        "expected revenue/day now (80%)": est(c.expected_revenue_current),
        "expected revenue/day proposed (80%)": est(c.expected_revenue_proposed),
        "status": c.status, "reason": c.reason or "",
    } for c in budget.campaigns])


def files_frame(report: Any) -> pd.DataFrame:
    return pd.DataFrame([{
        "file": f.path.rsplit("/", 1)[-1], "format": f.format, "kind": f.source_kind,
        "encoding": f.encoding or "", "delimiter": f.delimiter or "", "decimal": f.decimal_mark or "",
        "date order": f"{f.date_order} ({f.date_order_evidence})", "currency": f.currency,
        "read": f.rows_read, "accepted": f.rows_accepted, "quarantined": f.rows_quarantined,
        "duplicates": f.duplicates_removed,
    } for f in report.files])


def reasons_frame(report: Any) -> pd.DataFrame:
    return pd.DataFrame([{"reason": k, "rows": v, "meaning": report.reason_descriptions.get(k, "")}
                         for k, v in report.quarantined_by_reason.items()])


def warnings_frame(report: Any) -> pd.DataFrame:
    return pd.DataFrame([{"kind": w.kind, "rows": w.rows, "description": w.description,
                          "examples": ", ".join(w.examples)} for w in report.warnings])


def missingness_frame(report: Any) -> pd.DataFrame:
    return pd.DataFrame([{"column": c, "missing": m.missing, "share": m.share}
                         for c, m in report.missingness.items()])
