"""Exceptions shared across the package.

`InputError` is what every bad user input becomes: a message that names the file, the field
and what was expected.  The CLI turns it into exit code 2 and a one-line message.
"""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """Bad user input (scenario file, dataset, CLI argument)."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        #: What is wrong, without the file and field in front (to word it again elsewhere).
        self.message = message
        parts = [p for p in (source, field) if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DataError(InputError):
    """A dataset could not be read or does not have the expected shape."""


class FieldError(ValueError):
    """Raised inside schema validators that check several fields: names the field at fault.

    ``path`` is relative to the model being validated, e.g. ``("owner",)`` on the incentive
    section or ``("agents", 2, "name")`` on the whole scenario.
    """

    def __init__(self, message: str, *path: str | int):
        super().__init__(message)
        self.path = path


class WriteError(InputError):
    """An output could not be written (a read-only disk, no space left, no permission): the
    message names the file or folder and the system's reason (``reason``)."""

    def __init__(self, reason: str, *, source: str | None = None, field: str | None = None):
        super().__init__(f"cannot write: {reason}", source=source, field=field)
        self.reason = reason


class OutputExists(InputError):
    """The output folder exists already (and replacing it was not asked for)."""


class UnknownMetric(InputError):
    """A metric a sweep or search file names that no run's summary has: every run would
    fail on it, so the command stops after the first."""


class RunCannotFinish(InputError):
    """The scenario, as written, cannot finish: it reached its simulated-time cap
    (``scenario.max_duration_s``) or made no progress for ``scenario.max_idle_s``.  Bad input
    (exit code 2): the message names the field and what to change."""


class PluginBug(RuntimeError):
    """A plug-in answered something the contract cannot use (a mechanism paying more than a
    contribution holds, a model's impossible gas counts): a bug in the plug-in, named with
    its class (``plugin_type``) and method."""

    def __init__(self, message: str, plugin_type: type | None = None) -> None:
        super().__init__(message)
        self.plugin_type = plugin_type


class WallClockExceeded(RuntimeError):
    """A run took longer than its wall-clock allowance (``--max-wall-s``)."""


class WorkerDied(RuntimeError):
    """A worker process of a sweep's or search's process pool stopped abruptly (what
    :class:`concurrent.futures.process.BrokenProcessPool` means): killed, most often for lack
    of memory, or, from a script, unguarded top-level code that failed when the worker
    imported the script again.  Runs that finished before are kept."""


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut short when long (an error line quotes what it refused)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value):,} characters" if isinstance(value, str) else f"{len(text):,} long"
    return f"{text[:limit - 20]}... ({size})"
