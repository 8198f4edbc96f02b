"""Seeded generator of realistic Meta Ads data with planted, known effects.

``generate_sample(scenario, seed)`` returns a :class:`SampleData`: an ad-level daily frame in the
canonical columns (``fb_analyst.schema``) and a :class:`PlantedTruth` saying what changed, where,
when and how much -- the answer key for tests, benchmarks, docs and the demo. ``write_sample``
writes it as CSV or Parquet; ``expected_revenue`` reads the known spend response curves.

Modules: ``catalog`` (vocabulary and realistic levels, message templates by theme),
``structure`` (campaign -> ad set -> ad -> cell hierarchy), ``scenarios`` (what each scenario
plants, and the truth records), ``simulate`` (the vectorised funnel), ``curves`` (Hill response
curves), ``io`` (writing).
"""

from fb_analyst.sample.curves import expected_revenue
from fb_analyst.sample.io import write_sample
from fb_analyst.sample.scenarios import SCENARIOS, PlantedTruth, SampleData
from fb_analyst.sample.simulate import generate_sample

__all__ = ["SCENARIOS", "PlantedTruth", "SampleData", "expected_revenue", "generate_sample", "write_sample"]
