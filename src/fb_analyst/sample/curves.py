"""Known spend -> revenue response curves (Hill) of the generated campaigns.

Expected daily revenue of campaign c at daily spend S is ``vmax * S**h / (k**h + S**h)``.
The generator realises it through the funnel: at spend S the campaign's CTR and CVR are scaled by
``m(S) = R(S) / (rho * S)`` (30% of the log-effect on CTR, 70% on CVR), where ``rho`` is the
campaign's base ROAS, so ROAS = CTR*CVR*AOV*1000/CPM falls as spend rises (diminishing returns).
The curve is the expectation over weekdays and noise under the base allocation; planted effects
(rate changes, mix shifts, trends, outages) move revenue off it in the days they act.
"""

from __future__ import annotations

import numpy as np

from fb_analyst.errors import UnknownNameError


def hill_revenue(spend: np.ndarray | float, vmax: float, k: float, hill: float) -> np.ndarray | float:
    """Expected revenue at ``spend`` on a Hill curve."""
    s = np.maximum(np.asarray(spend, dtype=float), 0.0) ** hill
    out = vmax * s / (k**hill + s)
    return float(out) if np.ndim(out) == 0 else out


def curve_params(rng: np.random.Generator, base_budget: np.ndarray, base_roas: np.ndarray) -> dict[str, np.ndarray]:
    """Draw per-campaign Hill params so that revenue at the base budget equals base ROAS x budget."""
    kappa = rng.uniform(1.0, 3.0, len(base_budget))  # half-saturation, in units of base budget
    hill = rng.uniform(1.0, 1.3, len(base_budget))
    k = kappa * base_budget
    vmax = base_roas * base_budget * (k**hill + base_budget**hill) / base_budget**hill
    return {"vmax": vmax, "k": k, "hill": hill}


def expected_revenue(truth, campaign: str, spend: float) -> float:  # noqa: ANN001 - PlantedTruth
    """Expected daily revenue of ``campaign`` at daily ``spend``, from the planted response curve."""
    curves = truth.extra["response_curves"]
    if campaign not in curves:
        raise UnknownNameError("campaign", campaign, list(curves))
    p = curves[campaign]
    return float(hill_revenue(spend, p["vmax"], p["k"], p["hill"]))
