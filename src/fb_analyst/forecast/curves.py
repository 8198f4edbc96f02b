"""Per-campaign Hill response curves of daily revenue vs daily spend, fitted with a day bootstrap.

revenue(s) = vmax * s^h / (k^h + s^h). For fixed (k, h) the least-squares vmax has a closed form,
so the fit profiles vmax out and searches a log-spaced grid of half-saturation k (relative to the
median spend) and shape h -- deterministic, no local optima, and vectorised over bootstrap samples
(days resampled with replacement). The spread of the bootstrap curves is the curve uncertainty
used for every interval in the budget plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Grid of half-saturation (x median daily spend) and Hill shape.
K_GRID = np.geomspace(0.1, 30.0, 61)
H_GRID = np.linspace(0.5, 2.5, 17)


def hill(s: np.ndarray, vmax: np.ndarray, k: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Expected daily revenue at spend ``s`` (broadcasts over parameter arrays)."""
    s = np.maximum(np.asarray(s, float), 0.0)
    sh = s**h
    return vmax * sh / (k**h + sh)


def hill_slope(s: np.ndarray, vmax: np.ndarray, k: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Marginal revenue per extra unit of spend (marginal ROAS) at ``s``."""
    s = np.maximum(np.asarray(s, float), 1e-12)
    kh, sh = k**h, s**h
    return vmax * h * kh * s ** (h - 1) / (kh + sh) ** 2


@dataclass(frozen=True)
class HillFit:
    """Point fit (all days) and bootstrap draws (arrays of length B) of one campaign's curve."""

    vmax: float
    k: float
    h: float
    r2: float
    days: int
    spend_cv: float
    boot_vmax: np.ndarray
    boot_k: np.ndarray
    boot_h: np.ndarray

    def revenue(self, s: float) -> float:
        return float(hill(s, self.vmax, self.k, self.h))

    def boot_revenue(self, s: float) -> np.ndarray:
        return hill(s, self.boot_vmax, self.boot_k, self.boot_h)

    def slope(self, s: float) -> float:
        return float(hill_slope(s, self.vmax, self.k, self.h))

    def boot_slope(self, s: float) -> np.ndarray:
        return hill_slope(s, self.boot_vmax, self.boot_k, self.boot_h)


def _grid_shapes(spend: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid's (k, h) pairs and ``g[n, G] = s^h / (k^h + s^h)`` for every day and grid point.

    Computed once per campaign: a bootstrap sample only re-draws days, so its sums over days are
    day counts times per-day terms (recomputing the powers per sample was 90% of the budget stage).
    """
    kk, hh = np.meshgrid(K_GRID * scale, H_GRID, indexing="ij")
    kk, hh = kk.ravel(), hh.ravel()  # (G,)
    sh = np.maximum(spend, 0.0)[:, None] ** hh[None, :]
    return kk, hh, sh / (kk[None, :] ** hh[None, :] + sh)


def _grid_fit(shapes: tuple[np.ndarray, np.ndarray, np.ndarray], revenue: np.ndarray,
              counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best (vmax, k, h) for each sample over the grid; ``counts[b, j]``: how often sample b drew day j.

    Least squares per sample and grid point, from weighted sums: ``vmax = sum(c g r) / sum(c g^2)``
    (clipped at 0) and ``sse = sum(c r^2) - 2 vmax sum(c g r) + vmax^2 sum(c g^2)``.
    """
    kk, hh, g = shapes
    gg = counts @ (g * g)  # (B, G)
    gr = counts @ (g * revenue[:, None])
    rr = (counts @ (revenue * revenue))[:, None]
    vmax = np.maximum(np.where(gg > 0, gr / np.where(gg > 0, gg, 1.0), 0.0), 0.0)
    sse = rr - 2.0 * vmax * gr + vmax * vmax * gg
    best = np.argmin(sse, axis=1)
    return vmax[np.arange(counts.shape[0]), best], kk[best], hh[best]


def _day_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) counts of each day in each bootstrap row of day indices ``idx`` (shape (B, n))."""
    flat = (np.arange(idx.shape[0])[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=idx.shape[0] * n).reshape(idx.shape[0], n).astype(float)


def fit_hill(spend: np.ndarray, revenue: np.ndarray, samples: int, seed: int) -> HillFit:
    """Fit the curve on all days and on ``samples`` day-bootstrap resamples."""
    spend, revenue = np.asarray(spend, float), np.asarray(revenue, float)
    n = spend.size
    scale = float(np.median(spend[spend > 0])) if (spend > 0).any() else 1.0
    shapes = _grid_shapes(spend, scale)
    v, k, h = (a[0] for a in _grid_fit(shapes, revenue, np.ones((1, n))))
    pred = hill(spend, v, k, h)
    ss_tot = float(((revenue - revenue.mean()) ** 2).sum())
    r2 = 1.0 - float(((revenue - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(samples, n))
    bv, bk, bh = _grid_fit(shapes, revenue, _day_counts(idx, n))
    mean = spend.mean()
    cv_spend = float(spend.std(ddof=1) / mean) if n > 1 and mean > 0 else 0.0
    return HillFit(float(v), float(k), float(h), float(r2), n, cv_spend, bv, bk, bh)
