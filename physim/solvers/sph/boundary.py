"""What the liquid sees as solid, prepared once on the host: the kernel's lattice scale and the boundary
particles sampled on rigid bodies (Akinci et al. 2012).

A boundary particle b stands for a volume ``V_b`` and adds ``rho0_i V_b W(x_i - x_b)`` to a liquid particle's
density, as a liquid particle at rest density would. Where Akinci et al. put one layer on the surface with
``V_b = 1 / sum_k W(x_b - x_k)``, the liquid's first layer settles where that layer's density share is what the
bulk misses, about 1.1 particle_size off it (computed for a flat lattice) instead of the half a particle_size
at which a liquid's own volume ends: a floating body then displaces that much more liquid and rides high
(measured: 1.3 particle_size at particle_size 2 cm). So the layer stands for what a mirror would put behind
the surface (as the domain walls do): it lies half a particle_size inside the surface, where the first layer
of images would, and each particle stands for one particle_size of depth behind its share of the surface,
``V_b = particle_size * P0 / sum_k W(x_b - x_k)`` (``P0``, the kernel's integral over a plane through its
centre, makes ``P0 / sum_k W`` the area share on an evenly sampled plane, and keeps Akinci's normalisation of
uneven sampling). The images' second layer lies a support radius away from the liquid's first: out of reach.
A liquid on its rest lattice against a flat body then sees exactly the density and, within 2 %, the kernel
gradient sum of the mirror image (``tests/test_sph.py`` checks the draft a floating body takes).

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


def planar_kernel_integral(h: float, scale: float) -> float:
    """The integral of the (scaled) kernel over a plane through its centre, 1/m: for the cubic spline,
    2 pi h^2 (8 / (pi h^3)) (7 / 80) = 1.4 / h."""
    return 1.4 * scale / h


def _geom_surface_points(shape: Shape, spacing: float, inset: float) -> np.ndarray:
    """Points spread about ``spacing`` apart over a geom's surface moved ``inset`` inwards, in the geom frame.
    A box thinner than two insets gets its two faces' layers merged into one in its middle (where they meet);
    a round geom keeps at least half its radius, so it keeps its shape."""
    import trimesh

    size = np.asarray(shape.size, np.float64)
    if shape.type == GeomType.BOX:
        inset = min(inset, float(size.min()))
        return np.unique(_box_surface(size - inset, spacing), axis=0)
    if shape.type == GeomType.SPHERE:
        radius = float(size[0]) - min(inset, 0.5 * float(size[0]))
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    elif shape.type == GeomType.CAPSULE:
        radius = float(size[0]) - min(inset, 0.5 * float(size[0]))
        mesh = trimesh.creation.capsule(height=2.0 * float(size[1]), radius=radius, count=[24, 24])
    elif shape.type == GeomType.CYLINDER:
        inset = min(inset, 0.5 * float(size[:2].min()))
        mesh = trimesh.creation.cylinder(radius=float(size[0]) - inset, height=2.0 * (float(size[1]) - inset),
                                         sections=48)
    elif shape.type == GeomType.CONVEX:
        mesh = _inset_hull(shape, inset)
    else:
        return np.zeros((0, 3))
    return _even_surface_points(mesh, spacing)


def _inset_hull(shape: Shape, inset: float):
    """The convex hull of a convex shape with every face moved ``inset`` inwards (at most half the distance
    from its centre of mass to the nearest face)."""
    import trimesh
    from scipy.spatial import HalfspaceIntersection

    planes = np.asarray(shape.planes, np.float64)
    centre = np.asarray(shape.center_of_mass, np.float64)
    depth = planes[:, 3] - planes[:, :3] @ centre
    inset = min(inset, 0.5 * float(depth.min()))
    corners = HalfspaceIntersection(np.c_[planes[:, :3], -(planes[:, 3] - inset)], centre).intersections
    return trimesh.Trimesh(vertices=corners).convex_hull


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


def sample_rigid_boundary(bodies: list, spacing: float, particle_size: float, h: float, scale: float
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundary particles of every colliding, bounded rigid body (free bodies' ``RigidBodySpec`` and links'
    ``LinkBodySpec``, numbered as the rigid solver numbers them): positions in the body frame (nb, 3), m, body
    indices (nb,), and volumes (nb,), m^3, half a ``particle_size`` inside the surface (see the module
    docstring). Planes are left out: the domain's walls bound the liquid."""
    from scipy.spatial import cKDTree

    local, owner, volume = [], [], []
    depth_area = particle_size * planar_kernel_integral(h, scale)  # m^3 per unit of the normalised area share
    for index, body in enumerate(bodies):
        if not body.collides:
            continue
        points = []
        for geom in body.geoms:
            geom = geom[0] if isinstance(geom, tuple) else geom  # a link's (GeomSpec, friction, ...)
            surface = _geom_surface_points(geom.shape, spacing, 0.5 * particle_size)
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
        volume.append(depth_area / sums)
    if not local:
        return np.zeros((0, 3)), np.zeros(0, np.int32), np.zeros(0)
    return np.concatenate(local), np.concatenate(owner), np.concatenate(volume)
