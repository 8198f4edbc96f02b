"""The seeded generator: determinism, validity, planted effects visible (and absent), I/O, CLI."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fb_analyst import schema as S
from fb_analyst.cli import app
from fb_analyst.errors import InputError, UnknownNameError
from fb_analyst.kpis import KPIS, safe_ratio
from fb_analyst.sample import SCENARIOS, PlantedTruth, expected_revenue, generate_sample, write_sample

SEEDS = (0, 1, 2)
DIMS = (S.ACCOUNT, S.CAMPAIGN, S.ADSET, S.AD, S.CREATIVE_MESSAGE, S.CREATIVE_TYPE, S.AUDIENCE_TYPE,
        S.PLATFORM, S.PLACEMENT, S.COUNTRY, S.AGE, S.GENDER)


def kpi(frame: pd.DataFrame, name: str) -> float:
    """A KPI as ratio of sums, with the registry's formula."""
    k = KPIS[name]
    if not k.is_ratio:
        return float(frame[k.numerator].sum())
    value = safe_ratio(frame[k.numerator].sum(), frame[k.denominator].sum(), k.scale)
    assert value is not None
    return value


def windows(data) -> tuple[pd.DataFrame, pd.DataFrame]:  # noqa: ANN001
    """(baseline rows, current rows) of the truth's default windows."""
    f, t = data.frame, data.truth
    day = f[S.DATE].dt.date
    return (f[(day >= t.baseline[0]) & (day <= t.baseline[1])],
            f[(day >= t.current[0]) & (day <= t.current[1])])


def change(base: pd.DataFrame, cur: pd.DataFrame, metric: str) -> float:
    return kpi(cur, metric) / kpi(base, metric) - 1.0


@pytest.fixture(scope="module")
def no_change_sample():
    return generate_sample("no_change", seed=0)


def test_same_seed_gives_identical_data():
    a, b = generate_sample("two_causes", seed=7), generate_sample("two_causes", seed=7)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.truth == b.truth


def test_different_seeds_differ():
    a, b = generate_sample(seed=0).frame, generate_sample(seed=1).frame
    assert len(a) != len(b) or not a[S.SPEND].equals(b[S.SPEND])


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_scenario_is_valid_canonical_data(scenario):
    data = generate_sample(scenario, seed=3)
    f, t = data.frame, data.truth
    assert list(f.columns) == [S.DATE, *DIMS, *S.MEASURES, S.CURRENCY]
    assert 15_000 <= len(f) <= 40_000
    assert f[S.DATE].nunique() == 56 and pd.api.types.is_datetime64_any_dtype(f[S.DATE])
    assert (f[S.CURRENCY] == "USD").all() and not f.isna().any().any()
    for col in S.COUNT_MEASURES:
        assert pd.api.types.is_integer_dtype(f[col]), col
    assert (f[list(S.MEASURES)] >= 0).all().all()
    assert (f[S.CLICKS] <= f[S.IMPRESSIONS]).all() and (f[S.PURCHASES] <= f[S.CLICKS]).all()
    assert (f.loc[f[S.PURCHASES] == 0, S.REVENUE] == 0).all()
    assert (f.loc[f[S.PURCHASES] > 0, S.REVENUE] > 0).all()
    # Dimensions vary across rows: several placements, countries, audiences...
    for dim in (S.PLACEMENT, S.COUNTRY, S.AUDIENCE_TYPE, S.PLATFORM, S.CREATIVE_TYPE, S.AGE):
        assert f[dim].nunique() >= 2, dim
    assert 0.005 <= kpi(f, "ctr") <= 0.025
    assert 5 <= kpi(f, "cpm") <= 20
    assert 0.01 <= kpi(f, "cvr") <= 0.05 or scenario == "tracking_outage"
    assert 30 <= kpi(f, "aov") <= 80
    assert 1.0 <= kpi(f, "roas") <= 4.0
    assert isinstance(t, PlantedTruth) and t.scenario == scenario and t.description == SCENARIOS[scenario]
    assert t.current == (dt.date(2025, 4, 21), dt.date(2025, 4, 27))
    assert t.baseline == (dt.date(2025, 4, 14), dt.date(2025, 4, 20))
    assert set(t.extra["message_theme"]) >= set(f[S.CREATIVE_MESSAGE].unique())
    assert t.extra["losing_theme"] in t.extra["themes"]
    assert set(t.extra["response_curves"]) == set(f[S.CAMPAIGN].unique())
    for cause in t.causes:
        assert set(cause) == {"metric", "direction", "segment", "size"} and cause["metric"] in KPIS


