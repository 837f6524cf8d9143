"""The handle of a PBD entity (cloth, granular, soft body): the particle accessors plus pins."""

from __future__ import annotations

import numpy as np

from physim.errors import InvalidValueError
from physim.scene.entity import ParticleEntity, RigidEntity


class PBDEntity(ParticleEntity):
    """A PBD body. Besides the particle getters and setters it can pin particles: ``fix_particles`` holds them
    at a point in space, ``attach`` makes them move with a rigid body (and ``release_particles`` lets go).
    Particle indices are the entity's own (for a cloth, the mesh file's vertex indices)."""

    def fix_particles(self, particles_idx, envs_idx=None, positions=None) -> None:
        """Hold particles where they are now, or at ``positions`` ((k, 3) or (n_envs, k, 3), m)."""
        where = f"{self.name}.fix_particles"
        index, envs = self._particles(particles_idx, where), self.scene._envs_index(envs_idx, where)
        targets = None
        if positions is not None:
            targets = np.asarray(positions, np.float64)
            if targets.shape == (len(index), 3):
                targets = np.broadcast_to(targets, (len(envs), len(index), 3))
            if targets.shape != (len(envs), len(index), 3) or not np.all(np.isfinite(targets)):
                raise InvalidValueError(f"{where}.positions: expected finite values shaped ({len(index)}, 3) or "
                                        f"({len(envs)}, {len(index)}, 3), got {np.shape(positions)}")
        self._solver.pin(self.body_index, index, envs, None, targets)

    def attach(self, particles_idx, rigid_entity: RigidEntity, envs_idx=None) -> None:
        """Make particles move with ``rigid_entity``, keeping their present placement relative to it."""
        where = f"{self.name}.attach"
        if not isinstance(rigid_entity, RigidEntity):
            raise InvalidValueError(f"{where}.rigid_entity: must be a rigid entity of this scene, got {rigid_entity!r}")
        index, envs = self._particles(particles_idx, where), self.scene._envs_index(envs_idx, where)
        self._solver.pin(self.body_index, index, envs, rigid_entity.body_index)

    def release_particles(self, particles_idx, envs_idx=None) -> None:
        """Let pinned particles move freely again."""
        where = f"{self.name}.release_particles"
        self._solver.release(self.body_index, self._particles(particles_idx, where),
                             self.scene._envs_index(envs_idx, where))

    def find_closest_particle(self, pos, envs_idx=None) -> int:
        """Index of the particle nearest ``pos`` (m) in the first selected env."""
        target = np.asarray(pos, np.float64)
        if target.shape != (3,) or not np.all(np.isfinite(target)):
            raise InvalidValueError(f"{self.name}.find_closest_particle.pos: must be 3 finite numbers, got {pos!r}")
        envs = self.scene._envs_index(envs_idx, f"{self.name}.find_closest_particle")
        x = self._solver.get_particles(self.body_index, "x", envs[:1])[0]
        return int(np.argmin(np.linalg.norm(x - target, axis=1)))

    def _particles(self, particles_idx, where: str) -> np.ndarray:
        index = np.atleast_1d(np.asarray(particles_idx))
        if index.dtype.kind not in "iu" or index.ndim != 1 or np.any(index < 0) or np.any(index >= self.n_particles):
            raise InvalidValueError(f"{where}.particles_idx: must be particle indices in [0, {self.n_particles}) of "
                                    f"entity {self.name!r}, got {particles_idx!r}")
        self.scene._require_built(where.split(".")[-1])
        return index.astype(np.int64)
