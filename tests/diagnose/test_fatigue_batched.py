"""The batched fatigue fit (all keys at once) against a plain per-key reading of the model.

``reference_findings`` below is the model of ``fatigue.py``'s docstring written the direct way --
one pandas frame and one Newton loop per key -- as it was before the computation was batched.
The batched version must give the same findings (to rounding) on data that exercises every
branch: messages run by several ads, messages spread over several campaigns, keys without a
campaign (account reference) and an ``as_of`` cut.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fb_analyst.diagnose import detect_fatigue
from fb_analyst.diagnose.fatigue import MIN_CLICKS, MIN_DAYS, MIN_TAIL, ONSET_STEP
from fb_analyst.engine import table_from_pandas
from fb_analyst.sample import generate_sample


def _glm(y, off, h, start):
    X = np.column_stack([np.ones_like(h), h])
    theta = start.copy() if start is not None else np.array([math.log(max(y.sum(), 0.5) / np.exp(off).sum()), 0.0])
    for _ in range(30):
        mu = np.exp(off + X @ theta)
        step = np.linalg.solve(X.T @ (X * mu[:, None]) + 1e-9 * np.eye(2), X.T @ (y - mu))
        theta = theta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    mu = np.exp(off + X @ theta)
    inv = np.linalg.inv(X.T @ (X * mu[:, None]) + 1e-9 * np.eye(2))
    return theta, inv, float(np.sum(y * np.log(mu) - mu)), float(np.sum((y - mu) ** 2 / mu))


def _one(d, group_totals, account):
    groups = [g for g in d["group"].unique() if g != ""]
    totals = account if not groups else pd.concat([group_totals[g] for g in groups]).groupby(level=0).sum()
    sub_ctr = d.groupby("sub")["clicks"].sum() / d.groupby("sub")["impressions"].sum()
    level = d["clicks"].sum() / d["impressions"].sum()
    d = d.assign(exposure=d["impressions"] * (d["sub"].map(sub_ctr) / level if level > 0 else 1.0))
    d = d.groupby("date")[["clicks", "impressions", "exposure", "std"]].sum().reset_index().sort_values("date")
    if len(d) < MIN_DAYS or d["clicks"].sum() < MIN_CLICKS:
        return None
    age = np.array([(x - d["date"].iloc[0]).days for x in d["date"]], float)
    y = d["clicks"].to_numpy(float)
    rest = totals.reindex(d["date"]).fillna(0.0)
    rc, ri = rest["clicks"].to_numpy() - y, rest["std"].to_numpy() - d["std"].to_numpy()
    if (rc > 0).sum() < len(y) // 2:
        rest = account.reindex(d["date"]).fillna(0.0)
        rc, ri = rest["clicks"].to_numpy() - y, rest["std"].to_numpy() - d["std"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        idx = np.where((ri > 0) & (rc > 0), (rc / ri) / (rc.sum() / ri.sum()), 1.0)
    off = np.log(d["exposure"].to_numpy()) + np.log(idx)
    taus = np.arange(0, age[-1] - MIN_TAIL + 1, ONSET_STEP)
    best = None
    for tau in taus:
        fit = _glm(y, off, np.maximum(0.0, age - tau), None if best is None else best[1])
        if best is None or fit[2] > best[3]:
            best = (tau, *fit)
    tau, theta, inv, _, pearson = best
    mu = np.exp(off + theta[0] + theta[1] * np.maximum(0.0, age - tau))
    r = (y - mu) / np.sqrt(mu)
    rho = min(max(float(np.corrcoef(r[:-1], r[1:])[0, 1]), 0.0), 0.9)
    phi = max(pearson / (len(y) - 2), 1.0) * (1 + rho) / (1 - rho)
    p = min(1.0, float(stats.t.cdf(theta[1] / math.sqrt(phi * inv[1, 1]), len(y) - 2)) * len(taus))
    return {"slope_per_day": float(theta[1]), "onset_date": d["date"].iloc[0] + timedelta(days=int(tau)),
            "dispersion": phi, "p_value": p, "days_active": len(d),
            "ctr_start": d["clicks"].iloc[:7].sum() / d["impressions"].iloc[:7].sum()}


def reference_findings(frame: pd.DataFrame, by: str, as_of=None) -> dict[str, dict]:
    f = frame.assign(date=pd.to_datetime(frame["date"]).dt.date)
    if as_of is not None:
        f = f[f["date"] <= as_of]
    daily = f.assign(key=f[by], group=f["campaign"].fillna(""), sub=f["ad"] if by != "ad" else "").groupby(
        ["date", "key", "group", "sub"], as_index=False)[["clicks", "impressions"]].sum().astype(
        {"clicks": float, "impressions": float})
    unit = daily["sub"].where(daily["sub"] != "", daily["key"])
    ctr = daily.groupby(unit)["clicks"].sum() / daily.groupby(unit)["impressions"].sum()
    daily = daily.assign(std=daily["impressions"] * unit.map(ctr).fillna(0.0))
    account = daily.groupby("date")[["clicks", "impressions", "std"]].sum()
    group_totals = {g: x.groupby("date")[["clicks", "impressions", "std"]].sum() for g, x in daily.groupby("group")}
    daily = daily[daily["impressions"] > 0]
    return {k: r for k, d in daily.groupby("key") if (r := _one(d, group_totals, account)) is not None}


@pytest.fixture(scope="module")
def awkward_frame() -> pd.DataFrame:
    """ctr_fatigue data where one message also runs in a second and third campaign and one
    campaign's rows lost their campaign name (those keys fall back on the account)."""
    frame = generate_sample("ctr_fatigue", seed=2).frame.copy()
    campaigns = sorted(frame["campaign"].unique())
    message = frame.loc[frame["campaign"] == campaigns[0], "creative_message"].iloc[0]
    rows = frame.index[frame["creative_message"] == message]
    frame.loc[rows[::3], "campaign"] = campaigns[1]
    frame.loc[rows[1::3], "campaign"] = campaigns[2]
    frame.loc[frame["campaign"] == campaigns[-1], "campaign"] = None
    return frame


@pytest.mark.parametrize("by", ["ad", "creative_message"])
@pytest.mark.parametrize("cut_days", [None, 10])
def test_batched_fit_matches_per_key_model(awkward_frame, by, cut_days):
    as_of = None if cut_days is None else pd.to_datetime(awkward_frame["date"]).max().date() - timedelta(days=cut_days)
    expected = reference_findings(awkward_frame, by, as_of)
    found = {f.key: f for f in detect_fatigue(table_from_pandas(awkward_frame), by, as_of=as_of)}
    assert set(found) == set(expected) and len(found) > 20
    for key, ref in expected.items():
        got = found[key]
        assert got.onset_date == ref["onset_date"] and got.days_active == ref["days_active"], key
        for name in ("slope_per_day", "dispersion", "p_value", "ctr_start"):
            assert getattr(got, name) == pytest.approx(ref[name], rel=1e-9, abs=1e-15), (key, name)


def test_findings_do_not_depend_on_the_input_row_order():
    """The same rows in another order (a parallel engine returns groups in any order) give the same
    findings to the last digit, so a run is reproducible and run-to-run drift reports only real
    changes."""
    frame = generate_sample("ctr_fatigue", seed=1).frame
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    for by in ("ad", "creative_message"):
        a = detect_fatigue(table_from_pandas(frame), by=by)
        b = detect_fatigue(table_from_pandas(shuffled), by=by)
        assert [f.model_dump() for f in a] == [f.model_dump() for f in b]
