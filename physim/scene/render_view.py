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


class RenderView:
    """The scene as cameras see it: a fixed list of items and a function giving their poses.

    ``poses(env_idx)`` returns float64 ``(len(items), 4, 4)`` world transforms of each item's frame,
    read from the solvers' state when called (one host copy per call).
    """

    def __init__(self, items: list[RenderItem], poses: Callable[[int], np.ndarray], n_entities: int) -> None:
        self.items = list(items)
        self._poses = poses
        self.n_entities = n_entities

    def poses(self, env_idx: int = 0) -> np.ndarray:
        return self._poses(env_idx)
