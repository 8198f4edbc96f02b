"""Atomic output directories and safe writers (the only place besides report/ that writes files).

A run writes everything into a private staging folder inside the output directory; only when every
stage succeeded are the files moved over the previous ones (``os.replace`` per file, same
filesystem). A failed run therefore leaves the previous outputs untouched.

CSV cells that a spreadsheet would execute (starting with ``= + - @`` or tab/CR) are neutralised
with a leading apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # imported by write_csv only: ``run`` imports this module before pandas
    import pandas as pd

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_csv_cell(value: Any) -> Any:
    """Prefix a string that a spreadsheet would treat as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        # A plain negative number is data, not a formula.
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV with every text cell neutralised against formula injection."""
    import pandas as pd

    path = Path(path)
    safe = df.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(neutralise_csv_cell)
    safe.to_csv(path, index=False)
    return path


def write_json(obj: BaseModel | dict[str, Any] | list[Any], path: str | Path) -> Path:
    """Write a pydantic model or plain JSON-able object (strict JSON: no NaN/inf)."""
    path = Path(path)
    if isinstance(obj, BaseModel):
        text = obj.model_dump_json(indent=2)
    else:
        text = json.dumps(obj, indent=2, allow_nan=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    return path


@contextmanager
def atomic_output_dir(out_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder; on success move its contents into ``out_dir``, on failure discard it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        for item in sorted(staging.iterdir()):
            target = out / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
