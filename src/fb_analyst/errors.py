"""One exception hierarchy; only the CLI and dashboard turn these into exit codes or on-screen errors.

Messages are actionable: they name the file/argument, the rule, the value received and the fix.
"""

from __future__ import annotations


class FbAnalystError(Exception):
    """Base class. ``exit_code`` is what the CLI returns for it."""

    exit_code = 1


class InputError(FbAnalystError):
    """Bad user input: a file, an argument, a window, a config value. Exit code 2."""

    exit_code = 2


class MissingColumnsError(InputError):
    """An input lacks required columns after mapping."""


class EmptyInputError(InputError):
    """An input has no usable rows (empty, or every row invalid)."""


class WindowError(InputError):
    """A requested analysis window is outside the data, empty, or overlapping."""


class ConfigError(InputError):
    """The configuration file or environment holds an invalid value."""


class UnknownNameError(InputError):
    """An unknown KPI / dimension / scenario name; the message lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid)}")


class StageError(FbAnalystError):
    """An analysis stage failed internally. Exit code 1; ``stage`` says which."""

    def __init__(self, stage: str, message: str):
        self.stage = stage
        super().__init__(f"stage {stage!r} failed: {message}")
