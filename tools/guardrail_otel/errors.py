"""Errors of the collector tooling."""


class OtelcolError(Exception):
    """Base class: building or running the collector went wrong."""


class PrerequisiteError(OtelcolError):
    """The collector could not be built; the message says what is missing or what go printed."""


class StartupError(OtelcolError):
    """The collector did not start listening; the message carries its log."""
