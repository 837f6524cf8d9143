"""The SPH kind's scene-side pieces: its entity handle, and the ``Nozzle`` morph that makes an SPH entity an
emitter pouring liquid during a run.

An emitter entity reserves ``max_particles`` particles at build; they wait inactive at the nozzle (they
take no part in the simulation, and a camera draws them there) until ``entity.emit()`` releases them, a disc
of the nozzle's radius at a time, at the nozzle's speed. Reserving at build keeps every array's size fixed,
so nothing is reallocated or recompiled while liquid pours.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from physim.errors import InvalidValueError
from physim.scene.entity import ParticleEntity
from physim.scene.morphs import Morph
from physim.utils import validate as v


@dataclass(frozen=True)
class Nozzle(Morph):
    """A round nozzle at ``pos`` pouring along ``direction`` (need not be unit length).

    radius: of the jet, m. speed: of the liquid leaving it, m/s. max_particles: the particles reserved for
    everything it will pour (its flow is ``pi radius^2 speed`` m^3/s, ``rho`` times that in kg/s).
    """

    radius: float = 0.02
    direction: tuple[float, float, float] = (0.0, 0.0, -1.0)
    speed: float = 1.0
    max_particles: int = 10_000

    def _validate_shape(self, owner: str) -> None:
        object.__setattr__(self, "radius", v.positive(owner, "radius", self.radius))
        direction = np.array(v.finite_vector(owner, "direction", self.direction, 3))
        if np.linalg.norm(direction) < 1e-9:
            raise InvalidValueError(f"{owner}.direction: must not be zero, got {self.direction!r}")
        object.__setattr__(self, "direction", tuple(float(x) for x in direction / np.linalg.norm(direction)))
        object.__setattr__(self, "speed", v.positive(owner, "speed", self.speed))
        object.__setattr__(self, "max_particles", v.integer(owner, "max_particles", self.max_particles, low=1,
                                                            high=2**28))


def nozzle_disc(direction: np.ndarray, radius: float, spacing: float) -> np.ndarray:
    """Offsets (k, 3), m, of one emitted layer: the points of a square lattice of ``spacing`` across the jet
    (unit ``direction``) that lie within ``radius`` (at least the centre)."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(direction, helper)
    u /= np.linalg.norm(u)
    w = np.cross(direction, u)
    reach = int(np.ceil(radius / spacing))
    a, b = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1), indexing="ij")
    a, b = a.reshape(-1) * spacing, b.reshape(-1) * spacing
    inside = a**2 + b**2 <= radius**2 + 1e-12
    return a[inside, None] * u + b[inside, None] * w


class SPHEntity(ParticleEntity):
    """A liquid simulated by the SPH solver as particles, each weighing ``rho * particle_size**3``; with a
    ``Nozzle`` morph, an emitter (see ``emit``)."""

    _pending_distance = 0.0
    _last_emit_step = -1
    _warned_full = False

    @property
    def particle_size(self) -> float:
        """Lattice spacing the particles were sampled on, m."""
        return self.scene.sph_options.particle_size

    @property
    def is_emitter(self) -> bool:
        return isinstance(self.morph, Nozzle)

    def get_n_active(self, envs_idx=None) -> np.ndarray | int:
        """How many of the entity's particles take part (an emitter's count grows as it pours)."""
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_n_active")
        counts = self._solver.active_counts(self.body_index, envs)
        return int(counts[0]) if self.scene.n_envs == 0 else counts

    def _drawn_positions(self, env_idx: int) -> np.ndarray:
        """Only the particles that take part: an emitter's reserve waits unseen at the nozzle."""
        envs = np.array([env_idx])
        count = int(self._solver.active_counts(self.body_index, envs)[0])
        return self._solver.get_particles(self.body_index, "x", envs)[0, :count]

    def emit(self, speed: float | None = None, direction=None, envs_idx=None) -> int:
        """Pour: release the layers of liquid the nozzle has let out since the last call (one layer on the
        first call), each a disc of the nozzle's radius, one particle_size thick, moving at ``speed`` (m/s,
        default the nozzle's) along ``direction`` (default the nozzle's). Call it once per step, as Genesis's
        ``emitter.emit``. Returns the number of particles released per env; 0 once the reserve is spent.
        """
        self.scene._require_built(f"{self.name}.emit")
        if not self.is_emitter:
            raise InvalidValueError(f"{self.name}.emit: entity {self.name!r} is not an emitter; create it with "
                                    f"morph=ps.morphs.Nozzle(...)")
        morph = self.morph
        speed = morph.speed if speed is None else v.positive(f"{self.name}.emit", "speed", speed)
        if direction is None:
            unit = np.asarray(morph.direction)
        else:
            unit = np.array(v.finite_vector(f"{self.name}.emit", "direction", direction, 3))
            if np.linalg.norm(unit) < 1e-9:
                raise InvalidValueError(f"{self.name}.emit.direction: must not be zero, got {direction!r}")
            unit = unit / np.linalg.norm(unit)
        envs = self.scene._envs_index(envs_idx, f"{self.name}.emit")
        spacing = self.particle_size
        step = self.scene.cur_step
        if self._last_emit_step < 0 or step <= self._last_emit_step:  # first call, or after a reset
            self._pending_distance = spacing
        else:
            self._pending_distance += speed * (step - self._last_emit_step) * self.scene.dt
        self._last_emit_step = step
        layers = int(self._pending_distance // spacing)
        if layers == 0:
            return 0
        self._pending_distance -= layers * spacing
        disc = nozzle_disc(unit, morph.radius, spacing)
        # The oldest layer of this call left the nozzle first and has travelled furthest.
        travel = self._pending_distance + spacing * np.arange(layers)[::-1]
        positions = (np.asarray(morph.pos) + travel[:, None, None] * unit + disc[None]).reshape(-1, 3)
        options = self.scene.sph_options
        positions = np.clip(positions, options.lower_bound, options.upper_bound)
        released = self._solver.activate(self.body_index, positions, speed * unit, envs)
        if released < len(positions) and not self._warned_full:
            self._warned_full = True
            warnings.warn(f"{self.name}.emit: the nozzle's reserve of {self.n_particles} particles is spent; raise "
                          f"Nozzle.max_particles to pour longer", RuntimeWarning, stacklevel=2)
        return released

