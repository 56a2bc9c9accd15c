"""The one error of the Triton installer and launcher: what failed and where its log is."""

from __future__ import annotations


class TritonError(RuntimeError):
    """Triton could not be installed, prepared or started; the message names the cause and the log."""
