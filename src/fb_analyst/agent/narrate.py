"""Template narratives: the answer text written only from the tool summaries of the final attempt.

Every number printed here is a value (or a rounding of a value) from those summaries, so the
same guard that checks LLM text passes on the template text (tested).
"""

from __future__ import annotations

from typing import Any

from fb_analyst.kpis import KPIS
from fb_analyst.pipeline.analysis import roas_effect


def _fmt(metric: str, value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    kpi = KPIS.get(metric)
    if kpi is None:
        return f"{value:,.4g}"
    return kpi.fmt.format(value).rstrip("x")


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:+.1%}"


def _where(plan: Any) -> str:
    return "" if not plan.segment else " for " + " & ".join(f"{k}={v}" for k, v in plan.segment.items())


def _move(plan: Any, results: dict[str, Any]) -> str:
    k = results.get("kpis", {}).get("kpis", {}).get(plan.metric)
    w = results.get("windows", {})
    if not k or k.get("delta_pct") is None:
        return f"{plan.metric.upper()}{_where(plan)}: change undefined in these windows."
    verb = "rose" if k["delta_pct"] > 0 else "fell" if k["delta_pct"] < 0 else "was flat"
    return (f"{plan.metric.upper()}{_where(plan)} {verb} {abs(k['delta_pct']):.1%} "
            f"({_fmt(plan.metric, k['baseline'])} -> {_fmt(plan.metric, k['current'])}) "
            f"from {w.get('baseline')} to {w.get('current')}.")


def _hyp_line(h: dict[str, Any]) -> str:
    q = f", q={h['q_value']:.2g}" if isinstance(h.get("q_value"), float) else ""
    conf = f", confidence {h['confidence']:.0%}" if isinstance(h.get("confidence"), float) else ""
    return (f"{h['id']}: {str(h['metric']).upper()} {_pct(h['delta_pct'])} on {h['segment_text']} "
            f"({_fmt(h['metric'], h['baseline'])} -> {_fmt(h['metric'], h['current'])}{q}{conf}) - {h['title']}")


def _effect(h: dict[str, Any], metric: str) -> float:
    """Sign of a hypothesis' push on the asked metric (0 when unrelated)."""
    if metric in ("roas", "revenue"):
        return roas_effect(h)
    if h.get("metric") == metric:
        return {"up": 1.0, "down": -1.0}.get(str(h.get("direction")), 0.0)
    return 0.0


def split_supported(plan: Any, results: dict[str, Any]) -> tuple[list[dict], list[dict], float, float]:
    """(supported hypotheses pushing the asked metric the asked/observed way, the other supported
    ones, the observed relative change, the wanted direction sign)."""
    d = results.get("diagnose") or {}
    k = results.get("kpis", {}).get("kpis", {}).get(plan.metric) or {}
    observed = k.get("delta_pct") or 0.0
    wanted = {"down": -1.0, "up": 1.0}.get(plan.direction or "", 1.0 if observed > 0 else -1.0)
    supported = d.get("supported") or []
    aligned = [h for h in supported if _effect(h, plan.metric) * wanted > 0]
    return aligned, [h for h in supported if h not in aligned], observed, wanted


def _diagnosis(plan: Any, results: dict[str, Any], attempts: int) -> list[str]:
    d = results.get("diagnose")
    if not d:
        return ["The diagnosis could not run, so no cause can be named."]
    if not d.get("supported"):
        tried = f" after {attempts} attempts (wider windows / more dimensions)" if attempts > 1 else ""
        return [f"No significant change: no hypothesis was supported{tried}; the movement is within "
                "day-to-day noise or too small to act on."]
    aligned, others, observed, wanted = split_supported(plan, results)
    word = "fall" if wanted < 0 else "rise"
    consistent = observed * wanted >= 0
    if aligned:
        label = (f"Top supported cause of the {word}" if consistent else
                 f"{plan.metric.upper()} did not {word} overall, but a supported change pushed it "
                 f"{'down' if wanted < 0 else 'up'}")
        lines = [f"{label}: " + _hyp_line(aligned[0]) + "."]
        lines += ["Also supported: " + _hyp_line(h) + "." for h in aligned[1:3]]
        if others:
            lines.append("Supported change pushing the other way: " + _hyp_line(others[0]) + ".")
    else:
        lines = [f"No supported hypothesis explains a {word} of {plan.metric.upper()}; supported changes: "
                 + "; ".join(_hyp_line(h) for h in others[:3]) + "."]
    top = (aligned or others)[0]
    if top.get("actions"):
        lines.append("Next step: " + top["actions"][0])
    return lines


