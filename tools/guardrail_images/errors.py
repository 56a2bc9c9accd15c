"""Errors of the image builder."""


class ImageError(Exception):
    """An image could not be built or loaded; the message says which step and why."""


class ImagePrerequisiteError(ImageError):
    """Something the builder needs (root, debootstrap, Go, the Triton install) is missing; says how to get it."""
