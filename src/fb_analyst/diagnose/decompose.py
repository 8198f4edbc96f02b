"""Exact funnel decompositions of the ROAS and CPA change between two windows.

    ROAS = revenue/spend = CTR x CVR x AOV x 1000/CPM
         = (clicks/impr) x (purchases/clicks) x (revenue/purchases) x (impr/spend)
    CPA  = spend/purchases = CPM / (1000 x CTR x CVR)

Taking logs, ``dlog ROAS = dlog CTR + dlog CVR + dlog AOV - dlog CPM`` and
``dlog CPA = dlog CPM - dlog CTR - dlog CVR`` hold *exactly* when every factor is computed from the
same rows. The decomposition therefore uses complete rows (all five measures known; their count is
reported as coverage), while the account KPI table follows the registry's per-KPI rule.

**Log points**: ``100 x sign x dlog(factor)``; the parts sum to ``100 x dlog(KPI)``.

**Currency attribution rule (LMDI-I, logarithmic-mean Divisia).** Let ``L(a, b) = (a - b)/(ln a - ln b)``
(``L(a, a) = a``). For ROAS the currency total is ``spend_cur x (ROAS_cur - ROAS_base)``: the revenue
the current window gained (+) or lost (-) compared with earning the baseline ROAS on the same
spend. Factor k receives ``spend_cur x L(ROAS_cur, ROAS_base) x sign_k x dlog(factor_k)``. Because
``L(a, b) x (ln a - ln b) = a - b``, the parts sum exactly to the total, no residual, and the split
is symmetric in time and stable when the factors offset each other (unlike proportional splits).
The rest of the revenue change, ``ROAS_base x (spend_cur - spend_base)``, is the volume effect of
spending more or less, reported as ``volume_effect`` beside the parts. For CPA the total is
``purchases_cur x (CPA_cur - CPA_base)``: the extra spend (+) paid for the current purchases
compared with the baseline CPA, split the same way.
"""

from __future__ import annotations

import math

import pandas as pd

from fb_analyst import schema as S
from fb_analyst.diagnose.frames import ALL
from fb_analyst.diagnose.models import Decomposition, DecompositionPart

#: factor -> (numerator measure, denominator measure, scale)
FACTORS: dict[str, tuple[str, str, float]] = {
    "ctr": (S.CLICKS, S.IMPRESSIONS, 1.0),
    "cvr": (S.PURCHASES, S.CLICKS, 1.0),
    "aov": (S.REVENUE, S.PURCHASES, 1.0),
    "cpm": (S.SPEND, S.IMPRESSIONS, 1000.0),
    "roas": (S.REVENUE, S.SPEND, 1.0),
    "cpa": (S.SPEND, S.PURCHASES, 1.0),
}
#: KPI -> (factor, sign) of its identity.
IDENTITIES: dict[str, tuple[tuple[str, int], ...]] = {
    "roas": (("ctr", 1), ("cvr", 1), ("aov", 1), ("cpm", -1)),
    "cpa": (("cpm", 1), ("ctr", -1), ("cvr", -1)),
}
IDENTITY_TEXT = {
    "roas": "ROAS = CTR x CVR x AOV x 1000 / CPM",
    "cpa": "CPA = CPM / (1000 x CTR x CVR)",
}
CURRENCY_MEANING = {
    "roas": "revenue gained (+) or lost (-) in the current window versus earning the baseline ROAS on "
    "the current spend: spend_cur x (ROAS_cur - ROAS_base); parts by LMDI",
    "cpa": "extra spend (+) or savings (-) on the current purchases versus the baseline CPA: "
    "purchases_cur x (CPA_cur - CPA_base); parts by LMDI",
}
#: The quantity the currency total is scaled by (current window).
SCALE_MEASURE = {"roas": S.SPEND, "cpa": S.PURCHASES}


def log_mean(a: float, b: float) -> float:
    """Logarithmic mean L(a, b) = (a - b) / (ln a - ln b), with L(a, a) = a; a, b > 0."""
    if a <= 0 or b <= 0:
        raise ValueError(f"log_mean needs positive values, got {a!r}, {b!r}")
    if abs(a - b) <= 1e-12 * max(a, b):
        return (a + b) / 2
    return (a - b) / (math.log(a) - math.log(b))


def factor_value(sums: pd.Series | dict[str, float], factor: str) -> float | None:
    """Factor value from complete-row sums (``all__<measure>`` keys); None when undefined."""
    num, den, scale = FACTORS[factor]
    n, d = float(sums[ALL + num]), float(sums[ALL + den])
    if d <= 0 or n <= 0:
        return None
    return scale * n / d


def decompose_change(
    kpi: str, base: pd.Series | dict[str, float], cur: pd.Series | dict[str, float]
) -> Decomposition:
    """Decompose the change of ``kpi`` ('roas' or 'cpa') between two windows' complete-row sums."""
    factors = IDENTITIES[kpi]
    kb, kc = factor_value(base, kpi), factor_value(cur, kpi)
    coverage = {"baseline": int(base.get(ALL + "n", 0)), "current": int(cur.get(ALL + "n", 0))}
    values = {f: (factor_value(base, f), factor_value(cur, f)) for f, _ in factors}
    missing = [f for f, (b, c) in values.items() if b is None or c is None]
    if kb is None or kc is None or missing:
        parts = [
            DecompositionPart(factor=f, sign=s, baseline=values[f][0], current=values[f][1])
            for f, s in factors
        ]
        which = ", ".join(sorted(set(missing) | ({kpi} if kb is None or kc is None else set())))
        return Decomposition(
            kpi=kpi, identity=IDENTITY_TEXT[kpi], baseline=kb, current=kc, total_log_points=None,
            total_currency=None, currency_meaning=CURRENCY_MEANING[kpi], parts=parts,
            undefined_reason=f"undefined factor(s) {which}: a zero or missing sum in a window "
            "(complete rows only)", coverage_rows=coverage,
        )
    scale_cur = float(cur[ALL + SCALE_MEASURE[kpi]])
    lm = log_mean(kc, kb)
    parts = []
    for f, s in factors:
        b, c = values[f]
        dlog = s * (math.log(c) - math.log(b))
        parts.append(DecompositionPart(factor=f, sign=s, baseline=b, current=c,
                                       log_points=100 * dlog, currency=scale_cur * lm * dlog))
    total = 100 * (math.log(kc) - math.log(kb))
    return Decomposition(
        kpi=kpi, identity=IDENTITY_TEXT[kpi], baseline=kb, current=kc, total_log_points=total,
        total_currency=scale_cur * (kc - kb), currency_meaning=CURRENCY_MEANING[kpi], parts=parts,
        coverage_rows=coverage,
    )


def volume_effect(base: pd.Series | dict[str, float], cur: pd.Series | dict[str, float]) -> float | None:
    """Revenue change due to spending more or less at the baseline ROAS: ROAS_base x dspend."""
    rb = factor_value(base, "roas")
    if rb is None:
        return None
    return rb * (float(cur[ALL + S.SPEND]) - float(base[ALL + S.SPEND]))
