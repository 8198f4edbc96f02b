"""The reason of an explained hypothesis names its explainer by the final id (``H<n>``) and keeps
the explainer's segment label as it is: ``diagnosis._assemble`` writes the reason again through
``hypotheses.explanation`` once the ids are known, instead of editing the text written with the
temporary ids."""

from __future__ import annotations

import functools
import re

from fb_analyst.diagnose import diagnose
from fb_analyst.diagnose.hypotheses import seg_label
from fb_analyst.engine import connect, table_from_pandas
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings
from fb_analyst.windows import resolve_windows


@functools.lru_cache(maxsize=2)
def _every_hypothesis(scenario: str, seed: int, rename: tuple[tuple[str, str, str], ...] = ()):
    """Diagnosis of a generated scenario with every record written (no list cut-off); ``rename``:
    (column, old value, new value) replacements applied to the generated rows first."""
    frame = generate_sample(scenario, seed=seed).frame.copy()
    for col, old, new in rename:
        frame[col] = frame[col].astype(object).where(frame[col] != old, new)
    base = Settings()
    settings = base.model_copy(update={"diagnose": base.diagnose.model_copy(update={"max_hypotheses": 1000})})
    table = table_from_pandas(frame, connect("duckdb"))
    return diagnose(table, resolve_windows(table, None, settings), settings)


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


def test_explained_reasons_name_the_final_ids():
    assert _check_references(_every_hypothesis("two_causes", 0)) > 0


#: A dimension value that holds every temporary reference "explained by T<n> " a run could write.
LOOKALIKE = "Retargeting " + "".join(f"explained by T{i} " for i in range(1000))


def test_a_segment_label_that_reads_like_a_reference_is_left_as_it_is():
    # two_causes 0: CVR candidates are explained by the Retargeting audience's drop (supported); its
    # label now holds the words a text edit of the temporary ids would rewrite, and must come
    # through unchanged in the reasons that name it
    d = _every_hypothesis("two_causes", 0, (("audience_type", "Retargeting", LOOKALIKE),))
    assert _check_references(d) > 0
    assert any(f"(audience_type={LOOKALIKE}): " in h.reason for h in d.hypotheses if h.explained_by is not None)
