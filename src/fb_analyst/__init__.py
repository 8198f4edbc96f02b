"""fb-analyst: a performance analyst for Meta (Facebook/Instagram) Ads exports.

Pipeline (one direction): ingest -> kpis/windows/segments -> diagnose -> creative ->
forecast/budget -> report / dashboard / ask. Each stage is a library function returning a
frozen result record; the CLI, dashboard and agent are thin shells over them.
"""

__version__ = "0.1.0"