SEGMENT_SCENARIOS = ["ctr_fatigue", "cpm_spike_placement", "cvr_drop_audience", "aov_drop_country",
                     "two_causes", "improvement"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scenario", SEGMENT_SCENARIOS)
def test_planted_segment_effect_is_visible_in_ratio_of_sums(scenario, seed):
    data = generate_sample(scenario, seed=seed)
    base, cur = windows(data)
    t = data.truth
    assert t.metric == t.causes[0]["metric"] and t.segment == t.causes[0]["segment"]
    assert t.direction == t.causes[0]["direction"] and t.onset is not None
    for cause in t.causes:
        (dim, value), = cause["segment"].items()
        seg = change(base[base[dim] == value], cur[cur[dim] == value], cause["metric"])
        rest = change(base[base[dim] != value], cur[cur[dim] != value], cause["metric"])
        assert np.sign(seg) == (1 if cause["direction"] == "up" else -1)
        assert 0.5 * abs(cause["size"]) <= abs(seg) <= 1.6 * abs(cause["size"]), (cause, seg)
        assert abs(seg - rest) >= 0.5 * abs(cause["size"]), (cause, seg, rest)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_change_has_no_effect_beyond_noise(seed):
    data = generate_sample("no_change", seed=seed)
    base, cur = windows(data)
    assert data.truth.metric is None and data.truth.causes == [] and data.truth.onset is None
    for metric in ("ctr", "cpm", "cvr", "aov"):
        assert abs(change(base, cur, metric)) < 0.10, metric
    total = cur[S.SPEND].sum()
    for dim in (S.PLACEMENT, S.AUDIENCE_TYPE, S.COUNTRY):
        for value, seg in cur.groupby(dim):
            if seg[S.SPEND].sum() < 0.15 * total:
                continue
            for metric in ("ctr", "cpm", "cvr", "aov"):
                assert abs(change(base[base[dim] == value], seg, metric)) < 0.2, (dim, value, metric)


def test_fatigue_is_a_decay_from_the_onset():
    data = generate_sample("ctr_fatigue", seed=1)
    f, t = data.frame, data.truth
    fatigued = f[S.AD].isin(t.extra["fatigued_ads"])
    assert t.segment == {"ad": t.extra["fatigued_ads"][0]} and len(t.causes) == 3
    assert t.baseline[0] < t.onset < t.current[0]
    daily = f.assign(fat=fatigued).groupby([S.DATE, "fat"])[[S.CLICKS, S.IMPRESSIONS]].sum()
    ctr = (daily[S.CLICKS] / daily[S.IMPRESSIONS]).unstack()
    relative = ctr[True] / ctr[False]  # fatigued vs the rest: removes shared day shocks
    before = relative[relative.index.date < t.onset]
    last = relative.iloc[-4:]
    assert last.mean() < 0.75 * before.mean()
    after = relative[relative.index.date >= t.onset]
    slope = np.polyfit(np.arange(len(after)), np.log(after.to_numpy()), 1)[0]
    assert slope < -0.02


def test_mix_shift_is_mix_not_rate():
    data = generate_sample("mix_shift", seed=0)
    base, cur = windows(data)
    t = data.truth
    assert t.metric is None and t.extra["mix_dimension"] == S.AUDIENCE_TYPE
    dim = t.extra["mix_dimension"]
    share = lambda w: w.groupby(dim)[S.SPEND].sum() / w[S.SPEND].sum()  # noqa: E731
    assert share(cur)["Retargeting"] < 0.6 * share(base)["Retargeting"]
    roas_base = base.groupby(dim)[S.REVENUE].sum() / base.groupby(dim)[S.SPEND].sum()
    mix_only = (share(cur) * roas_base).sum() / kpi(base, "roas") - 1.0
    total = change(base, cur, "roas")
    assert total < -0.08 and mix_only < -0.08
    assert abs(total - mix_only) < 0.5 * abs(mix_only)  # the rate part is the smaller part


@pytest.mark.parametrize("seed", SEEDS)
def test_simpson_every_segment_improves_while_account_falls(seed):
    data = generate_sample("simpson", seed=seed)
    base, cur = windows(data)
    t = data.truth
    assert (t.metric, t.direction, t.extra["account_direction"]) == ("cvr", "up", "down")
    dim = t.extra["dimension"]
    for value in base[dim].unique():
        assert change(base[base[dim] == value], cur[cur[dim] == value], "cvr") > 0, value
    assert change(base, cur, "cvr") < -0.03 and change(base, cur, "roas") < -0.05


def test_tracking_outage_collapses_purchases_not_clicks():
    data = generate_sample("tracking_outage", seed=2)
    daily = data.frame.groupby(data.frame[S.DATE].dt.date)[[S.CLICKS, S.PURCHASES, S.REVENUE]].sum()
    out = data.truth.extra["outage_days"]
    assert 1 <= len(out) <= 3 and all(data.truth.current[0] <= d <= data.truth.current[1] for d in out)
    normal = daily.drop(index=out)
    cvr = daily[S.PURCHASES] / daily[S.CLICKS]
    assert (cvr[out] < 0.1 * cvr.drop(index=out).median()).all()
    assert (daily.loc[out, S.CLICKS] > 0.6 * normal[S.CLICKS].median()).all()
    assert (daily.loc[out, S.REVENUE] < 0.1 * normal[S.REVENUE].median()).all()


def test_trend_weekly_has_trend_and_weekday_pattern():
    data = generate_sample("trend_weekly", seed=0)
    f = data.frame
    daily = f.groupby(S.DATE)[[S.SPEND, S.REVENUE, S.CLICKS, S.PURCHASES]].sum()
    slope = np.polyfit(np.arange(len(daily)), np.log(daily[S.SPEND].to_numpy()), 1)[0]
    assert slope > 0.005 and data.truth.onset is None and data.truth.direction == "up"
    cvr = daily[S.PURCHASES] / daily[S.CLICKS]
    detrended = cvr / cvr.rolling(7, center=True, min_periods=4).mean()
    by_weekday = detrended.groupby(daily.index.weekday).mean()
    assert by_weekday.max() / by_weekday.min() > 1.15


def test_day_level_ctr_is_overdispersed(no_change_sample):
    daily = no_change_sample.frame.groupby(S.DATE)[[S.CLICKS, S.IMPRESSIONS]].sum()
    p = daily[S.CLICKS] / daily[S.IMPRESSIONS]
    binomial_var = (p * (1 - p) / daily[S.IMPRESSIONS]).mean()
    assert p.var() > 10 * binomial_var


def test_losing_theme_has_lower_ctr(no_change_sample):
    f, t = no_change_sample.frame, no_change_sample.truth
    theme = f[S.CREATIVE_MESSAGE].map(t.extra["message_theme"])
    losing = theme == t.extra["losing_theme"]
    assert theme.nunique() == 6 and losing.any()
    assert kpi(f[losing], "ctr") < 0.9 * kpi(f[~losing], "ctr")


def test_revenue_follows_the_known_response_curves(no_change_sample):
    f, t = no_change_sample.frame, no_change_sample.truth
    daily = f.groupby([S.CAMPAIGN, S.DATE])[[S.SPEND, S.REVENUE]].sum().reset_index()
    daily["expected"] = [expected_revenue(t, c, s) for c, s in zip(daily[S.CAMPAIGN], daily[S.SPEND])]
    for campaign, g in daily.groupby(S.CAMPAIGN):
        assert 0.85 < g[S.REVENUE].sum() / g["expected"].sum() < 1.15, campaign
        assert g[S.SPEND].max() / g[S.SPEND].min() > 1.8  # budgets vary: the curve is identifiable
    curve = t.extra["response_curves"]
    name, p = next(iter(curve.items()))
    b = p["base_budget"]
    assert expected_revenue(t, name, b) == pytest.approx(p["roas_at_base"] * b)
    assert expected_revenue(t, name, 2 * b) / (2 * b) < expected_revenue(t, name, b) / b  # diminishing
    with pytest.raises(UnknownNameError):
        expected_revenue(t, "nope", 100.0)


def test_unknown_scenario_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        generate_sample("nope")
    assert err.value.valid == list(SCENARIOS) and "cpm_spike_placement" in str(err.value)


def test_scale_multiplies_rows_and_categorical_keeps_values():
    small, big = generate_sample(seed=0, scale=0.5), generate_sample(seed=0, scale=3.0)
    assert 2.0 < len(big.frame) / len(generate_sample(seed=0).frame) < 4.5 and len(small.frame) > 1000
    cat = generate_sample(seed=0, categorical=True).frame
    assert isinstance(cat[S.PLACEMENT].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(cat.astype({d: object for d in DIMS + (S.CURRENCY,)}),
                                  generate_sample(seed=0).frame)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_sample_round_trip(tmp_path, no_change_sample, suffix):
    path = write_sample(no_change_sample, tmp_path / f"sub/x{suffix}")
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    expected = no_change_sample.frame
    assert list(back.columns) == list(expected.columns) and len(back) == len(expected)
    assert (pd.to_datetime(back[S.DATE]) == expected[S.DATE]).all()
    for col in S.MEASURES:
        np.testing.assert_allclose(back[col].to_numpy(), expected[col].to_numpy())
    for col in DIMS:
        assert (back[col].astype(str) == expected[col]).all(), col


def test_write_sample_rejects_unknown_suffix(tmp_path, no_change_sample):
    with pytest.raises(InputError, match=r"\.xlsx"):
        write_sample(no_change_sample, tmp_path / "x.xlsx")


def test_cli_sample_writes_file(tmp_path):
    out = tmp_path / "x.csv"
    result = CliRunner().invoke(app, ["sample", "--out", str(out), "--scenario", "cpm_spike_placement"])
    assert result.exit_code == 0, result.output
    assert out.exists() and len(pd.read_csv(out)) > 10_000


def test_cli_unknown_scenario_exits_2_with_the_list(tmp_path):
    result = CliRunner().invoke(app, ["sample", "--out", str(tmp_path / "x.csv"), "--scenario", "nope"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "unknown scenario 'nope'" in message
    assert all(name in message for name in SCENARIOS)
    assert not (tmp_path / "x.csv").exists()
