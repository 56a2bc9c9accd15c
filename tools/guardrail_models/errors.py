"""The one exception hierarchy of the model tooling."""

from __future__ import annotations


class ModelError(Exception):
    """Base class: anything wrong with a model repository, a model file or an evaluation input."""


class RepositoryError(ModelError):
    """A repository or model directory is missing a file or does not follow the layout."""


class ChecksumError(ModelError):
    """A file's sha256 does not match the manifest."""


class DatasetError(ModelError):
    """A labelled evaluation file cannot be read (missing field, bad label, empty)."""
