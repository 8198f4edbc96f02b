"""Glue between the dashboard pages and the library: data sources, filters and chart series.

* A :class:`Source` is what the user chose to analyse (uploaded files, the bundled sample, or the
  paths given on the command line), identified by the SHA-256 of its files' names and bytes.
  Uploads are written to a private temporary folder so that :func:`fb_analyst.ingest.ingest_files`
  (the only reader of user files) reads them like any other export.
* :class:`Filters` (date range, campaign, platform, country, audience) become an Ibis filter on the
  canonical table (:func:`filter_table`); the filtered table is what the pipeline analyses, so
  every page shows one consistent analysis (see :mod:`fb_analyst.dashboard.store`).
* Chart series the stage records do not carry (the theme map's 2-D projection, daily CTR by
  message age, a forecast's history) come from the library's own functions here.

Nothing here computes a KPI: ratios come from :mod:`fb_analyst.kpis` and the stage records.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import ibis
import pandas as pd

import fb_analyst
from fb_analyst import schema as S
from fb_analyst.errors import InputError

SAMPLE_FILE = "synthetic_fb_ads_undergarments.csv"
#: Dimensions the sidebar filters on, in display order (absent ones are simply not offered).
FILTER_DIMENSIONS: tuple[str, ...] = (S.CAMPAIGN, S.PLATFORM, S.COUNTRY, S.AUDIENCE_TYPE)
#: Extensions the uploader accepts (what the ingest readers understand).
UPLOAD_TYPES: tuple[str, ...] = ("csv", "tsv", "txt", "xlsx", "json", "jsonl", "ndjson", "parquet")
_MB = 1024 * 1024


class UploadTooLargeError(InputError):
    """An uploaded file is larger than ``dashboard.max_upload_mb``."""


# ---- sources -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Input files to analyse; ``key`` is the SHA-256 over their names and bytes."""

    kind: Literal["upload", "sample", "cli"]
    key: str
    label: str
    paths: tuple[str, ...]
    hidden_prefix: str | None = None  # the private upload folder, hidden from messages

    def clean(self, message: str) -> str:
        """``message`` without the private upload folder, so it names the file the user knows."""
        return message.replace(self.hidden_prefix, "") if self.hidden_prefix else message


