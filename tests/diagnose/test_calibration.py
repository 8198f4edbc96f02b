"""Calibration of ``confidence`` on generated scenarios with known truth.

``confidence`` is the empirical-Bayes posterior probability that a hypothesis' effect is real, in
its direction and beyond ``min_effect`` (``diagnose/stats.py``). Over many generated runs, among
hypotheses given confidence c, the share that a planted fact backs (``scoring.is_backed``) should
be about c. Binned reliability: every bin with enough hypotheses must be within ``TOLERANCE`` of
its mean confidence, and the Brier score must beat the constant forecast of the base rate.
"""

from __future__ import annotations

import numpy as np
import pytest

from fb_analyst.diagnose.scoring import is_backed
from fb_analyst.sample import SCENARIOS

SEEDS = range(3)
BINS = (0.0, 0.1, 0.5, 0.9, 1.0001)
TOLERANCE = 0.2
MIN_PER_BIN = 8


def reliability(pairs: list[tuple[float, bool]]) -> list[tuple[float, float, float, int]]:
    """(lo, mean confidence, observed rate, n) per bin of BINS."""
    conf = np.array([c for c, _ in pairs])
    hit = np.array([h for _, h in pairs], float)
    out = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            out.append((lo, float(conf[m].mean()), float(hit[m].mean()), int(m.sum())))
    return out


@pytest.mark.slow
def test_confidence_is_calibrated(run_scenario):
    pairs = []
    for scenario in SCENARIOS:
        for seed in SEEDS:
            data, _, diagnosis, _ = run_scenario(scenario, seed)
            pairs += [(h.confidence, is_backed(h, data.truth)) for h in diagnosis.hypotheses]
    table = reliability(pairs)
    for lo, mean_conf, rate, n in table:
        if n >= MIN_PER_BIN:
            assert abs(mean_conf - rate) <= TOLERANCE, table
    conf = np.array([c for c, _ in pairs])
    hit = np.array([h for _, h in pairs], float)
    brier = float(np.mean((conf - hit) ** 2))
    base = float(np.mean((hit.mean() - hit) ** 2))
    assert brier < 0.5 * base, (brier, base, table)
