"""Fixtures for the ingest tests: the sample ingested once, and the same data in other formats.

Writers produce, in tmp_path, the sample data as an Ads Manager CSV, XLSX, Marketing API JSON,
Parquet and a dirty CSV. Formats that carry Meta's own semantics (Ads Manager, API) are written
from the sample's canonical rows (recovered values filled in) with the sample's raw names;
the others from the raw sample rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.engine import connect
from fb_analyst.ingest import IngestResult, ingest_files
from fb_analyst.settings import Settings

TOTAL_MEASURES = list(S.MEASURES)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def sample_ingest(sample_csv_path: Path, settings: Settings) -> IngestResult:
    """The bundled sample ingested once (own DuckDB connection)."""
    return ingest_files([sample_csv_path], settings, con=connect())


@pytest.fixture(scope="session")
def sample_canonical(sample_ingest: IngestResult) -> pd.DataFrame:
    return sample_ingest.table.execute()


@pytest.fixture(scope="session")
def sample_raw(sample_csv_path: Path) -> pd.DataFrame:
    """The raw sample as text cells (blanks kept as empty strings)."""
    return pd.read_csv(sample_csv_path, dtype=str, keep_default_na=False)


def totals(frame: pd.DataFrame) -> dict[str, float]:
    return {m: float(frame[m].astype("float64").sum()) for m in TOTAL_MEASURES}


def campaign_spend(frame: pd.DataFrame) -> dict[str, float]:
    return {k: round(float(v), 6) for k, v in frame.groupby(S.CAMPAIGN)[S.SPEND].sum().items()}


def _canonical_with_raw_names(canonical: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Canonical rows, but with each row's raw campaign spelling from the sample."""
    out = canonical.copy()
    out[S.CAMPAIGN] = raw["campaign_name"].to_numpy()[out[S.SOURCE_ROW].to_numpy() - 2]
    return out


def _num(v: object) -> str:
    return "" if v is None or pd.isna(v) else repr(float(v)) if isinstance(v, float) else str(v)


def write_ads_manager_csv(canonical: pd.DataFrame, raw: pd.DataFrame, path: Path) -> Path:
    """Ads Manager export: its headers, currency in the spend header, zero results as blanks,
    CTR in percent, a total row first."""
    c = _canonical_with_raw_names(canonical, raw)

    def blank_zero(v: object) -> str:
        return "" if v is None or pd.isna(v) or float(v) == 0 else _num(v)

    rows = []
    for r in c.itertuples(index=False):
        day = str(r.date)[:10]
        ctr = (100 * r.clicks / r.impressions) if pd.notna(r.clicks) and r.impressions else None
        roas = (r.revenue / r.spend) if pd.notna(r.revenue) and pd.notna(r.spend) and r.spend else None
        rows.append({
            "Reporting starts": day, "Reporting ends": day, "Campaign name": r.campaign, "Ad set name": r.adset,
            "Day": day, "Platform": r.platform, "Country": r.country,
            "Amount spent (USD)": _num(r.spend), "Impressions": _num(r.impressions),
            "Link clicks": blank_zero(r.clicks), "CTR (link click-through rate)": _num(ctr),
            "Purchases": blank_zero(r.purchases), "Purchases conversion value": blank_zero(r.revenue),
            "Purchase ROAS (return on ad spend)": blank_zero(roas),
            "Creative type": r.creative_type, "Audience type": r.audience_type,
            "Creative message": r.creative_message,
        })
    frame = pd.DataFrame(rows)
    total = {k: "" for k in frame.columns}
    total.update({"Reporting starts": str(c[S.DATE].min())[:10], "Reporting ends": str(c[S.DATE].max())[:10],
                  "Amount spent (USD)": _num(c[S.SPEND].sum()), "Impressions": _num(c[S.IMPRESSIONS].sum())})
    pd.concat([pd.DataFrame([total]), frame]).to_csv(path, index=False)
    return path


