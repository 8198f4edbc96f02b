"""Entity resolution: normalisation, fuzzy grouping, guards, overrides, mojibake repair."""

from __future__ import annotations

from pathlib import Path

import pytest

from fb_analyst.errors import InputError
from fb_analyst.ingest.names import load_overrides, merge_forbidden, normalise_name, repair_text, resolve_names


def _groups(counts, **kw):
    out: dict[str, set[str]] = {}
    for d in resolve_names(counts, **kw):
        out.setdefault(d.canonical, set()).add(d.raw)
    return out


def test_normalisation_cases_separators_and_ampersand():
    assert normalise_name("Women_Fit_&_Lift") == normalise_name("women fit and lift") == "women fit and lift"
    assert normalise_name("  MEN | Athleisure-Cooling ") == "men athleisure cooling"


@pytest.mark.parametrize("a,b", [("Adset-1 Broad", "Adset-2 Broad"), ("Adset-1 LAL1", "Adset-1 LAL2"),
                                 ("Men Premium Modal", "Women Premium Modal"), ("Summer Sale US", "Summer Sale UK"),
                                 ("Broad Prospecting", "Lookalike Prospecting")])
def test_guarded_names_never_merge(a, b):
    groups = _groups({a: 100, b: 90})
    assert len(groups) == 2
    assert merge_forbidden(normalise_name(a), normalise_name(b)) is not None


def test_corrupted_token_still_joins_its_entity():
    groups = _groups({"Women Fit & Lift": 100, "W MEN FIT & LIFT": 2, "Wom n Fit Lift": 1, "Men Premium Modal": 90})
    assert groups["Women Fit & Lift"] == {"Women Fit & Lift", "W MEN FIT & LIFT", "Wom n Fit Lift"}


def test_mixed_case_spelling_is_canonical_and_rules_reported():
    decisions = {d.raw: d for d in resolve_names({"Men Bold Drop": 10, "men_bold_drop": 30, "Men Bld Drop": 1})}
    assert {d.canonical for d in decisions.values()} == {"Men Bold Drop"}
    assert decisions["Men Bold Drop"].rule == "exact" and decisions["men_bold_drop"].rule == "normalised"
    assert decisions["Men Bld Drop"].rule == "fuzzy" and decisions["Men Bld Drop"].score >= 90


def _canonical(counts: dict[str, int]) -> set[str]:
    return {d.canonical for d in resolve_names(counts)}


def test_title_case_spelling_wins_then_the_most_frequent():
    # a name typed with care reads "Men Bold Drop", even when a shouted or lower-case word is commoner
    assert _canonical({"MEN BOLD DROP": 10, "men_bold_drop": 30, "Men Bold Drop": 5,
                       "MEN Bold Drop": 8}) == {"Men Bold Drop"}
    assert _canonical({"women Summer Invisible": 152, "Women Summer Invisible": 46}) == {"Women Summer Invisible"}
    # equally clean spellings: the most frequent
    assert _canonical({"Men ComfortMax Launch": 155, "Men Comfortmax Launch": 55}) == {"Men ComfortMax Launch"}
    assert _canonical({"Men Comfortmax Launch": 155, "Men ComfortMax Launch": 55}) == {"Men Comfortmax Launch"}
    # no mixed case at all: the most frequent
    assert _canonical({"MEN BOLD DROP": 10, "men_bold_drop": 30}) == {"men_bold_drop"}


def test_a_stray_spelling_does_not_rename_an_acronym_or_a_possessive():
    # title case decides only among spellings with a tenth of the commonest one's rows
    assert _canonical({"Men USA Launch": 100, "Men Usa Launch": 1}) == {"Men USA Launch"}
    assert _canonical({"Adset-1 LAL1": 50, "Adset-1 Lal1": 2, "adset-1 lal1": 60}) == {"Adset-1 LAL1"}
    # "Men's" is one word, so its "s" is not a lower-case word of its own
    assert _canonical({"Men's Bold Drop": 100, "Men'S Bold Drop": 1}) == {"Men's Bold Drop"}
    assert _canonical({"Men's Bold Drop": 50, "MEN'S Bold Drop": 60}) == {"Men's Bold Drop"}


def test_override_file_wins(tmp_path: Path):
    f = tmp_path / "overrides.csv"
    f.write_text("raw_name,canonical_name,level\nMen Bld Drop,Clearance,campaign\nX,Y,adset\n")
    overrides = load_overrides(f, "campaign")
    assert overrides == {"Men Bld Drop": "Clearance"}
    decisions = {d.raw: d for d in resolve_names({"Men Bold Drop": 10, "Men Bld Drop": 1}, overrides=overrides)}
    assert decisions["Men Bld Drop"].canonical == "Clearance" and decisions["Men Bld Drop"].rule == "override"


def test_override_file_problems_are_input_errors(tmp_path: Path):
    with pytest.raises(InputError, match="not found"):
        load_overrides(tmp_path / "missing.csv", "campaign")
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to\na,b\n")
    with pytest.raises(InputError, match="raw_name,canonical_name"):
        load_overrides(bad, "campaign")


def test_repair_text_fixes_mojibake_and_whitespace_keeps_curly_quotes():
    broken = "you’ll love it — now".encode("utf-8").decode("cp1252")
    assert repair_text("  " + broken + "\u00a0 ") == "you’ll love it — now"
    assert repair_text("   ") is None
