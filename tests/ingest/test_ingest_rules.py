"""Recovery, quarantine, soft warnings, duplicates, Ads Manager semantics, mapping, encodings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.engine import connect
from fb_analyst.errors import MissingColumnsError
from fb_analyst.ingest import ingest_files
from fb_analyst.settings import Settings

HEADER = "date,campaign_name,adset_name,audience_type,spend,impressions,clicks,ctr,purchases,revenue,roas\n"


def _ingest(tmp_path: Path, text: str, name: str = "in.csv", settings: Settings | None = None, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    result = ingest_files([p], settings or Settings(), con=connect())
    return result, result.table.execute()


def test_recovery_from_same_row_only_and_missing_stays_missing(tmp_path):
    text = HEADER + (
        "2025-01-01,A,Adset-1 Broad,Broad,,1000,,0.02,5,50,2.5\n"   # clicks=20, spend=20
        "2025-01-02,A,Adset-1 Broad,Broad,10,1000,30,,5,,\n"        # revenue unknown, stays NULL
        "2025-01-03,A,Adset-1 Broad,Broad,10,1000,30,0.03,,40,4\n"  # purchases: no redundant column
    )
    result, frame = _ingest(tmp_path, text)
    row = frame.set_index(S.SOURCE_ROW)
    assert row.loc[2, S.CLICKS] == 20 and row.loc[2, S.SPEND] == pytest.approx(20.0)
    assert row.loc[2, S.imputed_flag(S.CLICKS)] and row.loc[2, S.imputed_flag(S.SPEND)]
    assert row.loc[3, S.REVENUE] != row.loc[3, S.REVENUE]  # NaN: missing, not 0
    assert pd.isna(row.loc[4, S.PURCHASES])
    assert not row.loc[3, S.imputed_flag(S.REVENUE)]
    assert result.report.kpis.kpis["roas"].coverage == pytest.approx(2 / 3, abs=1e-6)


def test_hard_rules_quarantine_with_file_row_and_reason(tmp_path):
    text = HEADER + (
        "2025-01-01,A,Adset-1 Broad,Broad,-1,1000,10,,1,5,\n"
        "2025-01-02,A,Adset-1 Broad,Broad,1,10,20,,1,5,\n"
        "2025-02-30,A,Adset-1 Broad,Broad,1,1000,10,,1,5,\n"
        "2025-01-04,,Adset-1 Broad,Broad,1,1000,10,,1,5,\n"
        "2025-01-05,A,Adset-1 Broad,Broad,abc,1000,10,,1,5,\n"
        "2025-01-06,A,Adset-1 Broad,Broad,1,1000,10,,1,5,\n"
    )
    result, frame = _ingest(tmp_path, text)
    q = result.quarantine.set_index(S.SOURCE_ROW)
    assert dict(q["reason"]) == {2: "negative_spend", 3: "clicks_gt_impressions", 4: "unparseable_date",
                                 5: "missing_campaign", 6: "unparseable_spend"}
    assert q.loc[2, "spend"] == "-1" and q.loc[2, S.SOURCE_FILE].endswith("in.csv")
    r = result.report
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (6, 1, 5)
    assert r.quarantined_by_reason["negative_spend"] == 1


def test_soft_anomalies_are_warnings_with_examples(tmp_path):
    text = HEADER + (
        "2025-01-01,A,Adset-1 LAL1,Broad,1,1000,10,0.5,1,5,\n"  # ctr mismatch + LAL label vs Broad
        "2025-01-02,A,Adset-1 Broad,Broad,1,1000,10,0.01,20,5,\n"  # purchases > clicks
    )
    result, frame = _ingest(tmp_path, text)
    warns = {w.kind: w for w in result.report.warnings}
    assert warns["ctr_mismatch"].rows == 1 and warns["ctr_mismatch"].examples[0].endswith(":2")
    assert warns["audience_label_mismatch"].rows == 1
    assert warns["purchases_gt_clicks"].rows == 1
    assert len(frame) == 2


def test_exact_duplicates_removed_and_counted_across_files(tmp_path):
    body = "2025-01-01,A,Adset-1 Broad,Broad,1,1000,10,,1,5,\n2025-01-02,A,Adset-1 Broad,Broad,2,1000,10,,1,5,\n"
    (tmp_path / "a.csv").write_text(HEADER + body + body.splitlines()[0] + "\n")
    (tmp_path / "b.csv").write_text(HEADER + body)
    result = ingest_files([str(tmp_path / "*.csv")], Settings(), con=connect())
    r = result.report
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined, r.duplicates_removed) == (5, 2, 0, 3)
    assert [f.duplicates_removed for f in r.files] == [1, 2]


def test_ads_manager_blank_results_are_zero_but_blank_elsewhere_is_missing(tmp_path):
    am = ("Reporting starts,Reporting ends,Campaign name,Amount spent (INR),Impressions,Link clicks,Purchases\n"
          ",,,\"1,500.00\",3000,,\n"
          "2025-01-01,2025-01-01,A,\"1,000.50\",2000,,\n"
          "2025-01-01,2025-01-01,B,500,1000,5,1\n")
    result, frame = _ingest(tmp_path, am, "am.csv")
    row = frame.set_index(S.CAMPAIGN)
    assert row.loc["A", S.CLICKS] == 0 and row.loc["A", S.PURCHASES] == 0 and row.loc["A", S.SPEND] == 1000.5
    assert set(frame[S.CURRENCY]) == {"INR"} and result.report.currency == "INR"
    assert result.report.quarantined_by_reason == {"summary_row": 1}
    plain = HEADER + "2025-01-01,A,Adset-1 Broad,Broad,1,1000,,,,,\n"
    _, frame2 = _ingest(tmp_path, plain, "plain.csv")
    assert frame2[S.CLICKS].isna().all() and frame2[S.PURCHASES].isna().all()


def test_user_column_mapping_and_one_message_for_missing_columns(tmp_path):
    text = "Datum,Kampagne,Kosten,Impr\n2025-01-01,A,1,100\n"
    settings = Settings(ingest={"column_mapping": {"Datum": "date", "Kampagne": "campaign", "Kosten": "spend",
                                                   "Impr": "impressions"}})
    _, frame = _ingest(tmp_path, text, "de.csv", settings)
    assert frame[S.SPEND].tolist() == [1.0]
    with pytest.raises(MissingColumnsError) as exc:
        _ingest(tmp_path, text, "de2.csv")
    assert "found: Datum, Kampagne, Kosten, Impr" in str(exc.value)


def test_tsv_cp1252_and_mdy_dates(tmp_path):
    text = ("date\tcampaign_name\tspend\timpressions\tcreative_message\n"
            "01/13/2025\tCafé Launch\t1.5\t100\tNaïve — fun\n"
            "01/14/2025\tCafé Launch\t2.5\t100\tNaïve — fun\n")
    result, frame = _ingest(tmp_path, text, "export.tsv", encoding="cp1252")
    f = result.report.files[0]
    assert (f.format, f.delimiter, f.encoding, f.date_order) == ("tsv", "tab", "cp1252", "mdy")
    assert set(frame[S.CAMPAIGN]) == {"Café Launch"} and set(frame[S.CREATIVE_MESSAGE]) == {"Naïve — fun"}
    assert str(frame[S.DATE].min())[:10] == "2025-01-13"


def test_typed_fast_path_falls_back_to_text_when_a_late_row_breaks_the_sniffed_type(tmp_path):
    good = "".join(f"2025-01-{1 + i % 28:02d},A,Adset-1 Broad,Broad,{i % 50}.5,{1000 + i},10,,1,5,\n" for i in range(30_000))
    text = HEADER + good + "2025-01-02,A,Adset-1 Broad,Broad,abc,1000,10,,1,5,\n"
    result, frame = _ingest(tmp_path, text)
    assert len(frame) == 30_000
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [[30_002, "unparseable_spend"]]


def test_disk_stage_gives_the_same_result(tmp_path, sample_csv_path, sample_canonical):
    settings = Settings(ingest={"disk_stage_rows": 0})
    result = ingest_files([sample_csv_path], settings, con=connect())
    frame = result.table.execute()
    assert len(frame) == len(sample_canonical)
    assert frame[S.SPEND].sum() == pytest.approx(sample_canonical[S.SPEND].sum(), rel=1e-12)


def test_marketing_api_counts_purchases_once_from_the_preferred_type(tmp_path):
    import json

    rec = {"campaign_name": "A", "date_start": "2025-01-01", "date_stop": "2025-01-01", "spend": "10.5",
           "impressions": "1000", "inline_link_clicks": "20",
           "actions": [{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "3"},
                       {"action_type": "purchase", "value": "3"}, {"action_type": "link_click", "value": "20"}],
           "action_values": [{"action_type": "purchase", "value": "90.5"}]}
    no_purchase = dict(rec, date_start="2025-01-02", actions=[{"action_type": "link_click", "value": "5"}])
    no_purchase.pop("action_values")
    p = tmp_path / "api.jsonl"
    p.write_text(json.dumps(rec) + "\n" + json.dumps(no_purchase) + "\n")
    result = ingest_files([p], Settings(), con=connect())
    frame = result.table.execute().sort_values(S.DATE)
    assert frame[S.PURCHASES].tolist() == [3, 0] and frame[S.REVENUE].tolist() == [90.5, 0.0]
    assert result.report.files[0].purchase_action_types == {"purchase": 1}


def test_canonical_check_counts_agree_with_pandera_full_validation():
    """The report query counts the canonical schema's data checks; pandera itself must see the same failures."""
    import ibis
    import pandera.errors as pe

    from fb_analyst.ingest.validate import canonical_check_counts, canonical_schema

    frame = pd.DataFrame({
        S.DATE: pd.to_datetime(["2025-01-01", None, "2025-01-03"]).date,
        S.CAMPAIGN: ["A", "B", None],
        S.SPEND: [1.0, -2.0, None],
        S.IMPRESSIONS: pd.array([100, 10, 5], dtype="Int64"),
        S.CLICKS: pd.array([5, 20, None], dtype="Int64"),
        S.SOURCE_ROW: pd.array([2, 3, 0], dtype="Int64"),
    })
    t = ibis.memtable(frame, schema={S.DATE: "date", S.CAMPAIGN: "string", S.SPEND: "float64",
                                     S.IMPRESSIONS: "int64", S.CLICKS: "int64", S.SOURCE_ROW: "int64"})
    schema = canonical_schema(list(t.columns))
    counts = t.aggregate(**canonical_check_counts(t, list(t.columns))).execute().iloc[0]
    failing = {k for k, v in counts.items() if int(v or 0)}
    assert failing == {f"check:{S.DATE}:not_null", f"check:{S.CAMPAIGN}:not_null",
                       f"check:{S.SPEND}:greater_than_or_equal_to", "check:clicks_le_impressions",
                       f"check:{S.SOURCE_ROW}:greater_than_or_equal_to"}
    with pytest.raises(pe.SchemaErrors) as exc:
        schema.validate(t, lazy=True)
    errors = [e for kind in exc.value.message.values() for group in kind.values() for e in group]
    by_pandera = set()
    for e in errors:
        check = e["check"].split("(")[0]
        if check == "not_nullable":
            by_pandera.add(f"check:{e['column']}:not_null")
        elif e["column"] == schema.name:
            by_pandera.add(f"check:{check}")
        else:
            by_pandera.add(f"check:{e['column']}:{check}")
    assert by_pandera == failing


