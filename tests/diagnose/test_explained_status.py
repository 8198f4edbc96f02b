"""A change explained by another hypothesis is *rejected* only when that hypothesis is supported;
when the explaining one is not (e.g. the confidence gate demoted it), the explained change is
*inconclusive* and its reason says whose rows it sits in and that their change is not established
(hypotheses.explained_status, diagnosis._assemble)."""

from __future__ import annotations

import pytest

from fb_analyst.diagnose.hypotheses import explained_status


def test_explained_status_rejects_only_behind_a_supported_hypothesis():
    assert explained_status("H1", "country=US", "without it the change is -1.4%", "supported") == (
        "rejected", "explained by H1 (country=US): without it the change is -1.4%")
    for st in ("inconclusive", "rejected"):
        status, reason = explained_status("H3", "the whole account", "no volume left", st)
        assert status == "inconclusive"
        assert reason == f"its change is within the rows of H3 (the whole account), which is itself {st}: no volume left"


def test_generated_run_words_both_cases_coherently(every_hypothesis):
    # two_causes seed 0 holds both: CVR candidates explained by the supported Retargeting drop, and
    # AOV candidates inside the account-wide AOV rise that the confidence gate holds back.
    settings, d = every_hypothesis("two_causes", 0)
    by_id = {h.id: h for h in d.hypotheses}
    explained = [h for h in d.hypotheses if h.explained_by is not None]
    behind_supported = [h for h in explained if by_id[h.explained_by].status == "supported"]
    behind_gated = [h for h in explained if by_id[h.explained_by].status == "inconclusive"
                    and by_id[h.explained_by].q_value is not None
                    and by_id[h.explained_by].q_value <= settings.diagnose.fdr_q]
    assert behind_supported and behind_gated
    for h in behind_supported:
        assert h.status == "rejected" and h.reason.startswith(f"explained by {h.explained_by} ("), h.reason
    for h in explained:
        ref = by_id[h.explained_by]
        if ref.status != "supported":
            assert h.status == "inconclusive", (h.id, h.reason)
            assert h.reason.startswith(f"its change is within the rows of {ref.id} ("), h.reason
            assert f"which is itself {ref.status}" in h.reason
            assert "explained by" not in h.reason
    # the gated explainer is inconclusive for the gate's reason, not for want of significance
    assert all("but only" in by_id[h.explained_by].reason for h in behind_gated)


@pytest.mark.parametrize("scenario,seed", [("two_causes", 0), ("improvement", 0)])
def test_explained_changes_rank_after_every_unexplained_one(every_hypothesis, scenario, seed):
    # an explained change keeps the rank of a rejected one whatever its status, so it never crowds
    # an unexplained candidate out of the max_hypotheses list
    _, d = every_hypothesis(scenario, seed)
    pos = {h.id: n for n, h in enumerate(d.hypotheses)}
    last_open = max(pos[h.id] for h in d.hypotheses if h.explained_by is None and h.status != "rejected")
    assert all(pos[h.id] > last_open for h in d.hypotheses if h.explained_by is not None)
    assert any(h.status == "inconclusive" for h in d.hypotheses if h.explained_by is not None)
