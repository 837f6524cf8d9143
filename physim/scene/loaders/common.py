"""What the URDF and MJCF loaders share: poses, mass properties, geometry, and the assembly of bodies into an
:class:`ArticulationSpec` (with fixed links merged into their parents).

A loader first describes the robot as a list of :class:`BodyDraft` (mutable, parents first, everything in
SI units and already scaled), then calls :func:`assemble`, which merges welded links where asked and
freezes the result.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from physim.errors import AssetError
from physim.solvers.rigid.articulation_model import (
    ActuatorSpec,
    ArticulationSpec,
    JointSpec,
    JointType,
    LinkGeom,
    LinkSpec,
    LinkVisual,
)
from physim.solvers.rigid.model import GeomSpec
from physim.solvers.rigid.shapes import Shape
from physim.utils.rotations import quat_to_matrix

# ---------------------------------------------------------------------------------------------- poses


def quat_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix, with w >= 0."""
    x, y, z, w = Rotation.from_matrix(np.asarray(rotation, dtype=np.float64)).as_quat()
    quat = np.array([w, x, y, z])
    return -quat if w < 0 else quat


def transform(pos=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 homogeneous transform of a position (m) and a unit quaternion (w, x, y, z)."""
    matrix = np.eye(4)
    matrix[:3, :3] = quat_to_matrix(np.asarray(quat, dtype=np.float64))
    matrix[:3, 3] = pos
    return matrix


def split_transform(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position and quaternion (w, x, y, z) of a 4x4 transform."""
    return np.array(matrix[:3, 3], dtype=np.float64), quat_from_matrix(matrix[:3, :3])


# ---------------------------------------------------------------------------------- mass properties


@dataclass
class MassProperties:
    """Mass (kg), centre of mass (m) and inertia about it (kg m^2), in one frame."""

    mass: float = 0.0
    com: np.ndarray = field(default_factory=lambda: np.zeros(3))
    inertia: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))

    def moved(self, pose: np.ndarray) -> MassProperties:
        """The same body seen from a frame in which its current frame sits at ``pose`` (4x4)."""
        rotation = pose[:3, :3]
        return MassProperties(self.mass, rotation @ self.com + pose[:3, 3], rotation @ self.inertia @ rotation.T)

    def __add__(self, other: MassProperties) -> MassProperties:
        """The union of two bodies given in the same frame (parallel-axis theorem)."""
        mass = self.mass + other.mass
        if mass <= 0:
            return MassProperties()
        com = (self.mass * self.com + other.mass * other.com) / mass
        inertia = np.zeros((3, 3))
        for part in (self, other):
            offset = part.com - com
            inertia += part.inertia + part.mass * (offset @ offset * np.eye(3) - np.outer(offset, offset))
        return MassProperties(mass, com, inertia)


# ----------------------------------------------------------------------------------------- geometry


def load_mesh_file(path: Path, source: str, element: str, scale=(1.0, 1.0, 1.0)) -> trimesh.Trimesh:
    """A mesh file (OBJ, STL, DAE, GLB, PLY...) as one scaled triangle mesh; errors name the robot file and
    the element that referenced the mesh."""
    if not path.is_file():
        raise AssetError(f"{source}: {element}: mesh file not found: {str(path)!r}")
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as error:  # trimesh raises many types for unreadable files
        raise AssetError(f"{source}: {element}: cannot read mesh {str(path)!r}: {error}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise AssetError(f"{source}: {element}: mesh {str(path)!r} holds no triangles")
    if not np.all(np.isfinite(loaded.vertices)):
        raise AssetError(f"{source}: {element}: mesh {str(path)!r} has non-finite vertex coordinates")
    loaded.apply_scale(np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,)))
    return loaded


def convex_shape(mesh: trimesh.Trimesh, source: str, element: str) -> Shape | None:
    """The convex hull collider of a mesh, or None (with a warning) when the mesh encloses no volume."""
    try:
        shape = Shape.convex(mesh)
    except Exception as error:  # qhull fails on flat or degenerate point sets
        warnings.warn(f"{source}: {element}: mesh has no solid convex hull, skipped as a collider ({error})",
                      stacklevel=3)
        return None
    if not shape.volume > 0:
        warnings.warn(f"{source}: {element}: mesh encloses no volume, skipped as a collider", stacklevel=3)
        return None
    return shape


