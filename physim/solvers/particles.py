"""What every particle solver (MPM, SPH, PBD) shares with the scene: the body spec it is built from and the
face it shows.

A particle solver owns all particles of its kind in a scene, stored body after body. The scene hands it one
:class:`ParticleBodySpec` per entity at ``build`` and afterwards talks to it only through
:class:`ParticleSolver`'s methods; coupling and rendering read the same accessors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from physim.utils.arrays import read, write


@dataclass
class ParticleBodySpec:
    """One particle entity as a solver sees it.

    name: the entity's name (for error messages). material: its material (a solver's own type).
    positions: (n, 3) initial particle positions, m. particle_volume: the volume each particle stands for, m^3.
    particle_mass: kg per particle. faces: (F, 3) vertex indices for surface bodies (cloth), else None.
    active: (n,) bool, which particles take part from the start (an emitter's reserve waits inactive); None: all.
    """

    name: str
    material: Any
    positions: np.ndarray
    particle_volume: float
    particle_mass: float
    faces: np.ndarray | None = None
    active: np.ndarray | None = None


class ParticleSolver(Protocol):
    """The face of a particle solver. ``quantity`` is ``"x"`` (positions, m) or ``"v"`` (velocities, m/s);
    ``envs`` an int64 array of env indices; arrays move as float64 ``(len(envs), n, 3)``."""

    def build(self, bodies: list[ParticleBodySpec], n_envs: int) -> None: ...

    def step(self) -> tuple[int, int] | None:
        """Advance one scene step; ``(env, body)`` of the first non-finite particle, or None."""

    def reset(self, envs_idx: np.ndarray | None = None) -> None: ...

    def get_state(self) -> dict[str, np.ndarray]: ...

    def set_state(self, state: dict[str, np.ndarray]) -> None: ...

    def get_particles(self, body: int, quantity: str, envs: np.ndarray) -> np.ndarray: ...

    def set_particles(self, body: int, quantity: str, values: np.ndarray, envs: np.ndarray) -> None: ...


class ParticleStore:
    """State access shared by the particle solvers: their state is a dict ``_state`` of Taichi ndarrays with
    a leading env axis, bodies stored one after another along the particle axis (``starts[b]`` to
    ``starts[b + 1]``). Subclasses set both in ``build``."""

    _state: dict[str, Any]
    starts: np.ndarray

    def _lay_out_bodies(self, bodies: list[ParticleBodySpec], n_envs: int) -> list[int]:
        """Record the bodies, the env count, and where each body's particles start; returns their counts."""
        from physim.backend import runtime

        self.float_type = runtime().np_float
        self.bodies = list(bodies)
        self.n_envs, self.n_batch = n_envs, max(n_envs, 1)
        counts = [len(b.positions) for b in bodies]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.n_particles = int(self.starts[-1])
        self.particle_body = np.repeat(np.arange(len(bodies)), counts)
        return counts

    def get_state(self) -> dict[str, np.ndarray]:
        return {key: read(array) for key, array in self._state.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for key, array in self._state.items():
            write(array, state[key])

    def get_particles(self, body: int, quantity: str, envs: np.ndarray) -> np.ndarray:
        """Positions (``"x"``) or velocities (``"v"``) of one body's particles, (len(envs), n, 3), float64."""
        start, stop = self.starts[body], self.starts[body + 1]
        return read(self._state[quantity])[envs, start:stop].astype(np.float64)

    def set_particles(self, body: int, quantity: str, values: np.ndarray, envs: np.ndarray) -> None:
        start, stop = self.starts[body], self.starts[body + 1]
        array = read(self._state[quantity])
        array[np.ix_(envs, np.arange(start, stop))] = values
        write(self._state[quantity], array)
