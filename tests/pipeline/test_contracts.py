"""The JSON contract: committed schemas/ match the pydantic models of every JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fb_analyst.contracts import CONTRACTS, available_schemas, export_schemas, main, stale_schemas

REPO = Path(__file__).resolve().parents[2]


def test_every_output_file_has_a_contract():
    for name in ("data_quality", "kpis", "hypotheses", "creative_clusters", "creatives", "forecast", "run",
                 "ask_trace", "drift"):
        assert name in CONTRACTS


def test_committed_schemas_match_the_models():
    """Run `make schemas` after changing an output model."""
    schemas, missing = available_schemas()
    assert schemas, missing
    assert stale_schemas(REPO / "schemas") == {}


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_each_schema_is_valid_json_schema_with_schema_version(name):
    schemas, missing = available_schemas()
    if name in missing:
        pytest.skip(f"{name} not in this build: {missing[name]}")
    schema = schemas[name]
    assert schema["type"] == "object"
    if name not in ("drift", "run_snapshot"):
        assert "schema_version" in schema["properties"], name


def test_export_and_check_round_trip(tmp_path):
    paths, _ = export_schemas(tmp_path)
    assert paths and all(p.suffix == ".json" for p in paths)
    assert main([str(tmp_path), "--check"]) == 0
    victim = paths[0]
    data = json.loads(victim.read_text())
    data["title"] = "tampered"
    victim.write_text(json.dumps(data))
    assert main([str(tmp_path), "--check"]) == 1
