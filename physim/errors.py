"""Errors raised by physim.

Every error a user can trigger is a :class:`PhysimError`, and its message names what was wrong:
the file, the field, or the entity. Nothing from Taichi's internals should reach a user.
"""

from __future__ import annotations


class PhysimError(Exception):
    """Base class of every error physim raises on purpose."""


class InvalidValueError(PhysimError, ValueError):
    """An option, morph, material or surface field has a value outside its domain."""


class AssetError(PhysimError, FileNotFoundError):
    """A file named by the user (mesh, robot description) is missing, unreadable or malformed."""


class SceneStateError(PhysimError, RuntimeError):
    """A call made at the wrong moment, e.g. ``step()`` before ``build()``."""


class SimulationDivergedError(PhysimError, FloatingPointError):
    """The simulated state became non-finite; the message names the step and the entity."""


class BackendError(PhysimError, RuntimeError):
    """physim was not initialised, or the compute backend could not be set up."""


class RenderError(PhysimError, RuntimeError):
    """The headless renderer could not be created or failed to draw."""
