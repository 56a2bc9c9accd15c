"""The demo's exception hierarchy: every failure names the step and, for a process, its log file."""

from __future__ import annotations


class DemoError(Exception):
    """A demo step failed; the message says what and where to look."""


class ProcessFailed(DemoError):
    """A process the demo started exited or never became ready."""
