"""What cameras may read of a scene: visual meshes, their looks, and their world poses per env.

The renderer never reaches into solver internals. A scene hands cameras one RenderView; the view
lists the drawable items once (meshes in their entity's frame) and answers, per frame, the world
poses of those items for one environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh

from physim.scene.surfaces import Surface


@dataclass(frozen=True)
class RenderItem:
    """One drawable mesh.

    entity_index: the entity's index in the scene (the segmentation id).
    name: a readable name for the item (e.g. ``"box_3"``).
    mesh: the visual mesh in the entity's frame, m; it may carry a texture or vertex colours.
    surface: how it looks; ``surface.rgba is None`` means "use the mesh's own colours".
    double_sided: draw back faces too (planes, cloth).
    """

    entity_index: int
    name: str
    mesh: trimesh.Trimesh
    surface: Surface
    double_sided: bool = False


@dataclass(frozen=True)
class ParticleItem:
    """The particles of one particle entity (MPM, SPH, PBD).

    entity_index, name, surface: as for RenderItem. n_particles: how many. radius: the radius each particle
    is drawn with, m. faces: (F, 3) triangles over the particles for surface bodies (cloth), drawn as a mesh
    that deforms with them; None draws each particle as a sphere, or with ``reconstruct`` the body's surface
    rebuilt from its particles each frame (their lattice spacing taken as twice ``radius``).
    """

    entity_index: int
    name: str
    surface: Surface
    n_particles: int
    radius: float
    faces: np.ndarray | None = None
    reconstruct: bool = False


class RenderView:
    """The scene as cameras see it: fixed lists of items, and functions giving their current placement.

    ``poses(env_idx)`` returns float64 ``(len(items), 4, 4)`` world transforms of each item's frame;
    ``particles(env_idx)`` a list with one ``(m, 3)`` array of world positions, m, per particle item: all
    ``n_particles`` of a surface, up to ``n_particles`` spheres (an emitter draws only what it has poured).
    Both read the solvers' state when called (one host copy per call).
    """

    def __init__(self, items: list[RenderItem], poses: Callable[[int], np.ndarray], n_entities: int,
                 particle_items: list[ParticleItem] | None = None,
                 particles: Callable[[int], list[np.ndarray]] | None = None) -> None:
        self.items = list(items)
        self._poses = poses
        self.n_entities = n_entities
        self.particle_items = list(particle_items or [])
        self._particles = particles

    def poses(self, env_idx: int = 0) -> np.ndarray:
        return self._poses(env_idx)

    def particles(self, env_idx: int = 0) -> list[np.ndarray]:
        return self._particles(env_idx) if self._particles is not None else []
