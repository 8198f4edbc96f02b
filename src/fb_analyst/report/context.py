"""The report's view model: plain dicts of already formatted text, built from an Analysis.

Both templates (Markdown and HTML) read the same context, so the two reports say the same thing.
Numbers are formatted here (the KPI registry's formats); user text is left raw and escaped by
each template's environment. A section whose stage was skipped carries the skip reason instead.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fb_analyst.kpis import KPIS
from fb_analyst.pipeline.analysis import Analysis, baseline_share, field_of, measure_text, segment_text

TOP_HYPOTHESES = 8
SEGMENT_ROWS = 8
EVIDENCE_ROWS = 4
MEMBERS_SHOWN = 25


def fmt_num(value: Any, spec: str = "{:,.2f}") -> str:
    return "n/a" if not isinstance(value, (int, float)) else spec.format(value)


def fmt_pct(value: Any, signed: bool = True) -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def fmt_kpi(name: str, value: Any) -> str:
    kpi = KPIS.get(str(name).lower())
    return fmt_num(value, kpi.fmt if kpi else "{:,.4g}")


def _skip(analysis: Analysis, stage: str) -> str | None:
    s = analysis.stage(stage)
    if s is None:
        return "not run"
    return s.reason if s.status == "skipped" else None


def kpi_rows(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for name, kpi in KPIS.items():
        b = analysis.account["baseline"][name]
        c = analysis.account["current"][name]
        delta = c.value / b.value - 1.0 if b.value and c.value is not None else None
        good = None if delta is None or abs(delta) < 0.0005 else (delta > 0) == (kpi.better == "higher_is_better")
        rows.append({"name": name, "label": kpi.label, "baseline": fmt_kpi(name, b.value),
                     "current": fmt_kpi(name, c.value), "change": fmt_pct(delta), "good": good,
                     "note": b.undefined_reason or c.undefined_reason or ""})
    return rows


def change_text(h: Any) -> str:
    """The change and its interval. The interval is on the tested change (``rate_change_pct``: like
    for like, mix held fixed), so when that differs from the plain ratio-of-sums change both are
    shown and the interval stands next to the one it belongs to."""
    ci = field_of(h, "ci")
    interval = f"CI [{fmt_pct(ci[0])}, {fmt_pct(ci[1])}]" if ci and len(ci) == 2 else "CI n/a"
    plain, tested = fmt_pct(field_of(h, "delta_pct")), fmt_pct(field_of(h, "rate_change_pct"))
    if tested == "n/a" or tested == plain:
        return f"{plain}, {interval}"
    if plain == "n/a":
        return f"like for like {tested}, {interval}"
    return f"plain {plain}; like for like {tested}, {interval}"


def share_of_baseline(effect: Any, baseline: Any) -> str:
    """``pipeline.analysis.baseline_share`` as the report prints it."""
    return fmt_pct(baseline_share(effect, baseline))


def _hypothesis(h: Any) -> dict[str, Any]:
    impact = field_of(h, "impact") or {}
    evidence = [
        {"segment": segment_text(field_of(e, "segment")), "window": field_of(e, "window"),
         "dates": f"{field_of(e, 'start')}..{field_of(e, 'end')}",
         **{part: f"{field_of(e, part)} {measure_text(field_of(e, part), field_of(e, part + '_sum'))}"
            for part in ("numerator", "denominator")},
         "value": fmt_kpi(field_of(e, "kpi"), field_of(e, "value")), "days": field_of(e, "days")}
        for e in (field_of(h, "evidence") or [])[:EVIDENCE_ROWS]
    ]
    return {
        "id": field_of(h, "id"), "title": field_of(h, "title"), "status": field_of(h, "status"),
        "metric": str(field_of(h, "metric", "")).upper(), "segment": segment_text(field_of(h, "segment")),
        "baseline": fmt_kpi(field_of(h, "metric"), field_of(h, "baseline")),
        "current": fmt_kpi(field_of(h, "metric"), field_of(h, "current")),
        "change": change_text(h),
        "q": fmt_num(field_of(h, "q_value"), "{:.2g}"), "confidence": fmt_pct(field_of(h, "confidence"), False),
        "revenue_at_stake": fmt_num(field_of(impact, "revenue_at_stake"), "{:+,.0f}"),
        "spend_share": fmt_pct(field_of(impact, "spend_share"), False),
        "reason": field_of(h, "reason") or "", "evidence": evidence, "actions": list(field_of(h, "actions") or []),
    }


def diagnosis_section(analysis: Analysis) -> dict[str, Any]:
    d = analysis.diagnosis
    if d is None:
        return {"skipped": _skip(analysis, "diagnose")}
    hyps = list(field_of(d, "hypotheses") or [])
    ranked = [h for h in hyps if field_of(h, "status") == "supported"] + \
             [h for h in hyps if field_of(h, "status") != "supported"]
    dec = field_of(d, "roas_decomposition")
    parts = [] if dec is None else [
        {"factor": str(field_of(p, "factor")).upper(), "log_points": fmt_num(field_of(p, "log_points"), "{:+.1f}"),
         "currency": fmt_num(field_of(p, "currency"), "{:+,.0f}")} for p in field_of(dec, "parts") or []]
    mix = [{"dimension": field_of(m, "dimension"), "kpi": str(field_of(m, "kpi")).upper(),
            "mix": share_of_baseline(field_of(m, "mix_effect"), field_of(m, "kpi_baseline")),
            "rate": share_of_baseline(field_of(m, "rate_effect"), field_of(m, "kpi_baseline")),
            "verdict": field_of(m, "verdict")} for m in field_of(d, "mix_vs_rate") or []]
    outages = [{"date": str(field_of(o, "date")), "segment": segment_text(field_of(o, "segment")),
                "measure": field_of(o, "measure"), "observed": fmt_num(field_of(o, "observed")),
                "expected": fmt_num(field_of(o, "expected"))} for o in field_of(d, "outages") or []]
    fatigue = [{"key": f"{field_of(f, 'by')}={field_of(f, 'key')}", "onset": str(field_of(f, "onset_date") or ""),
                "decay": (f"-{field_of(f, 'decay_pct_per_week'):.1%}/week"
                          if isinstance(field_of(f, "decay_pct_per_week"), (int, float)) else "n/a"),
                "ctr": f"{fmt_kpi('ctr', field_of(f, 'ctr_start'))} -> {fmt_kpi('ctr', field_of(f, 'ctr_recent'))}"}
               for f in field_of(d, "fatigue") or [] if field_of(f, "fatigued")][:10]
    return {"skipped": None, "verdict": field_of(d, "verdict"), "fatigue": fatigue, "summary": field_of(d, "summary"),
            "n_supported": sum(1 for h in hyps if field_of(h, "status") == "supported"), "n_total": len(hyps),
            "hypotheses": [_hypothesis(h) for h in ranked[:TOP_HYPOTHESES]], "decomposition": parts,
            "decomposition_total": fmt_num(field_of(dec, "total_log_points"), "{:+.1f}") if dec else "n/a",
            "mix": mix, "outages": outages, "notes": list(field_of(d, "notes") or [])}


def segments_section(analysis: Analysis) -> dict[str, Any]:
    seg = analysis.segments
    if seg is None:
        return {"skipped": _skip(analysis, "segments"), "tables": []}
    tables = []
    for dim in seg.dimensions:
        frame = seg.table(dim)
        if frame.empty or dim == "creative_message":
            continue
        frame = frame.sort_values("spend_current", ascending=False, na_position="last").head(SEGMENT_ROWS)
        rows = [{"value": r["value_1"], "spend_share": fmt_pct(r.get("spend_share_current"), False),
                 "roas_baseline": fmt_kpi("roas", r.get("roas_baseline")),
                 "roas_current": fmt_kpi("roas", r.get("roas_current")),
                 "roas_change": fmt_pct(_finite(r.get("roas_rel_delta"))),
                 "ctr_change": fmt_pct(_finite(r.get("ctr_rel_delta"))),
                 "cpm_change": fmt_pct(_finite(r.get("cpm_rel_delta")))} for r in frame.to_dict("records")]
        tables.append({"dimension": dim, "rows": rows})
    return {"skipped": None, "tables": tables}


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def creative_section(analysis: Analysis) -> dict[str, Any]:
    cr = analysis.creative
    if cr is None:
        return {"skipped": _skip(analysis, "creative")}
    clusters, findings = cr.clusters, cr.creatives
    themes = []
    for t in clusters.themes:
        ctr = t.kpis.get("ctr")
        themes.append({"id": t.id, "label": t.label, "keywords": ", ".join(k.term for k in t.keywords[:6]),
                       "n_messages": t.n_messages, "verdict": t.verdict, "verdict_metric": t.verdict_metric,
                       "ctr": fmt_kpi("ctr", ctr.value if ctr else None),
                       "ctr_ci": (f"[{fmt_kpi('ctr', ctr.lower)}, {fmt_kpi('ctr', ctr.upper)}]"
                                  if ctr and ctr.lower is not None else ""),
                       "example": t.representative_message, "members": list(t.members[:MEMBERS_SHOWN]),
                       "more": max(0, len(t.members) - MEMBERS_SHOWN)})
    # decay_pct_per_week is a fraction: 0.12 = CTR 12% lower each week after the onset.
    fatigue = [{"key": str(f.get("key", "")),
                "decay": (f"-{f['decay_pct_per_week']:.1%}/week"
                          if isinstance(f.get("decay_pct_per_week"), (int, float)) else "n/a"),
                "onset": str(f.get("onset_date") or "")}
               for f in findings.fatigue.by_message if f.get("fatigued")][:10]
    recs = [{"campaign": r.campaign, "current_ctr": fmt_kpi("ctr", r.current_ctr),
             "linked": f"; hypotheses {', '.join(r.hypothesis_ids)}" if r.hypothesis_ids else "",
             "suggestions": [{"text": s.text, "theme": s.theme_label, "predicted": fmt_kpi("ctr", s.predicted_ctr.value),
                              "impressions_per_arm": f"{s.ab_test.impressions_per_arm:,}"} for s in r.suggestions]}
            for r in findings.recommendations]
    return {"skipped": None, "embedder": clusters.embedder.name, "k_rule": clusters.k_selection.rule,
            "themes": themes, "fatigue": fatigue, "fatigue_reason": findings.fatigue.reason,
            "ctr_model": findings.ctr_model.statement if findings.ctr_model else None,
            "recommendations": recs, "notes": list(clusters.notes) + list(findings.notes)}


def forecast_section(analysis: Analysis) -> dict[str, Any]:
    from fb_analyst.report.forecast_view import forecast_view

    if analysis.forecast is None:
        return {"skipped": _skip(analysis, "forecast")}
    return {"skipped": None, **forecast_view(analysis.forecast, analysis.daily)}


def quality_section(analysis: Analysis, drift: Any) -> dict[str, Any]:
    from fb_analyst.report.quality_view import quality_view

    return quality_view(analysis, drift)


def build_context(analysis: Analysis, *, run_id: str, drift: Any = None) -> dict[str, Any]:
    """Everything the templates show, formatted; user text still raw (templates escape it)."""
    w = analysis.windows
    return {
        "run_id": run_id,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "headline": analysis.headline.text,
        "windows": None if w is None else {"baseline": w.baseline.label, "current": w.current.label,
                                           "rule": w.rule, "partial": [p.reason for p in w.partial_days]},
        "kpis": kpi_rows(analysis) if analysis.account else [],
        "diagnosis": diagnosis_section(analysis),
        "segments": segments_section(analysis),
        "creative": creative_section(analysis),
        "forecast": forecast_section(analysis),
        "quality": quality_section(analysis, drift),
        "stages": [{"name": s.name, "status": s.status, "seconds": f"{s.seconds:.2f}",
                    "reason": s.reason or s.detail or ""} for s in analysis.stages],
    }
