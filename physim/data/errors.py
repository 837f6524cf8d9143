"""Errors of the data pipeline (all are :class:`physim.errors.PhysimError`)."""

from __future__ import annotations

from physim.errors import PhysimError


class DatasetError(PhysimError, RuntimeError):
    """The dataset folder cannot be used: unwritable, disk full, or made by another scene, seed or parameters."""


class EpisodeError(PhysimError, RuntimeError):
    """An episode function failed, or a scene script does not follow the episode contract."""
