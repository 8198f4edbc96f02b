"""Command-line shell (Typer + Rich). Parses, calls one library function, renders, maps errors to exit codes.

Exit codes: 0 ok; 2 bad input or usage (one clear line on stderr, no traceback); 1 internal error
(traceback in the log file, a short message on stderr).
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from fb_analyst.errors import FbAnalystError, InputError

app = typer.Typer(
    name="fb-analyst",
    help="Analyse Meta (Facebook/Instagram) Ads exports: KPIs, diagnosis, creatives, forecasts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

OutOpt = Annotated[Path, typer.Option("--out", help="Output directory.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="YAML settings file.")]
InputsArg = Annotated[list[str], typer.Argument(help="Input files or globs (CSV, TSV, XLSX, JSON, Parquet).")]


def _setup(config: Path | None, out: Path | None) -> tuple[object, str]:
    from fb_analyst.logs import configure_logging, new_run_id
    from fb_analyst.settings import load_settings

    settings = load_settings(config)
    run_id = new_run_id()
    log_file = (out / "logs.jsonl") if out is not None else None
    configure_logging(run_id, log_file, settings.log_level)
    return settings, run_id


def _guard(fn, out: Path | None = None) -> None:  # noqa: ANN001
    """Run ``fn`` mapping domain errors to exit codes; internal errors log their traceback."""
    try:
        fn()
    except FbAnalystError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        if exc.exit_code != 2:
            _log_traceback(out)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # the CLI is the one place that turns any failure into an exit code
        where = _log_traceback(out)
        err_console.print(
            f"internal error: {type(exc).__name__}: {exc} (traceback in {where})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _log_traceback(out: Path | None) -> str:
    log_dir = out if out is not None else Path(".")
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "logs.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            import json

            fh.write(json.dumps({"event": "traceback", "traceback": traceback.format_exc()}) + "\n")
        return str(path)
    except OSError:
        return "stderr"


def _window_spec(
    current: str | None, current_days: int | None, baseline: str | None, baseline_days: int | None,
    preset: str | None,
):
    from fb_analyst.windows import WindowSpec

    return WindowSpec(
        current=current, current_days=current_days, baseline=baseline, baseline_days=baseline_days,
        preset=preset,
    )


CurrentOpt = Annotated[Optional[str], typer.Option("--current", help="Current window START:END (ISO dates, inclusive).")]
CurrentDaysOpt = Annotated[Optional[int], typer.Option("--current-days", help="Current window = last N days.")]
BaselineOpt = Annotated[Optional[str], typer.Option("--baseline", help="Baseline window START:END.")]
BaselineDaysOpt = Annotated[Optional[int], typer.Option("--baseline-days", help="Baseline = N days before current.")]
PresetOpt = Annotated[Optional[str], typer.Option("--compare", help="Preset: wow, mom or long (everything before current).")]


@app.command()
def run(
    inputs: InputsArg,
    out: OutOpt = Path("outputs"),
    current: CurrentOpt = None,
    current_days: CurrentDaysOpt = None,
    baseline: BaselineOpt = None,
    baseline_days: BaselineDaysOpt = None,
    compare: PresetOpt = None,
    forecast_engine: Annotated[Optional[str], typer.Option("--forecast-engine", help="statsforecast (default) or prophet.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Run the whole analysis (ingest, KPIs, diagnosis, creatives, forecast/budget, report)."""

    def go() -> None:
        settings, run_id = _setup(config, out)
        if forecast_engine:
            from fb_analyst.settings import load_settings

            settings = load_settings(config, forecast={"engine": forecast_engine})
        from fb_analyst.pipeline.run import run_pipeline

        # The window spec is parsed without pandas/Ibis (windows imports them lazily), so a bad
        # spec exits before any process starts, and run_pipeline starts the forecast child first.
        spec = _window_spec(current, current_days, baseline, baseline_days, compare)
        result = run_pipeline(inputs, out, spec, settings, run_id=run_id, console=console)
        result.render(console)

    _guard(go, out)


@app.command()
def ingest(inputs: InputsArg, out: OutOpt = Path("outputs"), config: ConfigOpt = None) -> None:
    """Clean and validate inputs only: canonical.parquet, data_quality.json, quarantine.csv."""

    def go() -> None:
        settings, _ = _setup(config, out)
        from fb_analyst.ingest import ingest_files, render_ingest_summary, write_ingest_outputs
        from fb_analyst.outputs import atomic_output_dir

        result = ingest_files(inputs, settings)
        with atomic_output_dir(out) as staging:
            write_ingest_outputs(result, staging)
        console.print(render_ingest_summary(result))
        console.print(f"wrote {out}/canonical.parquet, data_quality.json, quarantine.csv")

    _guard(go, out)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help='e.g. "why did ROAS drop last week?"')],
    inputs: InputsArg,
    out: OutOpt = Path("outputs"),
    config: ConfigOpt = None,
) -> None:
    """Answer a question by planning and running the analyses (deterministic planner; optional LLM)."""

    def go() -> None:
        settings, run_id = _setup(config, out)
        from fb_analyst.agent import answer_question

        answer = answer_question(question, inputs, out, settings, run_id=run_id, console=console)
        answer.render(console)

    _guard(go, out)


@app.command()
def dashboard(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Optional input files to open.")] = None,
    port: Annotated[int, typer.Option("--port", help="Loopback port.")] = 8501,
    config: ConfigOpt = None,
) -> None:
    """Serve the Streamlit dashboard on 127.0.0.1."""

    def go() -> None:
        from importlib.resources import files

        from fb_analyst.settings import load_settings

        settings = load_settings(config)
        app_path = Path(str(files("fb_analyst.dashboard").joinpath("app.py")))
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(app_path),
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.maxUploadSize", str(settings.dashboard.max_upload_mb), "--",
        ]
        if config:
            cmd += ["--config", str(config)]
        cmd += list(inputs or [])
        console.print(f"dashboard on http://127.0.0.1:{port} (Ctrl+C to stop)")
        raise typer.Exit(subprocess.call(cmd, env=os.environ.copy()))

    _guard(go)


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", help="File to write (.csv or .parquet).")] = Path("sample.csv"),
    scenario: Annotated[str, typer.Option("--scenario", help="Planted effect; see --list.")] = "no_change",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    days: Annotated[int, typer.Option("--days", help="Days of data.")] = 56,
    list_scenarios: Annotated[bool, typer.Option("--list", help="List scenarios and exit.")] = False,
) -> None:
    """Write generated ad data with a planted, known effect (for demos and tests)."""

    def go() -> None:
        from fb_analyst.sample import SCENARIOS, generate_sample, write_sample

        if list_scenarios:
            for name, desc in SCENARIOS.items():
                console.print(f"{name}: {desc}", markup=False)
            return
        data = generate_sample(scenario=scenario, seed=seed, days=days)
        path = write_sample(data, out)
        console.print(f"wrote {len(data.frame):,} rows to {path} (scenario {scenario}: {data.truth.description})",
                      markup=False)

    _guard(go)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