def _fatigue(results: dict[str, Any]) -> list[str]:
    f = results.get("fatigue")
    if not f:
        return []
    if not f.get("n_fatigued"):
        return ["No creative shows significant fatigue."]
    keys = ", ".join(str(x["key"]) for x in f["fatigued"][:3])
    return [f"Creative fatigue: {f['n_fatigued']} fatigued ({keys})."]


def _creative(results: dict[str, Any]) -> list[str]:
    c = results.get("creative")
    if not c:
        return ["The creative analysis could not run."]
    lines = []
    if c.get("fatigued_messages"):
        lines.append("Refresh first (fatigued): " + "; ".join(
            f"\"{m['key']}\" (CTR -{m['decay_pct_per_week']:.1%} per week)" if isinstance(m.get("decay_pct_per_week"), float)
            else f"\"{m['key']}\"" for m in c["fatigued_messages"][:3]) + ".")
    losers = [t for t in c.get("themes", []) if t["verdict"] == "loser"]
    winners = [t for t in c.get("themes", []) if t["verdict"] == "winner"]
    if losers:
        lines.append("Losing themes: " + ", ".join(f"{t['label']} ({t['id']})" for t in losers) + ".")
    if winners:
        lines.append("Winning themes to borrow from: " + ", ".join(f"{t['label']} ({t['id']})" for t in winners) + ".")
    for r in c.get("recommendations", [])[:3]:
        ids = f" (tied to {', '.join(r['hypothesis_ids'])})" if r.get("hypothesis_ids") else ""
        if r.get("suggestions"):
            s = r["suggestions"][0]
            lines.append(f"{r['campaign']}: CTR {_fmt('ctr', r['current_ctr'])}{ids}; try \"{s['text']}\" "
                         f"(predicted CTR {_fmt('ctr', s['predicted_ctr'])}, {s['impressions_per_arm']:,} impressions per arm).")
    return lines or ["No fatigued creative, no losing theme and no low-CTR campaign to refresh."]


def _trend(results: dict[str, Any]) -> list[str]:
    t = results.get("trend")
    if not t:
        return ["The trend could not be computed."]
    m = t["metric"]
    if t["trend"] == "no significant trend":
        return [f"{m.upper()} shows no significant trend over {t['period']} ({t['days']} days, Kendall p={t['p_value']:.2g}); "
                f"it went from {_fmt(m, t['first'])} to {_fmt(m, t['last'])}."]
    return [f"{m.upper()} is {t['trend']} over {t['period']}: {_pct(t['weekly_change_pct'])} per week "
            f"(Theil-Sen; Kendall p={t['p_value']:.2g}), from {_fmt(m, t['first'])} to {_fmt(m, t['last'])}."]


def template_answer(plan: Any, results: dict[str, Any], attempts: int) -> str:
    """The deterministic answer for ``plan`` from the final attempt's tool summaries."""
    lines = [_move(plan, results)]
    if plan.intent == "diagnose":
        lines += _diagnosis(plan, results, attempts) + _fatigue(results)
    elif plan.intent == "creative":
        lines += _creative(results)
    elif plan.intent in ("forecast", "budget"):
        f = results.get("forecast")
        lines += f.get("lines", []) if f else ["The forecast could not run."]
    elif plan.intent == "trend":
        lines = _trend(results)
    return " ".join(lines)
