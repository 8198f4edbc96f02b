"""The reason of an explained hypothesis names its explainer by the final id (``H<n>``) and keeps
the explainer's segment label as it is: ``diagnosis._assemble`` writes the reason again through
``hypotheses.explanation`` once the ids are known, instead of editing the text written with the
temporary ids."""

from __future__ import annotations

import re

from fb_analyst.diagnose.hypotheses import seg_label


def _check_references(d) -> int:
    by_id = {h.id: h for h in d.hypotheses}
    explained = [h for h in d.hypotheses if h.explained_by is not None]
    for h in d.hypotheses:
        assert re.fullmatch(r"H\d+", h.id), h.id
    for h in explained:
        ref = by_id[h.explained_by]
        seg = seg_label(ref.segment)
        lead = (f"explained by {ref.id} ({seg}): " if ref.status == "supported"
                else f"its change is within the rows of {ref.id} ({seg}), which is itself {ref.status}: ")
        assert h.reason.startswith(lead), (h.id, h.reason)
    return len(explained)


def test_explained_reasons_name_the_final_ids(every_hypothesis):
    _, d = every_hypothesis("two_causes", 0)
    assert _check_references(d) > 0


#: A dimension value that holds every temporary reference "explained by T<n> " a run could write.
LOOKALIKE = "Retargeting " + "".join(f"explained by T{i} " for i in range(1000))


def test_a_segment_label_that_reads_like_a_reference_is_left_as_it_is(every_hypothesis):
    # two_causes 0: CVR candidates are explained by the Retargeting audience's drop (supported); its
    # label now holds the words a text edit of the temporary ids would rewrite, and must come
    # through unchanged in the reasons that name it
    _, d = every_hypothesis("two_causes", 0, (("audience_type", "Retargeting", LOOKALIKE),))
    assert _check_references(d) > 0
    assert any(f"(audience_type={LOOKALIKE}): " in h.reason for h in d.hypotheses if h.explained_by is not None)
