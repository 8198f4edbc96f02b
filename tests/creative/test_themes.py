"""Slot masking, c-TF-IDF labels, k selection and determinism of the theme clustering."""

from __future__ import annotations

import numpy as np

from fb_analyst.creative.space import find_slot_words, mask_slots
from fb_analyst.creative.themes import choose_k, cluster_messages, ctfidf_keywords, normalise_text
from fb_analyst.settings import Settings

PRODUCTS = ["briefs", "boxers", "trunks", "bras", "thongs"]
TEMPLATES = [
    "Last chance: {p} sale ends tonight.",
    "Hurry before the sale ends tonight and the last {p} go.",
    "Sale ends tonight - your final chance at {p} for less than ever before.",
    "Made from organic cotton - {p} kind to the planet.",
    "Our organic cotton {p} are good for the planet and for you.",
    "Planet first: every one of our {p} uses organic cotton grown without pesticides.",
]
THEME_OF_TEMPLATE = [0, 0, 0, 1, 1, 1]


def templated_messages() -> tuple[list[str], list[int]]:
    msgs, truth = [], []
    for t, template in enumerate(TEMPLATES):
        for p in PRODUCTS:
            for g in ("men's", "women's"):
                msgs.append(template.format(p=f"{g} {p}"))
                truth.append(THEME_OF_TEMPLATE[t])
    return msgs, truth


def test_slot_words_are_the_swapped_products():
    msgs, _ = templated_messages()
    slots = find_slot_words(msgs)
    assert set(PRODUCTS) | {"men's", "women's"} <= slots
    assert not slots & {"last", "chance", "organic", "planet", "sale", "tonight"}
    assert mask_slots("Last chance: men's briefs sale ends tonight.", slots) == "Last chance: sale ends tonight."


def test_handwritten_copy_masks_nothing():
    msgs = ["Our softest tee yet.", "Free returns, always.", "Built for long runs and hot days."]
    assert find_slot_words(msgs) == set()


def test_ctfidf_prefers_words_distinct_to_a_theme():
    kw = ctfidf_keywords([["sale ends tonight hurry", "last chance sale"], ["organic cotton planet", "organic dyes"]])
    assert kw[0][0].term in {"sale", "hurry", "tonight", "chance", "sale ends"}
    assert kw[1][0].term.startswith("organic")


def test_choose_k_finds_well_separated_groups():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:4]
    x = np.vstack([c + 0.05 * rng.normal(size=(10, 8)) for c in centres])
    labels, sel = choose_k(x, 2, 8, seed=0)
    assert sel.chosen_k == 4 and len(set(labels)) == 4
    assert {s.k for s in sel.scores} == set(range(2, 9))


def test_clustering_is_deterministic_and_assigns_every_message(counting_embedder):
    from sklearn.metrics import adjusted_rand_score

    msgs, truth = templated_messages()
    s = Settings(creative={"guide_with_angles": False})
    a = cluster_messages(msgs, counting_embedder, s)
    b = cluster_messages(msgs, counting_embedder, s)
    assert (a.labels == b.labels).all() and a.names == b.names
    assert len(a.labels) == len(msgs) and (a.labels >= 0).all()
    assert a.n_templates == len(TEMPLATES)
    assert adjusted_rand_score(truth, a.labels) == 1.0
    assert a.selection.chosen_k == 2


def test_normalise_text_ignores_case_dashes_and_punctuation():
    assert normalise_text("Hot & comfy: 20% OFF — now!") == normalise_text("hot & comfy 20% off - now")
