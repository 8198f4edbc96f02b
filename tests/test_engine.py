"""engine: DuckDB settings for one block of work, and the run's memory limit."""

from __future__ import annotations

from fb_analyst.engine import connect, duckdb_settings, limit_memory


def _setting(con, name: str) -> str:
    return con.raw_sql(f"SELECT current_setting('{name}')").fetchall()[0][0]


def test_duckdb_settings_apply_inside_the_block_and_restore_the_exact_limit_after():
    con = connect()
    limit_memory(con, "2GB")
    shown = _setting(con, "memory_limit")
    for _ in range(3):  # DuckDB displays sizes rounded down: restoring its display would shrink the limit
        with duckdb_settings(con, memory_limit="1GB", preserve_insertion_order=False, threads=None):
            assert _setting(con, "memory_limit") != shown
            assert _setting(con, "preserve_insertion_order") is False
        assert _setting(con, "memory_limit") == shown
        assert _setting(con, "preserve_insertion_order") is True


def test_duckdb_settings_restore_after_an_error_and_leave_none_alone():
    con = connect()
    threads = _setting(con, "threads")
    try:
        with duckdb_settings(con, preserve_insertion_order=False, threads=None):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert _setting(con, "preserve_insertion_order") is True and _setting(con, "threads") == threads


def test_limit_memory_none_keeps_the_default():
    con = connect()
    before = _setting(con, "memory_limit")
    limit_memory(con, None)
    assert _setting(con, "memory_limit") == before
    limit_memory(con, "512MB")
    assert _setting(con, "memory_limit") != before
