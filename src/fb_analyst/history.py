"""Run history and drift between consecutive runs into the same output directory.

Layout (decided here): ``DIR/`` holds the latest run's files; every successful run is also kept in
``DIR/runs/<run_id>/`` — its JSON outputs, reports and a :class:`RunSnapshot` (``snapshot.json``:
schema, category values, daily account KPIs, hypotheses). Files are hard-linked, not copied: the
next run publishes new files with ``os.replace`` (new inodes), so a kept run never changes and
costs no space while it is also the latest (a copy is made where links are not supported).
``canonical.parquet`` is not kept (it is re-derivable from the inputs, whose SHA-256 is in
``run.json``).

The next run compares its snapshot with the most recent one in ``DIR/runs`` and reports
(:class:`DriftReport`, written into ``data_quality.json``'s ``drift`` and the report):
schema changes, new/vanished values of every dimension (campaigns included), shifts of the daily
account KPIs and which supported hypotheses persisted, appeared or resolved.

KPI shift test: daily values are few (weeks of days), and PSI on few points is biased upward
(its null expectation is about (bins-1)(1/n1+1/n2)), so PSI alone would flag noise. A KPI is
``shifted`` when a two-sample Kolmogorov-Smirnov test rejects equality at ``alpha`` *and* the PSI
reaches ``psi_moderate``; PSI (quantile bins of the previous run) is reported as the effect size.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fb_analyst import schema as S
from fb_analyst.logs import get_logger
from fb_analyst.outputs import write_json

log = get_logger(__name__)

SCHEMA_VERSION = "1.0"
RUNS_DIR = "runs"
SNAPSHOT_FILE = "snapshot.json"
#: Files of a run that are not kept per run (large and re-derivable from the hashed inputs).
NOT_KEPT = frozenset({"canonical.parquet"})
#: Daily account KPIs compared between runs.
DRIFT_KPIS = ("ctr", "cpm", "cvr", "aov", "roas", "spend")


class DriftThresholds(BaseModel):
    """Thresholds of the drift report (named, documented; pass another instance to override)."""

    model_config = ConfigDict(frozen=True)

    alpha: float = Field(0.01, description="KS-test level below which a KPI distribution differs.")
    psi_moderate: float = Field(0.10, description="PSI from which a shift counts as practically relevant.")
    psi_major: float = Field(0.25, description="PSI from which a shift is called major.")
    max_bins: int = Field(10, description="Maximum quantile bins for PSI.")
    min_days: int = Field(7, description="Fewer daily values in either run: the KPI is not compared.")
    max_categories: int = Field(5000, description="Values kept per dimension in a snapshot.")
    max_listed: int = Field(50, description="New/vanished values listed per dimension in the report.")


class HypothesisRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    key: str = Field(description="metric|direction|segment: identity of a finding across runs.")
    title: str
    status: str


class RunSnapshot(BaseModel):
    """What the next run needs to compute drift (``runs/<run_id>/snapshot.json``)."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    run_id: str
    created_at: str
    columns: dict[str, str]
    categories: dict[str, list[str]]
    truncated: list[str] = Field(default_factory=list, description="Dimensions with more values than kept.")
    dates: list[str]
    daily: dict[str, list[float | None]]
    hypotheses: list[HypothesisRef]


class ColumnTypeChange(BaseModel):
    column: str
    previous: str
    current: str


class SchemaDrift(BaseModel):
    added: list[str]
    removed: list[str]
    type_changed: list[ColumnTypeChange]


class CategoryDrift(BaseModel):
    dimension: str
    new: list[str]
    vanished: list[str]
    n_new: int
    n_vanished: int
    n_previous: int
    n_current: int


class KpiShift(BaseModel):
    kpi: str
    status: Literal["stable", "shifted", "not_compared"]
    psi: float | None
    ks_p_value: float | None
    previous_median: float | None
    current_median: float | None
    n_previous: int
    n_current: int
    reason: str


class HypothesisDrift(BaseModel):
    persisted: list[HypothesisRef] = Field(description="Supported in both runs (current ids).")
    appeared: list[HypothesisRef] = Field(description="Supported now, not before.")
    resolved: list[HypothesisRef] = Field(description="Supported before, not now (previous ids).")


class DriftReport(BaseModel):
    """Drift of this run against the previous one in the same output directory."""

    schema_version: str = SCHEMA_VERSION
    previous_run_id: str
    previous_created_at: str
    current_run_id: str
    method: str
    schema_changes: SchemaDrift
    categories: list[CategoryDrift]
    kpis: list[KpiShift]
    hypotheses: HypothesisDrift
    summary: list[str]