@pytest.mark.parametrize("types", [
    {},  # the canonical types
    {S.SPEND: "string", S.DATE: "timestamp", S.SOURCE_ROW: "int32"},
    {S.CLICKS: "float64", "imputed_clicks": "string", S.COUNTRY: "int64"},
])
def test_schema_problems_agree_with_pandera_schema_level_validation(types):
    """The run checks the canonical column types itself; pandera's schema-depth validation of the
    contract (``canonical_schema``) must flag exactly the same columns."""
    import ibis
    import pandera.errors as pe
    from pandera.config import ValidationDepth, config_context

    from fb_analyst.ingest.validate import canonical_schema, schema_problems

    canonical = {S.DATE: "date", S.CAMPAIGN: "string", S.COUNTRY: "string", S.SPEND: "float64",
                 S.CLICKS: "int64", S.IMPRESSIONS: "int64", "imputed_clicks": "boolean", S.SOURCE_ROW: "int64"}
    t = ibis.table(canonical | types, name="t")
    ours = {p.split(":")[0] for p in schema_problems(t)}
    assert ours == set(types)
    try:
        with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
            canonical_schema(list(t.columns)).validate(t, lazy=True)
        by_pandera: set[str] = set()
    except pe.SchemaErrors as exc:
        by_pandera = {e["column"] for kind in exc.message.values() for group in kind.values() for e in group}
    assert by_pandera == ours


