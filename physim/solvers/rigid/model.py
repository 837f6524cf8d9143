"""The rigid model: what the scene describes, assembled once into flat arrays (numpy, host side).

A body is a set of geoms, each a collision shape placed in the body frame. Its mass properties are
those of the union of its geoms at the body's density: mass, centre of mass, and inertia about that
centre (parallel-axis theorem). Collision filtering follows MuJoCo: two geoms may touch when
``contype_a & conaffinity_b`` or ``contype_b & conaffinity_a`` is non-zero, and never when they belong
to the same body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physim.solvers.rigid import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.rigid.shapes import GeomType, Shape
from physim.utils.rotations import quat_to_matrix


@dataclass(frozen=True)
class GeomSpec:
    """A collision shape placed in its body's frame (position m, unit quaternion w, x, y, z)."""

    shape: Shape
    pos: np.ndarray = field(default_factory=lambda: np.zeros(3))
    quat: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))


@dataclass(frozen=True)
class RigidBodySpec:
    """One rigid body as the scene hands it to the solver.

    geoms: its collision shapes. pos/quat: initial pose of the body frame.
    rho: density, kg/m^3; friction, restitution: contact coefficients; fixed: welded to the world.
    collides: whether it takes part in collisions; contype/conaffinity: collision filter bit masks.
    """

    name: str
    geoms: tuple[GeomSpec, ...]
    pos: np.ndarray
    quat: np.ndarray
    fixed: bool
    rho: float
    friction: float
    restitution: float
    collides: bool = True
    contype: int = 1
    conaffinity: int = 1

    def mass_properties(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Mass (kg), centre of mass in the body frame (m) and inertia about it (kg m^2)."""
        masses, centers, inertias = [], [], []
        for geom in self.geoms:
            rotation = quat_to_matrix(geom.quat)
            masses.append(self.rho * geom.shape.volume)
            centers.append(geom.pos + rotation @ geom.shape.center_of_mass)
            inertias.append(self.rho * rotation @ geom.shape.inertia @ rotation.T)
        mass = float(sum(masses))
        if mass <= 0:
            return 0.0, np.zeros(3), np.zeros((3, 3))
        center = sum(m * c for m, c in zip(masses, centers)) / mass
        inertia = np.zeros((3, 3))
        for m, c, own in zip(masses, centers, inertias):
            offset = c - center
            inertia += own + m * (offset @ offset * np.eye(3) - np.outer(offset, offset))
        return mass, center, inertia

    @property
    def movable(self) -> bool:
        return not self.fixed and all(g.shape.type != GeomType.PLANE for g in self.geoms)


@dataclass(frozen=True)
class LinkBodySpec:
    """A link of an articulation as a body: mass properties as its file states them (kg, m, kg m^2 about the
    centre of mass, link frame), its collision geoms with per-geom contact parameters, and its place in the tree.

    geoms: (GeomSpec, friction, restitution, contype, conaffinity) per collision geometry.
    tree / link: indices of its articulation and of the link among all links; parent_body: the body of its
    parent link or -1; movable: whether any joint moves it. local: its index within its tree; exclude: bit
    masks over the tree's links it never collides with (see ``layout.EXCLUDE_LO``).
    """

    name: str
    geoms: tuple[tuple[GeomSpec, float, float, int, int], ...]
    mass: float
    com: np.ndarray
    inertia: np.ndarray
    tree: int
    link: int
    parent_body: int
    movable: bool
    collides: bool = True
    local: int = 0
    exclude: tuple[int, int] = (0, 0)


@dataclass
class RigidModel:
    """Flat arrays of the model, in the layout of :mod:`physim.solvers.rigid.layout`."""

    body_inv_mass: np.ndarray
    body_model_vec3: np.ndarray
    body_model_mat3: np.ndarray
    geom_model_int: np.ndarray
    geom_model_scalar: np.ndarray
    geom_model_vec3: np.ndarray
    geom_model_quat: np.ndarray
    points: np.ndarray
    planes: np.ndarray
    bounded_geoms: np.ndarray
    unbounded_geoms: np.ndarray
    body_center_of_mass: np.ndarray
    n_points: int
    body_model_int: np.ndarray

    @property
    def n_geoms(self) -> int:
        return len(self.geom_model_int)


def assemble(bodies: list[RigidBodySpec], float_type: type, links: list[LinkBodySpec] = ()) -> RigidModel:
    """Flatten body specs, then link bodies (after them, in order), into arrays; arrays are never empty (one
    padding row where needed). Links keep zero inverse mass and inertia: their response lives in dof space."""
    f = float_type
    n_bodies = max(len(bodies) + len(links), 1)
    inv_mass = np.zeros(n_bodies, f)
    com = np.zeros((n_bodies, 1, 3))
    inertia = np.zeros((n_bodies, 2, 3, 3))
    body_int = np.zeros((n_bodies, L.BODY_INT_SLOTS), np.int32)
    body_int[:, [L.BODY_TREE, L.BODY_LINK, L.BODY_PARENT, L.BODY_LOCAL]] = -1
    geom_int, geom_scalar, geom_vec3, geom_quat = [], [], [], []
    points, planes = [], []
    bounded, unbounded = [], []
    entries = [(body, [(g, body.friction, body.restitution, body.contype, body.conaffinity) for g in body.geoms])
               for body in bodies] + [(link, list(link.geoms)) for link in links]
    for index, (body, geoms) in enumerate(entries):
        if isinstance(body, LinkBodySpec):
            com[index, L.COM_LOCAL] = body.com
            inertia[index, L.INERTIA] = body.inertia
            body_int[index] = (body.tree, body.link, body.parent_body, int(body.movable), body.local, *body.exclude)
        else:
            mass, center, body_inertia = body.mass_properties()
            com[index, L.COM_LOCAL] = center
            if body.movable and mass > 0:
                inv_mass[index] = 1.0 / mass
                inertia[index, L.INERTIA] = body_inertia
                inertia[index, L.INV_INERTIA] = np.linalg.inv(body_inertia)
                body_int[index, L.BODY_MOVABLE] = 1
        for geom, friction, restitution, contype, conaffinity in geoms:
            shape = geom.shape
            geom_index = len(geom_int)
            if body.collides:
                (unbounded if shape.type == GeomType.PLANE else bounded).append(geom_index)
            row = np.zeros(L.GEOM_INT_SLOTS, np.int32)
            row[[L.GEOM_BODY, L.GEOM_TYPE, L.POINT_START, L.POINT_COUNT, L.PLANE_START, L.PLANE_COUNT,
                 L.CONTYPE, L.CONAFFINITY]] = (index, int(shape.type), sum(map(len, points)), len(shape.points),
                                               sum(map(len, planes)), len(shape.planes), contype, conaffinity)
            geom_int.append(row)
            geom_scalar.append((friction, restitution, shape.point_radius))
            vec3 = np.zeros((4, 3))
            vec3[L.SIZE] = shape.size
            vec3[L.LOCAL_POS] = geom.pos
            # A plane's bounds are infinite and never used: keep them finite for single precision.
            vec3[[L.AABB_LOCAL_LO, L.AABB_LOCAL_HI]] = np.clip(shape.local_aabb, -1e6, 1e6)
            geom_vec3.append(vec3)
            geom_quat.append(geom.quat)
            points.append(shape.points)
            planes.append(shape.planes)
    if not geom_int:  # an empty scene still gets arrays to pass to the kernel
        geom_int, geom_scalar = [np.zeros(L.GEOM_INT_SLOTS, np.int32)], [(0.0, 0.0, 0.0)]
        geom_vec3, geom_quat = [np.zeros((4, 3))], [np.array([1.0, 0, 0, 0])]
    return RigidModel(
        body_inv_mass=inv_mass,
        body_model_vec3=com.astype(f),
        body_model_mat3=inertia.astype(f),
        geom_model_int=np.array(geom_int, np.int32),
        geom_model_scalar=np.array(geom_scalar, f),
        geom_model_vec3=np.array(geom_vec3, f),
        geom_model_quat=np.array(geom_quat, f),
        points=_stack_or_pad(points, 3, f),
        planes=_stack_or_pad(planes, 4, f),
        bounded_geoms=np.array(bounded, np.int32),
        unbounded_geoms=np.array(unbounded, np.int32),
        body_center_of_mass=com[:, L.COM_LOCAL].copy(),
        n_points=sum(map(len, points)),
        body_model_int=body_int,
    )


def _stack_or_pad(blocks: list[np.ndarray], width: int, float_type: type) -> np.ndarray:
    rows = [block for block in blocks if len(block)]
    return np.concatenate(rows).astype(float_type) if rows else np.zeros((1, width), float_type)
