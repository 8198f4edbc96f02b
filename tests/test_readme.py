"""Every command the README shows is a real surface: make targets exist, CLI commands and their
options exist, and the documented flow (sample -> ingest -> ask) runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fb_analyst.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
FENCES = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
LINES = [line.split("#")[0].strip() for block in FENCES for line in block.splitlines()]
CLI_LINES = [line for line in LINES if line.startswith("fb-analyst ")]
MAKE_LINES = [line for line in LINES if line.startswith("make ")]


def test_readme_shows_the_two_commands_first():
    assert MAKE_LINES[:2] == ["make demo", "make test"]


@pytest.mark.parametrize("line", MAKE_LINES)
def test_make_targets_exist(line):
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    target = line.split()[1]
    assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), target


@pytest.mark.parametrize("line", CLI_LINES, ids=[line.split()[1] for line in CLI_LINES])
def test_cli_command_and_options_exist(line):
    words = line.split()
    command = words[1]
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for option in re.findall(r"--[a-z][a-z-]*", line):
        assert option in result.output, f"{option} of `{command}` is in the README but not in --help"


def test_documented_flow_runs(tmp_path):
    """`fb-analyst sample`, `ingest` and `ask` as the README shows them."""
    runner = CliRunner()
    data = tmp_path / "ads.csv"
    out = tmp_path / "out"
    steps = [
        f"sample --out {data} --scenario cpm_spike_placement",
        f"ingest {data} --out {out}",
        f"ask {shlex.quote('why did ROAS drop last week?')} {data} --out {out}",
    ]
    for step in steps:
        result = runner.invoke(app, shlex.split(step), terminal_width=200)
        assert result.exit_code == 0, f"{step}: {result.output}"
    assert (out / "data_quality.json").is_file() and (out / "ask_trace.json").is_file()
    assert "answer" in result.output