def ellipsoid_mesh(radii: np.ndarray) -> trimesh.Trimesh:
    """A convex polyhedron approximating an ellipsoid of semi-axes ``radii`` (m)."""
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    mesh.vertices = mesh.vertices * np.asarray(radii)
    return mesh


def primitive_visual(kind: str, size: np.ndarray) -> trimesh.Trimesh:
    """A drawable mesh of a primitive in its own frame. kind: box (half extents), sphere (r), capsule
    (r, half length), cylinder (r, half length), ellipsoid (semi-axes)."""
    if kind == "box":
        return trimesh.creation.box(extents=2 * np.asarray(size[:3]))
    if kind == "sphere":
        return trimesh.creation.icosphere(subdivisions=2, radius=size[0])
    if kind == "capsule":
        return trimesh.creation.capsule(height=2 * size[1], radius=size[0], count=[24, 12])
    if kind == "cylinder":
        return trimesh.creation.cylinder(radius=size[0], height=2 * size[1], sections=24)
    if kind == "ellipsoid":
        return ellipsoid_mesh(size[:3])
    raise ValueError(kind)


def primitive_shape(kind: str, size: np.ndarray) -> Shape:
    """The collider of a primitive (sizes as in :func:`primitive_visual`)."""
    if kind == "box":
        return Shape.box(np.asarray(size[:3]))
    if kind == "sphere":
        return Shape.sphere(float(size[0]))
    if kind == "capsule":
        return Shape.capsule(float(size[0]), 2 * float(size[1]))
    if kind == "cylinder":
        return Shape.cylinder(float(size[0]), 2 * float(size[1]))
    if kind == "ellipsoid":
        return Shape.convex(ellipsoid_mesh(size[:3]))
    raise ValueError(kind)


def primitive_unit_mass(kind: str, size: np.ndarray) -> tuple[float, np.ndarray]:
    """Exact volume (m^3) and inertia about the centre at density 1 (kg m^2 per kg/m^3) of a primitive,
    in its own frame (the formulas MuJoCo uses)."""
    if kind == "box":
        hx, hy, hz = size[:3]
        volume = 8 * hx * hy * hz
        return volume, np.diag([hy**2 + hz**2, hx**2 + hz**2, hx**2 + hy**2]) * volume / 3.0
    if kind == "sphere":
        r = size[0]
        volume = 4.0 / 3.0 * np.pi * r**3
        return volume, np.eye(3) * 0.4 * volume * r**2
    if kind == "ellipsoid":
        a, b, c = size[:3]
        volume = 4.0 / 3.0 * np.pi * a * b * c
        return volume, np.diag([b**2 + c**2, a**2 + c**2, a**2 + b**2]) * volume / 5.0
    if kind == "cylinder":
        r, half = size[:2]
        volume = np.pi * r**2 * 2 * half
        ixx = volume * (3 * r**2 + (2 * half) ** 2) / 12.0
        return volume, np.diag([ixx, ixx, 0.5 * volume * r**2])
    if kind == "capsule":
        r, half = size[:2]
        height = 2 * half
        cylinder = np.pi * r**2 * height
        sphere = 4.0 / 3.0 * np.pi * r**3
        izz = 0.5 * cylinder * r**2 + 0.4 * sphere * r**2
        # Two hemispheres: own inertia about their joint centre plus the offset of their centres of mass.
        hemi_offset = half + 3.0 * r / 8.0
        ixx = (cylinder * (3 * r**2 + height**2) / 12.0
               + sphere * (0.4 * r**2 - (3.0 * r / 8.0) ** 2) + sphere * hemi_offset**2)
        return cylinder + sphere, np.diag([ixx, ixx, izz])
    raise ValueError(kind)


