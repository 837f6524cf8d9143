"""What the liquid sees as solid, prepared once on the host: the domain walls' table and the boundary
particles sampled on rigid bodies (Akinci et al. 2012).

A boundary particle b stands for a volume ``V_b`` and adds ``rho0_i V_b W(x_i - x_b)`` to a liquid particle's
density, as a liquid particle at rest density would. ``V_b = 1 / sum_k W(x_b - x_k)`` over the boundary
particles of its body, so a densely or unevenly sampled surface still counts as one layer of solid.

The domain walls need no particles stored: they are mirrors, each liquid particle near a wall having an
image across it (``stages.gather_neighbours_and_density``), so liquid sampled against a wall starts exactly
at rest density, as in the bulk.
"""

from __future__ import annotations

import numpy as np

from physim.solvers.rigid.shapes import GeomType, Shape
from physim.utils.rotations import quat_to_matrix


def cubic_spline(r: np.ndarray, h: float) -> np.ndarray:
    """The cubic spline kernel of support radius h (unscaled), 1/m^3."""
    q = np.asarray(r, np.float64) / h
    k = 8.0 / (np.pi * h**3)
    return np.where(q <= 0.5, k * (6 * q**3 - 6 * q**2 + 1), np.where(q <= 1.0, 2 * k * (1 - q) ** 3, 0.0))


def lattice_kernel_scale(spacing: float, h: float) -> float:
    """The factor making a particle of a rest lattice of ``spacing`` sum its neighbours' kernel to exactly
    ``1 / spacing**3`` (the cubic spline at support 2 spacings is within 0.003 % of it already)."""
    reach = int(np.ceil(h / spacing))
    axis = np.arange(-reach, reach + 1) * spacing
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    return float(1.0 / (cubic_spline(np.linalg.norm(grid, axis=1), h).sum() * spacing**3))


def _geom_surface_points(shape: Shape, spacing: float) -> np.ndarray:
    """Points spread over a geom's surface about ``spacing`` apart, in the geom frame."""
    import trimesh

    if shape.type == GeomType.BOX:
        return _box_surface(np.asarray(shape.size, np.float64), spacing)
    if shape.type == GeomType.SPHERE:
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=float(shape.size[0]))
    elif shape.type == GeomType.CAPSULE:
        mesh = trimesh.creation.capsule(height=2.0 * float(shape.size[1]), radius=float(shape.size[0]),
                                        count=[24, 24])
    elif shape.type == GeomType.CYLINDER:
        mesh = trimesh.creation.cylinder(radius=float(shape.size[0]), height=2.0 * float(shape.size[1]),
                                         sections=48)
    elif shape.type == GeomType.CONVEX:
        mesh = trimesh.Trimesh(vertices=np.asarray(shape.points)).convex_hull
    else:
        return np.zeros((0, 3))
    return _even_surface_points(mesh, spacing)


def _box_surface(half: np.ndarray, spacing: float) -> np.ndarray:
    """A regular grid on each of the box's six faces (edges and corners once)."""
    axes = [np.linspace(-h, h, max(2, int(np.ceil(2 * h / spacing)) + 1)) for h in half]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    on_face = np.any(np.isclose(np.abs(grid), half, rtol=0, atol=1e-12), axis=1)
    return grid[on_face]


def _even_surface_points(mesh, spacing: float) -> np.ndarray:
    """Dense random surface samples thinned to one per cube of edge ``spacing`` (seeded: deterministic)."""
    import trimesh

    count = int(20 * mesh.area / spacing**2) + 100
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=0)
    keys = np.floor(points / spacing).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    return np.asarray(points[np.sort(first)], np.float64)


def sample_rigid_boundary(bodies: list, spacing: float, h: float, scale: float
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundary particles of every colliding, bounded rigid body: positions in the body frame (nb, 3), m,
    body indices (nb,), and volumes (nb,), m^3. Planes are left out: the domain's walls bound the liquid."""
    from scipy.spatial import cKDTree

    local, owner, volume = [], [], []
    for index, body in enumerate(bodies):
        if not body.collides:
            continue
        points = []
        for geom in body.geoms:
            surface = _geom_surface_points(geom.shape, spacing)
            if len(surface):
                points.append(surface @ quat_to_matrix(np.asarray(geom.quat, np.float64)).T + np.asarray(geom.pos))
        if not points:
            continue
        body_points = np.concatenate(points)
        tree = cKDTree(body_points)
        sums = np.zeros(len(body_points))
        for i, near in enumerate(tree.query_ball_point(body_points, h)):
            sums[i] = scale * cubic_spline(np.linalg.norm(body_points[near] - body_points[i], axis=1), h).sum()
        local.append(body_points)
        owner.append(np.full(len(body_points), index, np.int32))
        volume.append(1.0 / sums)
    if not local:
        return np.zeros((0, 3)), np.zeros(0, np.int32), np.zeros(0)
    return np.concatenate(local), np.concatenate(owner), np.concatenate(volume)
