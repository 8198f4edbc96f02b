"""User text in reports and CSVs: escaped in HTML and Markdown, neutralised in every CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from fb_analyst import schema as S
from fb_analyst.pipeline import run_pipeline
from fb_analyst.report.escape import md_escape
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x","y")'
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def hostile_export(tmp_path_factory) -> Path:
    """A generated export whose creative messages and one campaign name carry HTML and a formula;
    one row has negative spend so it lands in quarantine.csv with its raw text."""
    frame = generate_sample("cpm_spike_placement", seed=0, days=28, n_campaigns=3, scale=0.3).frame
    messages = sorted(frame[S.CREATIVE_MESSAGE].unique())
    frame.loc[frame[S.CREATIVE_MESSAGE] == messages[0], S.CREATIVE_MESSAGE] = f"Soft cotton {SCRIPT} briefs"
    frame.loc[frame[S.CREATIVE_MESSAGE] == messages[1], S.CREATIVE_MESSAGE] = FORMULA
    campaign = sorted(frame[S.CAMPAIGN].unique())[0]
    frame.loc[frame[S.CAMPAIGN] == campaign, S.CAMPAIGN] = f"{SCRIPT} Brand"
    bad = frame.iloc[[0]].copy()
    bad[S.SPEND] = -5.0
    bad[S.CREATIVE_MESSAGE] = FORMULA
    frame = pd.concat([frame, bad], ignore_index=True)
    out = tmp_path_factory.mktemp("hostile") / "hostile.csv"
    frame.to_csv(out, index=False)
    return out


@pytest.fixture(scope="module")
def hostile_run(hostile_export) -> Path:
    out = hostile_export.parent / "out"
    run_pipeline([str(hostile_export)], out, None, Settings(creative={"embedder": "tfidf"}), run_id="hostile",
                 console=Console(file=open("/dev/null", "w")),  # noqa: SIM115
                 stages=("ingest", "windows", "segments", "diagnose", "creative"))
    return out


def test_html_report_escapes_user_text(hostile_run):
    html = (hostile_run / "report.html").read_text(encoding="utf-8")
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Brand" in html  # campaign name, escaped
    assert "Soft cotton &lt;script&gt;alert(1)&lt;/script&gt; briefs" in html  # creative message, escaped
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in html or "=HYPERLINK(&quot;http://x&quot;" in html


def test_markdown_report_escapes_user_text(hostile_run):
    md = (hostile_run / "report.md").read_text(encoding="utf-8")
    assert SCRIPT not in md
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    assert "<script" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Brand" in rendered


def test_every_csv_written_is_formula_safe(hostile_run):
    csvs = list(hostile_run.rglob("*.csv"))
    assert csvs, "the run writes at least quarantine.csv"
    seen_formula_text = False
    for path in csvs:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if "HYPERLINK" in cell:
                        seen_formula_text = True
                    if cell.startswith(FORMULA_PREFIXES):
                        float(cell)  # only plain negative numbers may start with '-'
    assert seen_formula_text, "the quarantined row keeps its (neutralised) text"


@pytest.mark.parametrize(("raw", "escaped"), [
    ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
    ("a | b", "a \\| b"),
    ("[click](javascript:alert(1))", "\\[click\\]\\(javascript:alert\\(1\\)\\)"),
    ("*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`"),
    ("- not a list", "\\- not a list"),
    ("1. not a list", "1\\. not a list"),
    ("line\nbreak", "line break"),
    (None, ""),
])
def test_md_escape(raw, escaped):
    assert md_escape(raw) == escaped