def hypothesis_key(h: Any) -> str:
    get = (lambda k: h.get(k)) if isinstance(h, dict) else (lambda k: getattr(h, k, None))
    seg = get("segment") or {}
    seg_txt = "&".join(f"{k}={v}" for k, v in sorted(seg.items()))
    return f"{get('metric')}|{get('direction')}|{seg_txt}"


def snapshot_run(run_id: str, table: Any, daily: Any, diagnosis: Any,
                 thresholds: DriftThresholds | None = None) -> RunSnapshot:
    """Snapshot the facts drift needs from a finished analysis (a few small engine queries)."""
    th = thresholds or DriftThresholds()
    columns = {name: str(dtype) for name, dtype in table.schema().items()}
    categories, truncated = _category_values(table, S.present_dimensions(list(columns)), th.max_categories)
    dates: list[str] = []
    series: dict[str, list[float | None]] = {}
    if daily is not None and len(daily):
        dates = [str(d) for d in daily[S.DATE]]
        for kpi in DRIFT_KPIS:
            if kpi in daily.columns:
                series[kpi] = [None if not np.isfinite(v) else float(v) for v in daily[kpi].astype(float)]
    hyps = [] if diagnosis is None else list(getattr(diagnosis, "hypotheses", []) or [])
    refs = [HypothesisRef(id=str(h.id), key=hypothesis_key(h), title=str(h.title), status=str(h.status))
            for h in hyps]
    return RunSnapshot(run_id=run_id, created_at=datetime.now(timezone.utc).isoformat(), columns=columns,
                       categories=categories, truncated=truncated, dates=dates, daily=series, hypotheses=refs)


def _category_values(table: Any, dims: list[str], keep: int) -> tuple[dict[str, list[str]], list[str]]:
    """Up to ``keep`` distinct non-null values of every dimension (sorted), and the dimensions
    that have more.

    One query for all dimensions: a query per dimension cost ~50 ms each of Ibis compilation alone,
    about 0.5 s of the report step on the sample. At most ``keep + 1`` values per dimension reach
    Python. A truncated dimension keeps some ``keep`` of its values, as ``DISTINCT ... LIMIT`` did
    (ordering inside the aggregate would pin which, but the pyspark backend cannot compile it)."""
    if not dims:
        return {}, []
    lists = {d: table[d].collect(distinct=True)[: keep + 1] for d in dims}
    row = table.aggregate(**lists).to_pyarrow().to_pylist()[0]
    categories = {d: sorted(str(v) for v in row[d] or [])[:keep] for d in dims}
    return categories, [d for d in dims if len(row[d] or []) > keep]