def write_api_json(canonical: pd.DataFrame, raw: pd.DataFrame, path: Path) -> Path:
    """Marketing API Insights page: string numbers, purchases under three action types."""
    c = _canonical_with_raw_names(canonical, raw)
    types = ["purchase", "omni_purchase", "offsite_conversion.fb_pixel_purchase"]
    data = []
    for r in c.itertuples(index=False):
        day = str(r.date)[:10]
        rec: dict[str, object] = {
            "account_id": "act_1", "account_currency": "USD", "campaign_name": r.campaign,
            "adset_name": r.adset, "date_start": day, "date_stop": day, "publisher_platform": r.platform,
            "country": r.country, "impressions": _num(r.impressions),
        }
        if pd.notna(r.spend):
            rec["spend"] = _num(r.spend)
        if pd.notna(r.clicks):
            rec["inline_link_clicks"] = _num(r.clicks)
        actions = [{"action_type": "link_click", "value": _num(r.clicks)}] if pd.notna(r.clicks) else []
        if pd.notna(r.purchases) and r.purchases:
            actions += [{"action_type": t, "value": _num(r.purchases)} for t in types]
        if actions:
            rec["actions"] = actions
        if pd.notna(r.revenue) and r.revenue:
            rec["action_values"] = [{"action_type": t, "value": _num(r.revenue)} for t in types]
        data.append(rec)
    path.write_text(json.dumps({"data": data, "paging": {"cursors": {"before": "a", "after": "b"}}}))
    return path


def write_xlsx(raw: pd.DataFrame, path: Path) -> Path:
    frame = raw.copy()
    for col in ("spend", "impressions", "clicks", "ctr", "purchases", "revenue", "roas"):
        frame[col] = pd.to_numeric(frame[col].replace("", None))
    frame.to_excel(path, index=False)
    return path


MOJIBAKE_ROWS = range(0, 4500, 7)
DUPLICATE_ROWS = range(10, 4500, 150)
IMPOSSIBLE = [
    {"spend": "-5,00", "reason": "negative_spend"},
    {"clicks": "999999999", "reason": "clicks_gt_impressions"},
    {"date": "31-31-2025", "reason": "unparseable_date"},
    {"purchases": "-3", "reason": "negative_purchases"},
]


def write_dirty_csv(raw: pd.DataFrame, path: Path) -> Path:
    """Semicolons, comma decimals, thousands dots, currency symbols, BOM, dd-mm-yyyy dates,
    mojibake, padded whitespace, duplicated rows and impossible rows."""
    f = raw.copy()

    def comma(v: str) -> str:
        return v.replace(".", ",") if v else v

    def thousands(v: str) -> str:
        if not v:
            return v
        n = int(float(v))
        return f"{n:,}".replace(",", ".")

    for col in ("ctr", "roas", "revenue"):
        f[col] = f[col].map(comma)
    f["spend"] = f["spend"].map(lambda v: f"€ {comma(v)}" if v else v)
    f["impressions"] = f["impressions"].map(thousands)
    f["clicks"] = f["clicks"].map(lambda v: comma(str(int(float(v)))) if v else v)
    f["date"] = pd.to_datetime(f["date"]).dt.strftime("%d-%m-%Y")
    idx = list(MOJIBAKE_ROWS)
    f.loc[idx, "creative_message"] = f.loc[idx, "creative_message"].map(
        lambda s: s.encode("utf-8").decode("cp1252", errors="ignore") if not s.isascii() else s)
    f["adset_name"] = "  " + f["adset_name"] + " "
    dups = f.iloc[list(DUPLICATE_ROWS)]
    bad_rows = []
    for spec in IMPOSSIBLE:
        row = f.iloc[0].copy()
        for k, v in spec.items():
            if k != "reason":
                row[k] = v
        bad_rows.append(row)
    dirty = pd.concat([f, dups, pd.DataFrame(bad_rows)], ignore_index=True)
    text = dirty.to_csv(index=False, sep=";")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path