def mesh_unit_mass(mesh: trimesh.Trimesh) -> tuple[float, np.ndarray, np.ndarray]:
    """Volume (m^3), centre of mass (m) and inertia at density 1 of a mesh, by its own triangles when they
    close a volume (once duplicate vertices are merged: STL files repeat them per triangle), else by its
    as MuJoCo's default ("legacy") rule does for open meshes: tetrahedra from the area-weighted centre of
    the faces to each face, their volumes taken positive."""
    solid = trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces, process=True)
    if not solid.is_volume:
        return _open_mesh_unit_mass(solid)
    solid.density = 1.0
    volume = float(abs(solid.volume))
    if volume <= 0:
        return 0.0, np.zeros(3), np.zeros((3, 3))
    return volume, np.asarray(solid.center_mass, dtype=np.float64), np.asarray(solid.moment_inertia, dtype=np.float64)


def _open_mesh_unit_mass(mesh: trimesh.Trimesh) -> tuple[float, np.ndarray, np.ndarray]:
    triangles = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]  # (F, 3, 3)
    cross = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    area = np.linalg.norm(cross, axis=1) / 2
    if area.sum() <= 0:
        return 0.0, np.zeros(3), np.zeros((3, 3))
    apex = (area[:, None] * triangles.mean(1)).sum(0) / area.sum()
    corners = np.concatenate([np.broadcast_to(apex, (len(triangles), 1, 3)), triangles], axis=1)  # (F, 4, 3)
    volumes = np.abs(np.einsum("ij,ij->i", corners[:, 1] - apex, cross)) / 6.0
    volume = float(volumes.sum())
    if volume <= 0:
        return 0.0, np.zeros(3), np.zeros((3, 3))
    center = (volumes[:, None] * corners.mean(1)).sum(0) / volume
    relative = corners - center
    total = relative.sum(1)
    # Second moment of a tetrahedron: V/20 (sum of v v^T over its corners + (sum v)(sum v)^T).
    second = (volumes[:, None, None] / 20.0 * (np.einsum("fki,fkj->fij", relative, relative)
                                                + np.einsum("fi,fj->fij", total, total))).sum(0)
    return volume, center, np.trace(second) * np.eye(3) - second


def resolve_resource(name: str, source: Path, search_dirs: list[Path]) -> Path:
    """A mesh path named in a robot file: ``package://pkg/rest``, ``file://``, absolute, or relative to
    the robot file's folder. A package is found as a folder of that name at or above the file's folder,
    else ``rest`` is tried relative to each folder up the tree (packages are often flattened)."""
    if name.startswith("file://"):
        name = name[len("file://"):]
    if name.startswith("package://"):
        package, _, rest = name[len("package://"):].partition("/")
        candidates = []
        for folder in [source.parent, *source.parent.parents][:6]:
            candidates += [folder / package / rest, folder / rest]
            if folder.name == package:
                candidates.append(folder / rest)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        return source.parent / rest
    path = Path(os.path.expanduser(name))
    if path.is_absolute():
        return path
    for folder in search_dirs:
        if (folder / path).is_file():
            return folder / path
    return search_dirs[0] / path


# ------------------------------------------------------------------------------------------- caching

_CACHE: OrderedDict[tuple, ArticulationSpec] = OrderedDict()
CACHE_SIZE = 16
"""Robot files loaded lately, by the morph fields a loader reads and the file's modification time: scenes
built one after another (tests, sweeps, data generation) and robots placed side by side read each description
once. Specs are frozen and shared: never modify them."""


def cached(morph, read: Callable[[], ArticulationSpec]) -> ArticulationSpec:
    """The spec of ``morph`` from the cache, or ``read()`` (then cached) when the file changed or is new."""
    # The entity's placement (pos, euler, quat) is not part of the spec: robots placed apart share one.
    fields = ("file", "scale", "fixed", "default_armature", "collision", "visualization", "merge_fixed_links",
              "links_to_keep")
    try:
        key = (type(morph).__name__, *(getattr(morph, name, None) for name in fields),
               os.stat(morph.file).st_mtime_ns)
        hash(key)
    except (OSError, TypeError):
        return read()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    spec = read()
    _CACHE[key] = spec
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return spec


def clear_cache() -> None:
    """Forget every cached spec (the next load reads its file again, and warns again)."""
    _CACHE.clear()


# ------------------------------------------------------------------------------------------ assembly