def digest(named: Sequence[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in sorted(named, key=lambda x: x[0]):
        h.update(name.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def _file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_MB), b""):
            h.update(block)
    return h.digest()


def source_from_paths(paths: Sequence[str | Path], kind: Literal["sample", "cli"] = "cli",
                      label: str | None = None) -> Source:
    """A source of files on disk; a missing path is left for ingest to report (it names the fix)."""
    named = [(str(p), _file_digest(Path(p)) if Path(p).is_file() else b"missing") for p in paths]
    return Source(kind=kind, key=digest(named), paths=tuple(str(p) for p in paths),
                  label=label or ", ".join(Path(p).name for p in paths))


_UNSAFE = re.compile(r"[^\w.\- ]+")


def source_from_uploads(files: Sequence[tuple[str, bytes]], max_mb: int, workdir: Path) -> Source:
    """Write uploaded files under ``workdir/<key>/`` and return them as a source.

    Raises UploadTooLargeError naming the file, its size, the limit and the setting to change.
    """
    if not files:
        raise InputError("no file uploaded; upload an ads export (CSV, XLSX, JSON or Parquet)")
    for name, data in files:
        if len(data) > max_mb * _MB:
            raise UploadTooLargeError(
                f"{name}: {len(data) / _MB:,.1f} MB is over the upload limit of {max_mb} MB; "
                "export a shorter date range, or raise dashboard.max_upload_mb in the --config file"
            )
    key = digest(files)
    folder = workdir / key[:16]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (name, data) in enumerate(files):
        safe = _UNSAFE.sub("_", Path(name).name).strip() or f"upload_{i}"
        if any(Path(p).name == safe for p in paths):
            safe = f"{i}_{safe}"
        path = folder / safe
        if not path.exists():
            path.write_bytes(data)
        paths.append(str(path))
    return Source(kind="upload", key=key, paths=tuple(paths), label=", ".join(n for n, _ in files),
                  hidden_prefix=str(folder) + "/")


def new_workdir() -> Path:
    """A private temporary folder for uploads, removed when the server process exits."""
    path = Path(tempfile.mkdtemp(prefix="fb-analyst-dashboard-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def sample_path(workdir: Path) -> tuple[Path, str]:
    """The bundled reference export, and how it was found.

    In a source checkout (or editable install) it is ``data/synthetic_fb_ads_undergarments.csv``
    in the repository. A wheel does not ship the repository's ``data/``, so there the packaged
    seeded generator (:mod:`fb_analyst.sample`) writes demo data instead, and the label says so.
    """
    repo_file = Path(fb_analyst.__file__).resolve().parents[2] / "data" / SAMPLE_FILE
    if repo_file.is_file():
        return repo_file, f"bundled sample ({SAMPLE_FILE})"
    from fb_analyst.sample import generate_sample, write_sample

    scenario = "cpm_spike_placement"
    target = workdir / f"generated_{scenario}.csv"
    if not target.is_file():
        write_sample(generate_sample(scenario=scenario, seed=0), target)
    return target, f"generated demo data (scenario {scenario}; {SAMPLE_FILE} is not installed)"


# ---- filters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The sidebar selection. Empty ``values`` for a dimension means every value."""

    start: date | None = None
    end: date | None = None
    values: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def build(cls, start: date | None, end: date | None, chosen: dict[str, Sequence[str]]) -> Filters:
        vals = tuple((d, tuple(sorted(map(str, v)))) for d, v in sorted(chosen.items()) if v)
        return cls(start=start, end=end, values=vals)

    def key(self) -> str:
        return json.dumps([str(self.start), str(self.end), self.values])

    def describe(self) -> str:
        parts = []
        if self.start or self.end:
            parts.append(f"dates {self.start or '…'}..{self.end or '…'}")
        parts += [f"{d} in {{{', '.join(v)}}}" for d, v in self.values]
        return "; ".join(parts) if parts else "no filter (every row)"


@dataclass(frozen=True)
class FilterOptions:
    """What the filters can choose from: the data's date range and each dimension's values."""

    date_min: date | None
    date_max: date | None
    values: dict[str, list[str]] = field(default_factory=dict)


def filter_options(table: ibis.Table) -> FilterOptions:
    """Date range and distinct values of the filterable dimensions present in ``table``."""
    d = table[S.DATE].cast("date")
    rng = table.aggregate(lo=d.min(), hi=d.max()).to_pandas().iloc[0]
    values = {}
    for dim in FILTER_DIMENSIONS:
        if dim in table.columns:
            col = table[dim].cast("string")
            vals = table.filter(col.notnull()).select(v=col).distinct().to_pandas()["v"]
            values[dim] = sorted(str(v) for v in vals)
    as_date = (lambda x: None if pd.isna(x) else pd.Timestamp(x).date())
    return FilterOptions(date_min=as_date(rng["lo"]), date_max=as_date(rng["hi"]), values=values)


def filter_table(table: ibis.Table, filters: Filters) -> ibis.Table:
    """Rows of the canonical ``table`` inside the date range and the chosen dimension values."""
    preds = []
    if filters.start is not None:
        preds.append(table[S.DATE].cast("date") >= filters.start)
    if filters.end is not None:
        preds.append(table[S.DATE].cast("date") <= filters.end)
    for dim, vals in filters.values:
        if dim not in table.columns:
            raise InputError(f"filter on {dim!r}: the data has no such column; "
                             f"filterable here: {', '.join(d for d in FILTER_DIMENSIONS if d in table.columns)}")
        preds.append(table[dim].cast("string").isin(list(vals)))
    return table.filter(*preds) if preds else table


def row_count(table: ibis.Table) -> int:
    """Rows of a (filtered) canonical table."""
    return int(table.count().to_pyarrow().as_py())


# ---- derived views of stage results (projections and daily series for charts) -----------------


def theme_map_points(clusters: Any, settings: Any) -> pd.DataFrame:
    """Every theme member message placed by a 2-D PCA of its embedding (the stage's own embedder).

    The stage clustered slot-masked, angle-guided embeddings; this map shows the plain message
    embeddings, so themes can overlap a little here while being separate in the clustering space.
    """
    from sklearn.decomposition import PCA

    from fb_analyst.creative import get_embedder

    rows = [(m, t.id, t.label) for t in clusters.themes for m in t.members]
    frame = pd.DataFrame(rows, columns=["message", "theme", "label"])
    if len(frame) < 3:
        return frame.assign(x=0.0, y=0.0)
    vectors = get_embedder(settings).embed(frame["message"].tolist())
    xy = PCA(n_components=2, random_state=settings.seed).fit_transform(vectors)
    return frame.assign(x=xy[:, 0], y=xy[:, 1])


def fatigue_curves(table: ibis.Table, findings: pd.DataFrame, clusters: Any, max_lines: int = 8) -> tuple[pd.DataFrame, str]:
    """Daily CTR (ratio of the day's sums, :func:`fb_analyst.kpis.kpi_frame`) against age in days
    for the fatigued messages/themes first, then the largest by impressions; and the key column."""
    from fb_analyst.kpis import kpi_frame

    if findings.empty:
        return pd.DataFrame(), "key"
    level = "message" if (findings["level"] == "message").any() else "theme"
    rows = findings[findings["level"] == level].sort_values(["fatigued", "impressions"], ascending=False)
    keys = rows["key"].head(max_lines).tolist()
    if level == "message":
        t = table.filter(table[S.CREATIVE_MESSAGE].isin(keys)).mutate(key=table[S.CREATIVE_MESSAGE])
    else:
        members = pd.DataFrame([(m, th.id) for th in clusters.themes if th.id in keys for m in th.members],
                               columns=[S.CREATIVE_MESSAGE, "key"])
        t = table.inner_join(ibis.memtable(members), S.CREATIVE_MESSAGE)
    daily = kpi_frame(t, by=[S.DATE, "key"], kpis=["ctr"])[[S.DATE, "key", "ctr"]]
    daily[S.DATE] = pd.to_datetime(daily[S.DATE])
    first = daily.groupby("key")[S.DATE].transform("min")
    daily["age_days"] = (daily[S.DATE] - first).dt.days
    return daily.sort_values(["key", "age_days"]).reset_index(drop=True), "key"


def forecast_history(table: ibis.Table, daily: pd.DataFrame | None, series: Any, days: int = 56) -> pd.DataFrame:
    """The last ``days`` of the daily series a forecast continues (account or one segment)."""
    from fb_analyst.segments import segment_daily

    metric, key = series.metric, dict(series.key)
    if key == {"level": "account"}:
        frame = daily
    else:
        (dim, value), = key.items()
        frame = segment_daily(table.filter(table[dim].cast("string") == value), [dim])
    if frame is None or metric not in frame.columns:
        return pd.DataFrame(columns=["date", "value"])
    out = pd.DataFrame({"date": pd.to_datetime(frame[S.DATE]), "value": frame[metric]}).sort_values("date")
    return out.tail(days).reset_index(drop=True)
