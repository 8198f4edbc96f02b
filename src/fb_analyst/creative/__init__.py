"""Creative intelligence: message themes, fatigue, a CTR model for copy, grounded recommendations.

``analyze_creatives(table, windows, diagnosis, settings) -> CreativeResult`` with
``.clusters`` (:class:`ThemeClusters`, ``creative_clusters.json``) and ``.creatives``
(:class:`CreativeFindings`, ``creatives.json``). ``get_embedder(settings)`` is the embedding seam.

Modules: ``embed`` (embedder seam + cache), ``space`` (slot masking, angle guidance), ``themes``
(clustering, k choice, c-TF-IDF labels), ``frames`` (engine aggregation), ``performance`` (theme
KPIs, adjusted effects, FDR verdicts), ``fatigue`` (reuses the diagnosis' detector), ``model``
(CTR model + grouped CV), ``recommend`` (candidate copy, A/B sizing), ``analyze`` (the stage).
"""

from fb_analyst.creative.analyze import analyze_creatives
from fb_analyst.creative.embed import Embedder, get_embedder
from fb_analyst.creative.result import CreativeFindings, CreativeResult, ThemeClusters

__all__ = [
    "CreativeFindings",
    "CreativeResult",
    "Embedder",
    "ThemeClusters",
    "analyze_creatives",
    "get_embedder",
]