@dataclass
class BodyDraft:
    """A link as a loader builds it. pose: the link frame in its parent's frame when its joints are at
    zero (4x4). Geoms and visuals are placed in the link frame."""

    name: str
    parent: int
    pose: np.ndarray
    joints: list[JointSpec] = field(default_factory=list)
    inertial: MassProperties = field(default_factory=MassProperties)
    geoms: list[LinkGeom] = field(default_factory=list)
    visuals: list[LinkVisual] = field(default_factory=list)
    mergeable: bool = False  # welded to its parent and allowed to be folded into it


def placed_geom(geom: LinkGeom, pose: np.ndarray) -> LinkGeom:
    """A link geom re-placed by ``pose`` (the frame it was given in, seen from its new frame)."""
    placement = pose @ transform(geom.geom.pos, geom.geom.quat)
    pos, quat = split_transform(placement)
    return LinkGeom(GeomSpec(geom.geom.shape, pos, quat), geom.friction, geom.restitution, geom.contype,
                    geom.conaffinity)


def placed_visual(visual: LinkVisual, pose: np.ndarray) -> LinkVisual:
    mesh = visual.mesh.copy()
    mesh.apply_transform(pose)
    return LinkVisual(mesh, visual.rgba)


def assemble(name: str, bodies: list[BodyDraft], source: str, actuators: tuple[ActuatorSpec, ...] = ()
             ) -> ArticulationSpec:
    """Freeze drafts into an ArticulationSpec, folding every ``mergeable`` body into its nearest kept
    ancestor (mass properties combined, geoms and visuals re-placed) and recording it in ``merged_links``."""
    new_index: list[int] = []  # draft index -> index of the link it lives in
    offset: list[np.ndarray] = []  # draft frame seen from that link's frame
    kept: list[BodyDraft] = []
    merged: dict[str, tuple[int, np.ndarray]] = {}
    for draft in bodies:
        # Parents come first, so a chain of welded links folds into the first kept ancestor (offsets compose).
        if draft.mergeable and draft.parent >= 0 and not draft.joints:
            target = new_index[draft.parent]
            pose = offset[draft.parent] @ draft.pose
            host = kept[target]
            host.inertial = host.inertial + draft.inertial.moved(pose)
            host.geoms += [placed_geom(geom, pose) for geom in draft.geoms]
            host.visuals += [placed_visual(visual, pose) for visual in draft.visuals]
            merged[draft.name] = (target, pose)
            new_index.append(target)
            offset.append(pose)
            continue
        parent = new_index[draft.parent] if draft.parent >= 0 else -1
        pose = offset[draft.parent] @ draft.pose if draft.parent >= 0 else draft.pose
        kept.append(BodyDraft(draft.name, parent, pose, list(draft.joints), draft.inertial, list(draft.geoms),
                              list(draft.visuals)))
        new_index.append(len(kept) - 1)
        offset.append(np.eye(4))
    links = []
    for draft in kept:
        pos, quat = split_transform(draft.pose)
        links.append(LinkSpec(name=draft.name, parent=draft.parent, pos=pos, quat=quat, joints=tuple(draft.joints),
                              mass=float(draft.inertial.mass), com=np.array(draft.inertial.com, dtype=np.float64),
                              inertia=0.5 * (draft.inertial.inertia + draft.inertial.inertia.T),
                              geoms=tuple(draft.geoms), visuals=tuple(draft.visuals)))
    check_names(links, source)
    return ArticulationSpec(name=name, links=tuple(links), actuators=tuple(actuators), merged_links=merged,
                            source=source)


def check_names(links: list[LinkSpec], source: str) -> None:
    """Link names and joint names must each be unique: users address them by name."""
    seen: set[str] = set()
    for link in links:
        if link.name in seen:
            raise AssetError(f"{source}: two links are named {link.name!r}")
        seen.add(link.name)
    seen.clear()
    for link in links:
        for joint in link.joints:
            if joint.name in seen:
                raise AssetError(f"{source}: two joints are named {joint.name!r}")
            seen.add(joint.name)


def free_joint(name: str, pose: np.ndarray) -> JointSpec:
    """A free joint whose rest coordinates are ``pose`` (the link's placement in the world)."""
    pos, quat = split_transform(pose)
    return JointSpec(name=name, type=JointType.FREE, qpos0=np.concatenate([pos, quat]))
