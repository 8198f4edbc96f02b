"""Meta Marketing API Insights JSON: ``{"data": [...]}`` pages, a plain array, or JSON lines.

Numbers arrive as strings; purchases and revenue live in the ``actions`` / ``action_values``
arrays, where the same purchases are often listed under several action types (``purchase``,
``omni_purchase``, ``offsite_conversion.fb_pixel_purchase``). Each row counts the first type
present in ``settings.ingest.purchase_action_types`` (once) and records which it used
(``_action_type``). Meta omits zero-valued actions, so a row without any purchase action has 0
purchases and 0 purchase value (reported as ``blank_results_are_zero``).

DuckDB SQL (``read_json``, ``unnest``, ``list_filter``) builds the flat view: Ibis has no
reader option for the ``data`` wrapper and no lambda over lists of structs that compiles here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fb_analyst.errors import EmptyInputError, InputError

ACTION_LISTS = {"actions": "purchases", "action_values": "revenue"}
ROAS_LISTS = ("purchase_roas", "website_purchase_roas")
DEFAULT_TYPES = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase",
                 "onsite_web_purchase", "onsite_web_app_purchase", "web_in_store_purchase")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _describe(con: Any, query: str) -> dict[str, str]:
    rows = con.con.execute(f"DESCRIBE {query}").fetchall()
    return {r[0]: r[1] for r in rows}


def _pick(list_col: str, types: tuple[str, ...]) -> tuple[str, str]:
    """SQL for (value of the first preferred action type present, that type's name)."""
    value_parts, type_parts = [], []
    for t in types:
        hit = f"list_filter({list_col}, lambda a: a.action_type = {_q(t)})"
        value_parts.append(f"CAST({hit}[1].value AS VARCHAR)")
        type_parts.append(f"WHEN len({hit}) > 0 THEN {_q(t)}")
    return f"coalesce({', '.join(value_parts)})", f"CASE {' '.join(type_parts)} END"


def read_api_json(path: Path, con: Any, name: str, types: tuple[str, ...] = DEFAULT_TYPES) -> Any:
    """Expose an Insights JSON file as a flat lazy view (one column per scalar field)."""
    from fb_analyst.ingest.readers import RawSource

    base = f"read_json({_q(str(path))}, format='auto', sample_size=-1, maximum_object_size=1073741824)"
    try:
        cols = _describe(con, f"SELECT * FROM {base}")
        if "data" in cols and cols["data"].startswith("STRUCT") and cols["data"].endswith("[]"):
            base = f"(SELECT unnest(rec) FROM (SELECT unnest(data) AS rec FROM {base}))"
            cols = _describe(con, f"SELECT * FROM {base}")
    except Exception as exc:  # duckdb raises several error classes for unreadable JSON
        first = str(exc).strip().splitlines()[0][:160]
        raise InputError(
            f"{path}: not readable as Marketing API JSON ({first}); export the insights again as JSON"
        ) from None
    scalars = [c for c, t in cols.items() if not (t.endswith("]") or t.startswith(("STRUCT", "MAP")))]
    if not scalars:
        raise EmptyInputError(f"{path}: JSON holds no insight records; export the insights again with at least one row")
    select = [f'"{c}"' for c in scalars]
    action_type_sql = "NULL"
    for list_col, target in ACTION_LISTS.items():
        if list_col in cols and target not in cols:
            value, kind = _pick(list_col, types)
            select.append(f"coalesce({value}, '0') AS {target}")  # Meta omits zero actions
            if list_col == "actions":
                action_type_sql = kind
    for list_col in ROAS_LISTS:
        if list_col in cols and "roas" not in cols:
            value, _kind = _pick(list_col, types)
            select.append(f"{value} AS roas")
            break
    select.append(f"{action_type_sql} AS _action_type")
    con.raw_sql(
        f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT {", ".join(select)}, '
        f"row_number() OVER () AS source_row FROM {base}"
    )
    return RawSource(path, "json", con.table(name), notes={"action_lists": [c for c in ACTION_LISTS if c in cols]})
