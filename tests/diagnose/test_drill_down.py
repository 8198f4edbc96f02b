"""Drill-down (``refine.drill_down``): children are tested at their parent's level, never above it.

Known answer from the generator: ``improvement`` seed 9 plants a +32% CVR rise in the whole US. Its
own test is far beyond the run's cut-off (p ~ 6e-8 against a weighted-BH cut-off of ~1.4e-3); the
localiser also proposes "video ads in US" (p ~ 0.044 after its search factor). At the global
``alpha / n_children`` = 0.05 that child replaced the US and was then held back by the confidence
gate (nothing supported); at the parent's own level it must not. ``ctr_fatigue`` seeds 3 and 8
are the runs where drilling from an ad set / campaign to the fatigued ads is what finds them.
"""

from __future__ import annotations

from fb_analyst import schema as S
from fb_analyst.diagnose.evaluate import run_candidate_tests
from fb_analyst.diagnose.frames import CubeIndex, build_cube
from fb_analyst.diagnose.refine import drill_down
from fb_analyst.diagnose.scoring import score


def _us_family(run_scenario, settings):
    """Fresh CVR candidates of improvement seed 9, the index of "country=US" and of its child."""
    _, windows, _, table = run_scenario("improvement", 9)
    cube = build_cube(table, windows, S.present_segment_dimensions(list(table.columns)))
    idx = CubeIndex(cube)
    cands, _ = run_candidate_tests(idx, ["cvr"], settings.diagnose)
    us = next(i for i, c in enumerate(cands) if c.segment == {"country": "US"})
    kids = [i for i, c in enumerate(cands) if i != us and c.rows.count < cands[us].rows.count
            and c.rows.issubset(cands[us].rows)]
    return idx, cands, us, kids


def _drill(run_scenario, settings, parent_cut):
    idx, cands, us, kids = _us_family(run_scenario, settings)
    cands[us].chosen, cands[us].q_value = True, 1e-5
    cuts = [settings.diagnose.alpha] * len(cands)
    cuts[us] = parent_cut
    drill_down(idx, cands, us, cuts, settings.diagnose)
    return cands, us, kids


def test_child_replaces_parent_only_within_the_parents_level(run_scenario, settings):
    alpha = settings.diagnose.alpha
    cands, us, kids = _drill(run_scenario, settings, parent_cut=1.0)  # level capped at alpha
    assert kids and cands[us].p_value < 1e-6
    weak = [i for i in kids if cands[i].chosen]
    # at alpha / n the weak localised child takes the US's place: the case the rule is about
    assert weak and not cands[us].chosen
    assert all(alpha / 100 < cands[i].p_value <= alpha / len(kids) for i in weak)

    cut = 1.4e-3  # the US's weighted-BH cut-off in the full diagnosis of this run
    cands, us, kids = _drill(run_scenario, settings, parent_cut=cut)
    assert cands[us].chosen and cands[us].explained_by is None
    assert not any(cands[i].chosen for i in kids)


def test_us_rise_is_reported_for_the_us(run_scenario):
    data, _, diagnosis, _ = run_scenario("improvement", 9)
    s = score(diagnosis, data.truth)
    assert s.hit and s.false_supported == 0, s
    assert diagnosis.supported[0].segment == {"country": "US"}


def test_fatigued_ads_are_still_found_by_drilling(run_scenario):
    for seed in (3, 8):
        data, _, diagnosis, _ = run_scenario("ctr_fatigue", seed)
        s = score(diagnosis, data.truth)
        assert s.hit and s.false_supported == 0, (seed, s)
