"""Structured JSON-lines logging with a run id (structlog). Configured by the CLI, never at import."""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import structlog


def new_run_id() -> str:
    """A short unique id for one invocation; appears on every log line and in run.json."""
    return uuid.uuid4().hex[:12]


def configure_logging(run_id: str, log_file: str | Path | None = None, level: str = "INFO") -> None:
    """Send JSON lines (with ``run_id``) to ``log_file`` (or stderr when None)."""
    stream: Any
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_file, "a", encoding="utf-8")  # noqa: SIM115 - lives for the process
    else:
        stream = sys.stderr
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), 20)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
