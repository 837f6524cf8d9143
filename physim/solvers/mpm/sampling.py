"""Particles from a morph: the points of a regular lattice of spacing ``particle_size`` inside the shape.

The lattice is centred on the morph's frame (so a box of edge ``k * particle_size`` gets exactly ``k**3``
particles) and turned with it. Each particle stands for one lattice cell, of volume ``particle_size**3``.
"""

from __future__ import annotations

import numpy as np

from physim.errors import InvalidValueError
from physim.scene import morphs as mor
from physim.utils.rotations import quat_to_matrix


def _axis(half_extent: float, spacing: float) -> np.ndarray:
    """Lattice coordinates covering [-half_extent, half_extent], symmetric about 0."""
    count = max(1, int(round(2.0 * half_extent / spacing)))
    return (np.arange(count) - (count - 1) / 2.0) * spacing


def _lattice(half: np.ndarray, spacing: float) -> np.ndarray:
    axes = [_axis(h, spacing) for h in half]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def sample_morph(morph: mor.Morph, spacing: float, name: str, material: str = "an MPM material") -> np.ndarray:
    """World positions (n, 3), float64, of the particles sampling ``morph``; ``material`` names what needs them
    in error messages."""
    if isinstance(morph, mor.Box):
        local = _lattice(np.asarray(morph.size) / 2.0, spacing)
    elif isinstance(morph, mor.Sphere):
        local = _lattice(np.full(3, morph.radius + spacing), spacing)
        local = local[np.linalg.norm(local, axis=1) <= morph.radius]
    elif isinstance(morph, mor.Cylinder):
        r = morph.radius + spacing
        local = _lattice(np.array([r, r, morph.height / 2.0]), spacing)
        local = local[np.linalg.norm(local[:, :2], axis=1) <= morph.radius]
    elif isinstance(morph, mor.Capsule):
        r = morph.radius + spacing
        local = _lattice(np.array([r, r, morph.height / 2.0 + r]), spacing)
        axial = np.clip(local[:, 2], -morph.height / 2.0, morph.height / 2.0)
        local = local[np.linalg.norm(local - np.stack([0 * axial, 0 * axial, axial], axis=1), axis=1) <= morph.radius]
    elif isinstance(morph, mor.Mesh):
        local = _sample_mesh(morph, spacing, name, material)
    else:
        raise InvalidValueError(f"Scene.add_entity.morph: entity {name!r}: {material} needs a volume "
                                f"(Box, Sphere, Cylinder, Capsule or Mesh), got {type(morph).__name__}")
    if len(local) == 0:
        raise InvalidValueError(f"Scene.add_entity.morph: entity {name!r} is smaller than one particle "
                                f"(particle_size={spacing})")
    rotation = quat_to_matrix(np.asarray(morph.quat, np.float64))
    return local @ rotation.T + np.asarray(morph.pos)


def _sample_mesh(morph: mor.Mesh, spacing: float, name: str, material: str) -> np.ndarray:
    import trimesh

    mesh = trimesh.load(morph.file, force="mesh")
    mesh.apply_scale(np.asarray(morph.scale))
    if not mesh.is_watertight:
        raise InvalidValueError(f"Mesh.file: entity {name!r}: {material} needs a closed (watertight) mesh, "
                                f"{morph.file!r} is not")
    lo, hi = mesh.bounds
    centre = (lo + hi) / 2.0
    local = _lattice((hi - lo) / 2.0 + spacing, spacing) + centre
    return local[_inside(np.asarray(mesh.triangles, np.float64), local)]


def _inside(triangles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which points lie inside a closed triangle mesh: a vertical ray from each lattice column crosses the
    surface at some heights; a point is inside when an odd number of crossings lie below it. (Pure numpy, so
    no spatial-index package is needed.) Columns are nudged by an irrational fraction of a nanometre so that
    no ray runs exactly through a mesh edge."""
    inside = np.zeros(len(points), bool)
    columns, column_of = np.unique(points[:, :2], axis=0, return_inverse=True)
    column_of = column_of.reshape(-1)
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    tri_lo, tri_hi = triangles[:, :, :2].min(axis=1), triangles[:, :, :2].max(axis=1)
    for index, (x, y) in enumerate(columns + 1e-9 * np.array([np.sqrt(2), np.sqrt(3)])):
        near = np.flatnonzero((tri_lo[:, 0] <= x) & (x <= tri_hi[:, 0]) & (tri_lo[:, 1] <= y) & (y <= tri_hi[:, 1]))
        if len(near) == 0:
            continue
        pa, pb, pc = a[near], b[near], c[near]
        # Barycentric coordinates of (x, y) in each triangle's xy projection.
        det = (pb[:, 0] - pa[:, 0]) * (pc[:, 1] - pa[:, 1]) - (pc[:, 0] - pa[:, 0]) * (pb[:, 1] - pa[:, 1])
        ok = np.abs(det) > 1e-18
        det = np.where(ok, det, 1.0)
        u = ((x - pa[:, 0]) * (pc[:, 1] - pa[:, 1]) - (pc[:, 0] - pa[:, 0]) * (y - pa[:, 1])) / det
        w = ((pb[:, 0] - pa[:, 0]) * (y - pa[:, 1]) - (x - pa[:, 0]) * (pb[:, 1] - pa[:, 1])) / det
        hit = ok & (u >= 0) & (w >= 0) & (u + w <= 1)
        heights = np.sort((pa[:, 2] + u * (pb[:, 2] - pa[:, 2]) + w * (pc[:, 2] - pa[:, 2]))[hit])
        members = np.flatnonzero(column_of == index)
        crossings_below = np.searchsorted(heights, points[members, 2])
        inside[members] = crossings_below % 2 == 1
    return inside
