"""Collision shapes on the host: what the narrow phase needs of each geometry, and its mass properties.

Every shape is described in its own frame by:
- an analytic signed distance (by ``GeomType`` and ``size``), or, for convex meshes, the planes of its
  faces (the SDF is the largest plane distance: exact inside and on faces, a lower bound outside);
- a list of collider points, each inflated by ``point_radius``: a sphere is its centre with the sphere's
  radius, a capsule its two segment ends with the capsule's radius, a box its 8 corners, a cylinder
  points on its two rims, a convex mesh its hull vertices. Contacts are found by testing one shape's
  points against the other's signed distance (both ways where needed), which gives multi-point
  manifolds for free (a box resting on a plane or a box touches at four corners) and a stable feature
  id per contact (the point), used to warm-start the solver.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import trimesh


class GeomType(enum.IntEnum):
    PLANE = 0
    SPHERE = 1
    BOX = 2
    CAPSULE = 3
    CYLINDER = 4
    CONVEX = 5


CYLINDER_RIM_POINTS = 16
"""Points per rim of a cylinder's collider: its edges are touched at these points only."""

MAX_CONVEX_POINTS = 32
"""Most vertices of a convex collider: a finer hull is replaced by the hull of this many of its vertices,
spread by farthest-point sampling (a 32-vertex hull has at most 60 faces; collision cost grows with both)."""


@dataclass(frozen=True)
class Shape:
    """A collision geometry in its own frame, with unit-density mass properties.

    size: type-specific sizes, m: box half extents; sphere (radius, 0, 0); capsule (radius, half segment
        length, 0); cylinder (radius, half height, 0); plane and convex unused.
    points: (P, 3) collider points, m; point_radius: their inflation, m.
    planes: (F, 4) outward unit normal and offset (n . x = offset on the face) for convex meshes.
    volume: m^3; center_of_mass: (3,), m; inertia: (3, 3) about the centre of mass for density 1, kg m^2 / (kg/m^3).
    local_aabb: (2, 3) lower and upper corner in the shape frame (infinite for a plane).
    """

    type: GeomType
    size: np.ndarray
    points: np.ndarray
    point_radius: float
    planes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    volume: float = 0.0
    center_of_mass: np.ndarray = field(default_factory=lambda: np.zeros(3))
    inertia: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    local_aabb: np.ndarray = field(default_factory=lambda: np.array([[-np.inf] * 3, [np.inf] * 3]))

    @staticmethod
    def plane() -> Shape:
        """The half-space z <= 0 of its frame; infinite and always fixed."""
        return Shape(GeomType.PLANE, np.zeros(3), np.zeros((0, 3)), 0.0)

    @staticmethod
    def sphere(radius: float) -> Shape:
        volume = 4.0 / 3.0 * np.pi * radius**3
        inertia = np.eye(3) * 0.4 * volume * radius**2
        return Shape(GeomType.SPHERE, np.array([radius, 0.0, 0.0]), np.zeros((1, 3)), radius,
                     volume=volume, inertia=inertia, local_aabb=np.array([[-radius] * 3, [radius] * 3]))

    @staticmethod
    def box(half_extents: np.ndarray) -> Shape:
        half = np.asarray(half_extents, dtype=np.float64)
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
        volume = 8.0 * np.prod(half)
        hx2, hy2, hz2 = (2 * half) ** 2
        inertia = np.diag([hy2 + hz2, hx2 + hz2, hx2 + hy2]) * volume / 12.0
        return Shape(GeomType.BOX, half, corners, 0.0, volume=volume, inertia=inertia,
                     local_aabb=np.array([-half, half]))

    @staticmethod
    def capsule(radius: float, height: float) -> Shape:
        """Segment from z = -height/2 to +height/2, inflated by ``radius``."""
        half = height / 2.0
        mesh = trimesh.creation.capsule(height=height, radius=radius, count=[24, 24])
        return Shape(GeomType.CAPSULE, np.array([radius, half, 0.0]), np.array([[0, 0, -half], [0, 0, half]]), radius,
                     volume=float(mesh.volume), inertia=_unit_density_inertia(mesh),
                     local_aabb=np.array([[-radius, -radius, -half - radius], [radius, radius, half + radius]]))

    @staticmethod
    def cylinder(radius: float, height: float) -> Shape:
        half = height / 2.0
        angles = np.linspace(0.0, 2.0 * np.pi, CYLINDER_RIM_POINTS, endpoint=False)
        rim = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
        points = np.concatenate([np.c_[rim, np.full(len(rim), z)] for z in (-half, half)])
        volume = np.pi * radius**2 * height
        ixx = volume * (3 * radius**2 + height**2) / 12.0
        inertia = np.diag([ixx, ixx, 0.5 * volume * radius**2])
        return Shape(GeomType.CYLINDER, np.array([radius, half, 0.0]), points, 0.0, volume=volume, inertia=inertia,
                     local_aabb=np.array([[-radius, -radius, -half], [radius, radius, half]]))

    @staticmethod
    def convex(mesh: trimesh.Trimesh) -> Shape:
        """The convex hull of ``mesh`` (its vertices in the shape frame, m)."""
        hull = mesh.convex_hull
        if len(hull.vertices) > MAX_CONVEX_POINTS:
            hull = trimesh.Trimesh(vertices=_farthest_points(np.asarray(hull.vertices), MAX_CONVEX_POINTS)).convex_hull
        normals = np.asarray(hull.face_normals)
        offsets = np.einsum("ij,ij->i", normals, hull.vertices[hull.faces[:, 0]])
        planes = np.unique(np.round(np.c_[normals, offsets], 9), axis=0)
        points = np.asarray(hull.vertices)
        return Shape(GeomType.CONVEX, np.zeros(3), points, 0.0, planes=planes, volume=float(hull.volume),
                     center_of_mass=np.asarray(hull.center_mass), inertia=_unit_density_inertia(hull),
                     local_aabb=np.array(hull.bounds))


def _unit_density_inertia(mesh: trimesh.Trimesh) -> np.ndarray:
    """Inertia tensor about the centre of mass at density 1 (trimesh's moment_inertia uses density 1)."""
    mesh = mesh.copy()
    mesh.density = 1.0
    return np.asarray(mesh.moment_inertia, dtype=np.float64)


def _farthest_points(points: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` points spread over ``points`` by farthest-point sampling (deterministic)."""
    if len(points) <= count:
        return points
    chosen = [int(np.argmax(np.linalg.norm(points - points.mean(0), axis=1)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < count:
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return points[np.sort(chosen)]