def test_row_numbers_are_file_lines_late_in_a_multi_file_input(tmp_path):
    """Delimited files are read in parallel and numbered once staged: every accepted row and every
    quarantined row (early, middle, last) keeps its line in its own file (header = line 1)."""
    bad = {"a.csv": {0: "negative_spend", 90_000: "unparseable_spend", 149_998: "clicks_gt_impressions",
                     149_999: "negative_spend"},
           "b.csv": {7: "unparseable_date", 59_999: "missing_campaign"}}
    sizes = {"a.csv": 150_000, "b.csv": 60_000}
    for k, (name, rows) in enumerate(sizes.items()):
        lines = [HEADER]
        for i in range(rows):  # spend = the row's index in its file, so the number can be checked
            date, camp, spend, clicks = f"2025-01-{1 + i % 28:02d}", f"Camp {k}", f"{i}.5", "10"
            reason = bad[name].get(i)
            if reason == "negative_spend":
                spend = f"-{i}.5"
            elif reason == "unparseable_spend":
                spend = "abc"
            elif reason == "clicks_gt_impressions":
                clicks = "5000"
            elif reason == "unparseable_date":
                date = "2025-02-30"
            elif reason == "missing_campaign":
                camp = ""
            lines.append(f"{date},{camp},Adset-1 Broad,Broad,{spend},1000,{clicks},,1,5,\n")
        (tmp_path / name).write_text("".join(lines))
    result = ingest_files([tmp_path / "a.csv", tmp_path / "b.csv"], Settings(), con=connect())
    q = result.quarantine
    got = {(Path(f).name, int(r)): reason for f, r, reason in zip(q[S.SOURCE_FILE], q[S.SOURCE_ROW], q["reason"])}
    assert got == {(name, i + 2): reason for name, rows in bad.items() for i, reason in rows.items()}
    frame = result.table.select(S.SOURCE_FILE, S.SOURCE_ROW, S.SPEND).execute()
    assert len(frame) == sum(sizes.values()) - len(got)
    assert (frame[S.SOURCE_ROW] == frame[S.SPEND] - 0.5 + 2).all()
    assert frame.groupby(frame[S.SOURCE_FILE].map(lambda f: Path(f).name))[S.SOURCE_ROW].max().to_dict() == {
        "a.csv": 149_999, "b.csv": 60_000}
