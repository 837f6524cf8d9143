"""Entity handles: what a user holds after ``scene.add_entity`` and reads or drives the simulation through.

Getters return numpy arrays shaped ``(3,)`` / ``(4,)`` when the scene was built with ``n_envs=0`` and
``(n_envs, 3)`` / ``(n_envs, 4)`` when batched (or ``(len(envs_idx), ...)`` with ``envs_idx``).
Setters take the same shapes; a single ``(3,)`` value is broadcast to every selected env.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from physim.errors import InvalidValueError, SceneStateError
from physim.scene.materials import Material
from physim.scene.morphs import Morph
from physim.scene.surfaces import Surface

if TYPE_CHECKING:
    from physim.scene.particle_kinds import ParticleKind, ParticleSample
    from physim.scene.scene import Scene


class Entity:
    """Something in a scene: a morph (shape, initial pose), a material (behaviour), a surface (looks)."""

    def __init__(self, scene: Scene, idx: int, name: str, morph: Morph, material: Material, surface: Surface) -> None:
        self.scene = scene
        self.idx = idx
        self.name = name
        self.morph = morph
        self.material = material
        self.surface = surface

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.idx} {self.name!r}: {type(self.morph).__name__}>"


class RigidEntity(Entity):
    """A rigid body. Its pose is that of its frame (the morph's ``pos``/``quat``); ``get_vel`` is the
    velocity of that frame's origin, m/s; ``get_ang`` the angular velocity, rad/s, world frame."""

    body_index: int = -1  # set by the scene when the solver is built

    @property
    def mass(self) -> float:
        """Mass, kg (infinite for fixed entities)."""
        spec = self.scene._rigid_specs[self.idx]
        return spec.mass_properties()[0] if spec.movable else float("inf")

    def get_mass(self) -> float:
        return self.mass

    def get_pos(self, envs_idx=None) -> np.ndarray:
        """Position of the entity frame, m."""
        return self._get("pos", envs_idx)

    def get_quat(self, envs_idx=None) -> np.ndarray:
        """Orientation as a unit quaternion (w, x, y, z)."""
        return self._get("quat", envs_idx)

    def get_vel(self, envs_idx=None) -> np.ndarray:
        """Linear velocity of the entity frame's origin, m/s."""
        return self._get("vel", envs_idx)

    def get_ang(self, envs_idx=None) -> np.ndarray:
        """Angular velocity, rad/s, world frame."""
        return self._get("ang", envs_idx)

    def set_pos(self, pos, envs_idx=None) -> None:
        self._set("pos", pos, 3, envs_idx)

    def set_quat(self, quat, envs_idx=None) -> None:
        self._set("quat", quat, 4, envs_idx)

    def set_vel(self, vel, envs_idx=None) -> None:
        self._set("vel", vel, 3, envs_idx)

    def set_ang(self, ang, envs_idx=None) -> None:
        self._set("ang", ang, 3, envs_idx)

    def _get(self, quantity: str, envs_idx) -> np.ndarray:
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_{quantity}")
        values = self.scene._rigid_solver.get_body(self.body_index, quantity, envs)
        return values[0] if self.scene.n_envs == 0 else values

    def _set(self, quantity: str, values, width: int, envs_idx) -> None:
        where = f"{self.name}.set_{quantity}"
        envs = self.scene._envs_index(envs_idx, where)
        array = np.asarray(values, dtype=np.float64)
        if array.shape == (width,):
            array = np.broadcast_to(array, (len(envs), width))
        if array.shape != (len(envs), width):
            raise InvalidValueError(f"{where}: expected shape ({width},) or ({len(envs)}, {width}), got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise InvalidValueError(f"{where}: values must be finite (no NaN or inf), got {values!r}")
        if quantity == "quat":
            norms = np.linalg.norm(array, axis=1, keepdims=True)
            if np.any(norms < 1e-9):
                raise InvalidValueError(f"{where}: a rotation quaternion must not be zero")
            array = array / norms
        if self.morph.fixed and quantity in ("vel", "ang") and np.any(array != 0):
            raise SceneStateError(f"{where}: entity {self.name!r} is fixed and cannot move")
        self.scene._rigid_solver.set_body(self.body_index, quantity, array, envs)


class ParticleEntity(Entity):
    """An entity simulated as particles by a particle solver (MPM, SPH or PBD; see ``scene/particle_kinds.py``).

    ``get_particles_pos()`` / ``get_particles_vel()`` return ``(n_particles, 3)`` arrays, or
    ``(n_envs, n_particles, 3)`` when batched; the setters take the same shapes (a single ``(n, 3)`` array is
    broadcast to every selected env). Surface bodies (cloth) keep their source mesh's vertex order and expose
    its triangles as ``faces``.
    """

    body_index: int = -1  # set by the scene when the solver is built

    def __init__(self, scene: Scene, idx: int, name: str, morph: Morph, material: Material, surface: Surface,
                 sample: ParticleSample, kind: ParticleKind) -> None:
        super().__init__(scene, idx, name, morph, material, surface)
        self.sample = sample
        self.kind = kind

    @property
    def init_positions(self) -> np.ndarray:
        """Particle positions at build time, (n_particles, 3), m."""
        return self.sample.positions

    @property
    def faces(self) -> np.ndarray | None:
        """Triangles (F, 3) over the particles for surface bodies (cloth), else None."""
        return self.sample.faces

    @property
    def n_particles(self) -> int:
        return len(self.sample.positions)

    @property
    def particle_mass(self) -> float:
        """Mass of one particle, kg."""
        return self.sample.particle_mass

    @property
    def mass(self) -> float:
        """Total mass, kg."""
        return self.particle_mass * self.n_particles

    def get_particles_pos(self, envs_idx=None) -> np.ndarray:
        """Particle positions, m."""
        return self._get("x", "get_particles_pos", envs_idx)

    def get_particles_vel(self, envs_idx=None) -> np.ndarray:
        """Particle velocities, m/s."""
        return self._get("v", "get_particles_vel", envs_idx)

    def set_particles_pos(self, pos, envs_idx=None) -> None:
        self._set("x", "set_particles_pos", pos, envs_idx)

    def set_particles_vel(self, vel, envs_idx=None) -> None:
        self._set("v", "set_particles_vel", vel, envs_idx)

    @property
    def _solver(self):
        return self.scene._particle_solvers[self.kind.label]

    def _drawn_positions(self, env_idx: int) -> np.ndarray:
        """The positions a camera draws for one env, (m, 3), m: every particle (subclasses may draw fewer)."""
        return self._solver.get_particles(self.body_index, "x", np.array([env_idx]))[0]

    def _get(self, quantity: str, where: str, envs_idx) -> np.ndarray:
        envs = self.scene._envs_index(envs_idx, f"{self.name}.{where}")
        values = self._solver.get_particles(self.body_index, quantity, envs)
        return values[0] if self.scene.n_envs == 0 else values

    def _set(self, quantity: str, where: str, values, envs_idx) -> None:
        where = f"{self.name}.{where}"
        envs = self.scene._envs_index(envs_idx, where)
        array = np.asarray(values, dtype=np.float64)
        n = self.n_particles
        if array.shape == (n, 3):
            array = np.broadcast_to(array, (len(envs), n, 3))
        if array.shape != (len(envs), n, 3):
            raise InvalidValueError(f"{where}: expected shape ({n}, 3) or ({len(envs)}, {n}, 3), got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise InvalidValueError(f"{where}: values must be finite (no NaN or inf)")
        if quantity == "x":
            options = getattr(self.scene, self.kind.options_attr)
            lower, upper = options.lower_bound, options.upper_bound
            if np.any(array < lower) or np.any(array > upper):
                raise InvalidValueError(f"{where}: entity {self.name!r}: positions must lie inside the "
                                        f"{self.kind.label} domain [{lower}, {upper}]")
        self._solver.set_particles(self.body_index, quantity, array, envs)


class MPMEntity(ParticleEntity):
    """A continuum (elastic, plasticine, sand, liquid, snow) simulated by the MPM solver as particles, each
    weighing ``rho * particle_size**3``."""

    @property
    def particle_size(self) -> float:
        """Lattice spacing the particles were sampled on, m."""
        return self.scene.mpm_options.particle_size