def psi(previous: np.ndarray, current: np.ndarray, max_bins: int = 10) -> float:
    """Population stability index of ``current`` against quantile bins of ``previous``."""
    bins = int(max(2, min(max_bins, len(previous) // 5)))
    edges = np.unique(np.quantile(previous, np.linspace(0, 1, bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, previous, side="right"), minlength=len(edges) + 1)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    # Add-half smoothing keeps empty bins finite without dominating the index.
    p = (p + 0.5) / (p.sum() + 0.5 * len(p))
    c = (c + 0.5) / (c.sum() + 0.5 * len(c))
    return float(np.sum((c - p) * np.log(c / p)))


def _kpi_shift(kpi: str, prev: list[float | None], cur: list[float | None], th: DriftThresholds) -> KpiShift:
    a = np.array([v for v in prev if v is not None], dtype=float)
    b = np.array([v for v in cur if v is not None], dtype=float)
    base = dict(kpi=kpi, n_previous=len(a), n_current=len(b),
                previous_median=float(np.median(a)) if len(a) else None,
                current_median=float(np.median(b)) if len(b) else None)
    if len(a) < th.min_days or len(b) < th.min_days:
        return KpiShift(status="not_compared", psi=None, ks_p_value=None,
                        reason=f"fewer than {th.min_days} defined daily values in a run", **base)
    from scipy import stats  # here, not at the top: ``run`` imports this module on every path

    index = psi(a, b, th.max_bins)
    p_value = float(stats.ks_2samp(a, b).pvalue)
    shifted = p_value < th.alpha and index >= th.psi_moderate
    size = "major" if index >= th.psi_major else "moderate" if index >= th.psi_moderate else "small"
    reason = (f"KS p={p_value:.2g} {'<' if p_value < th.alpha else '>='} {th.alpha}; PSI {index:.3f} ({size})")
    return KpiShift(status="shifted" if shifted else "stable", psi=index, ks_p_value=p_value,
                    reason=reason, **base)


def compare_runs(previous: RunSnapshot, current: RunSnapshot,
                 thresholds: DriftThresholds | None = None) -> DriftReport:
    """Drift of ``current`` against ``previous`` (see the module docstring)."""
    th = thresholds or DriftThresholds()
    pc, cc = previous.columns, current.columns
    schema = SchemaDrift(
        added=sorted(set(cc) - set(pc)), removed=sorted(set(pc) - set(cc)),
        type_changed=[ColumnTypeChange(column=c, previous=pc[c], current=cc[c])
                      for c in sorted(set(pc) & set(cc)) if pc[c] != cc[c]],
    )
    cats = []
    for dim in [d for d in S.DIMENSIONS if d in previous.categories and d in current.categories]:
        old, new = set(previous.categories[dim]), set(current.categories[dim])
        added, gone = sorted(new - old), sorted(old - new)
        cats.append(CategoryDrift(dimension=dim, new=added[: th.max_listed], vanished=gone[: th.max_listed],
                                  n_new=len(added), n_vanished=len(gone), n_previous=len(old), n_current=len(new)))
    kpis = [_kpi_shift(k, previous.daily[k], current.daily[k], th)
            for k in DRIFT_KPIS if k in previous.daily and k in current.daily]
    was = {h.key: h for h in previous.hypotheses if h.status == "supported"}
    now = {h.key: h for h in current.hypotheses if h.status == "supported"}
    hyps = HypothesisDrift(persisted=[now[k] for k in now if k in was], appeared=[now[k] for k in now if k not in was],
                           resolved=[was[k] for k in was if k not in now])
    summary = [f"schema: +{', '.join(schema.added)}" if schema.added else "",
               f"schema: -{', '.join(schema.removed)}" if schema.removed else "",
               *(f"{c.dimension}: {c.n_new} new ({', '.join(c.new[:5])}), {c.n_vanished} vanished"
                 f"{' (' + ', '.join(c.vanished[:5]) + ')' if c.vanished else ''}"
                 for c in cats if c.n_new or c.n_vanished),
               *(f"{k.kpi.upper()} daily distribution shifted (median {k.previous_median:.4g} -> "
                 f"{k.current_median:.4g}; {k.reason})" for k in kpis if k.status == "shifted"),
               f"hypotheses: {len(hyps.persisted)} persisted, {len(hyps.appeared)} appeared, "
               f"{len(hyps.resolved)} resolved"]
    return DriftReport(previous_run_id=previous.run_id, previous_created_at=previous.created_at,
                       current_run_id=current.run_id,
                       method=f"KS two-sample test (alpha {th.alpha}) and PSI >= {th.psi_moderate} on daily "
                              "account KPIs; set differences of dimension values; hypothesis identity = "
                              "metric|direction|segment",
                       schema_changes=schema, categories=cats, kpis=kpis, hypotheses=hyps,
                       summary=[s for s in summary if s])


def load_previous_snapshot(out_dir: str | Path) -> RunSnapshot | None:
    """The most recent readable snapshot in ``out_dir/runs`` (None for a first run)."""
    runs = Path(out_dir) / RUNS_DIR
    found: list[RunSnapshot] = []
    for path in runs.glob(f"*/{SNAPSHOT_FILE}") if runs.is_dir() else []:
        try:
            found.append(RunSnapshot.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError) as exc:
            log.warning("unreadable_run_snapshot", path=str(path), error=str(exc))
    return max(found, key=lambda s: s.created_at) if found else None


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not supported: a real copy
        shutil.copy2(src, dst)


def keep_run(out_dir: str | Path, snapshot: RunSnapshot) -> Path:
    """Copy the just-published top-level outputs and the snapshot into ``out_dir/runs/<run_id>``.

    Written into a temporary folder and renamed, so a half-written run never appears in history.
    """
    out = Path(out_dir)
    runs = out / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=runs))
    try:
        for item in sorted(out.iterdir()):
            if item.is_file() and not item.name.startswith(".") and item.name not in NOT_KEPT \
                    and item.name != "logs.jsonl":
                _link_or_copy(item, tmp / item.name)
        write_json(snapshot, tmp / SNAPSHOT_FILE)
        target = runs / snapshot.run_id
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def run_ids(out_dir: str | Path) -> list[str]:
    """Kept runs, oldest first."""
    snaps = []
    for path in (Path(out_dir) / RUNS_DIR).glob(f"*/{SNAPSHOT_FILE}"):
        try:
            snaps.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return [s["run_id"] for s in sorted(snaps, key=lambda s: s.get("created_at", ""))]
