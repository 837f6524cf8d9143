"""Morphs say what an entity is and where it starts: shape, size and initial pose. No physics here.

Lengths are metres, angles degrees. Every morph is frozen and validated at construction; a bad value
raises :class:`physim.errors.InvalidValueError` naming the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physim.errors import AssetError, InvalidValueError
from physim.utils import validate as v
from physim.utils.rotations import normalize_quat, quat_from_euler_deg

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"


@dataclass(frozen=True)
class Morph:
    """Placement shared by every morph.

    pos: initial position of the entity's frame, m.
    euler: initial orientation as extrinsic x-y-z angles, degrees (ignored when ``quat`` is given).
    quat: initial orientation as a unit quaternion (w, x, y, z).
    fixed: the entity never moves (it is welded to the world).
    visualization / collision: whether it is drawn / whether it collides.
    """

    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    euler: tuple[float, float, float] | None = None
    quat: tuple[float, float, float, float] | None = None
    fixed: bool = False
    visualization: bool = True
    collision: bool = True

    def __post_init__(self) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "pos", v.finite_vector(owner, "pos", self.pos, 3))
        if self.quat is not None:
            quat = normalize_quat(owner, "quat", v.finite_vector(owner, "quat", self.quat, 4))
        elif self.euler is not None:
            euler = v.finite_vector(owner, "euler", self.euler, 3)
            object.__setattr__(self, "euler", euler)
            quat = tuple(float(x) for x in quat_from_euler_deg(np.array(euler)))
        else:
            quat = (1.0, 0.0, 0.0, 0.0)
        object.__setattr__(self, "quat", quat)
        self._validate_shape(owner)

    def _validate_shape(self, owner: str) -> None:
        """Subclasses check their own size fields here."""


@dataclass(frozen=True)
class Plane(Morph):
    """An infinite ground plane through ``pos`` with upward ``normal``. Always fixed.

    plane_size: the size of the drawn patch, m (the collider is infinite).
    """

    normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    plane_size: tuple[float, float] = (20.0, 20.0)
    fixed: bool = True

    def _validate_shape(self, owner: str) -> None:
        normal = np.array(v.finite_vector(owner, "normal", self.normal, 3))
        if np.linalg.norm(normal) < 1e-9:
            raise InvalidValueError(f"{owner}.normal: must not be zero, got {self.normal!r}")
        normal /= np.linalg.norm(normal)
        object.__setattr__(self, "normal", tuple(float(x) for x in normal))
        object.__setattr__(self, "plane_size", v.positive_vector(owner, "plane_size", self.plane_size, 2))
        if not self.fixed:
            raise InvalidValueError(f"{owner}.fixed: a plane is always fixed, got {self.fixed!r}")
        # The plane's orientation is its normal: rotate local +z onto it (quat/euler are ignored).
        z = np.array([0.0, 0.0, 1.0])
        axis = np.cross(z, normal)
        sin, cos = np.linalg.norm(axis), float(np.dot(z, normal))
        if sin < 1e-9:
            quat = (1.0, 0.0, 0.0, 0.0) if cos > 0 else (0.0, 1.0, 0.0, 0.0)
        else:
            half = np.arctan2(sin, cos) / 2.0
            quat = tuple(float(x) for x in np.concatenate([[np.cos(half)], axis / sin * np.sin(half)]))
        object.__setattr__(self, "quat", quat)


@dataclass(frozen=True)
class Box(Morph):
    """A box, given by ``size`` (edge lengths, m, centred on ``pos``) or by ``lower``/``upper`` corners.

    With ``lower``/``upper`` the box is axis-aligned and ``pos`` becomes their midpoint.
    """

    size: tuple[float, float, float] | None = None
    lower: tuple[float, float, float] | None = None
    upper: tuple[float, float, float] | None = None

    def _validate_shape(self, owner: str) -> None:
        corners = self.lower is not None or self.upper is not None
        if corners:
            if self.size is not None or self.lower is None or self.upper is None:
                raise InvalidValueError(f"{owner}: give either size, or both lower and upper, got "
                                        f"size={self.size!r}, lower={self.lower!r}, upper={self.upper!r}")
            lower = np.array(v.finite_vector(owner, "lower", self.lower, 3))
            upper = np.array(v.finite_vector(owner, "upper", self.upper, 3))
            if np.any(upper <= lower):
                raise InvalidValueError(f"{owner}.upper: must exceed lower on every axis, got lower={self.lower!r}, "
                                        f"upper={self.upper!r}")
            object.__setattr__(self, "size", tuple(float(x) for x in upper - lower))
            object.__setattr__(self, "pos", tuple(float(x) for x in (upper + lower) / 2))
        elif self.size is None:
            object.__setattr__(self, "size", (1.0, 1.0, 1.0))
        object.__setattr__(self, "size", v.positive_vector(owner, "size", self.size, 3))


def open_box(inner: tuple[float, float], height: float, wall: float, pos: tuple[float, float, float] = (0.0, 0.0, 0.0),
             fixed: bool = True) -> list[Box]:
    """A container open at the top, as five boxes: a floor ``wall`` thick and four walls ``height`` tall
    around an ``inner`` (x, y) opening, m, standing on ``pos`` (the floor's underside centre). Add each box as
    a rigid entity: a cup or tank for liquids and granular matter."""
    owner = "morphs.open_box"
    inner_x, inner_y = v.positive_vector(owner, "inner", inner, 2)
    height = v.finite_scalar(owner, "height", height, low=0.0, low_open=True)
    wall = v.finite_scalar(owner, "wall", wall, low=0.0, low_open=True)
    if height <= wall:
        raise InvalidValueError(f"{owner}.height: must exceed wall (the floor's thickness), got height={height!r}, "
                                f"wall={wall!r}")
    x, y, z = v.finite_vector(owner, "pos", pos, 3)
    outer_x, outer_y = inner_x + 2 * wall, inner_y + 2 * wall
    side_x, side_y = inner_x / 2 + wall / 2, inner_y / 2 + wall / 2
    parts = [((outer_x, outer_y, wall), (0.0, 0.0, wall / 2)),
             ((wall, outer_y, height), (side_x, 0.0, height / 2)),
             ((wall, outer_y, height), (-side_x, 0.0, height / 2)),
             ((inner_x, wall, height), (0.0, side_y, height / 2)),
             ((inner_x, wall, height), (0.0, -side_y, height / 2))]
    return [Box(size=size, pos=(x + dx, y + dy, z + dz), fixed=fixed) for size, (dx, dy, dz) in parts]


@dataclass(frozen=True)
class Sphere(Morph):
    """A sphere of ``radius``, m, centred on ``pos``."""

    radius: float = 0.5

    def _validate_shape(self, owner: str) -> None:
        object.__setattr__(self, "radius", v.positive(owner, "radius", self.radius))


@dataclass(frozen=True)
class Capsule(Morph):
    """A capsule along its local z axis: a cylinder of ``height`` (between the two hemisphere
    centres, as MuJoCo's and trimesh's) capped by hemispheres of ``radius``, m."""

    radius: float = 0.1
    height: float = 0.4

    def _validate_shape(self, owner: str) -> None:
        object.__setattr__(self, "radius", v.positive(owner, "radius", self.radius))
        object.__setattr__(self, "height", v.positive(owner, "height", self.height))


@dataclass(frozen=True)
class Cylinder(Morph):
    """A solid cylinder along its local z axis, of ``radius`` and total ``height``, m."""

    radius: float = 0.1
    height: float = 0.4

    def _validate_shape(self, owner: str) -> None:
        object.__setattr__(self, "radius", v.positive(owner, "radius", self.radius))
        object.__setattr__(self, "height", v.positive(owner, "height", self.height))


def resolve_asset_path(owner: str, field: str, file: str | os.PathLike) -> Path:
    """A user-named file: as given (relative to the working directory), else under physim's ``assets/``."""
    if not isinstance(file, (str, os.PathLike)) or str(file) == "":
        raise InvalidValueError(f"{owner}.{field}: must be a file path, got {file!r}")
    path = Path(file).expanduser()
    for candidate in (path, ASSETS_DIR / path):
        if candidate.is_file():
            return candidate.resolve()
    raise AssetError(f"{owner}.{field}: file not found: {str(path)!r} (looked in the working directory and in "
                     f"{str(ASSETS_DIR)!r})")


@dataclass(frozen=True)
class Mesh(Morph):
    """A mesh read from a file (OBJ, STL, PLY, GLB/GLTF, OFF... through trimesh).

    file: path of the mesh file. scale: a uniform factor or per-axis factors.
    The collider is the convex hull of the scaled mesh, or with ``decompose=True`` a set of convex
    parts found by CoACD (cached on disk by the file's hash), so that concave objects (a mug, a bowl)
    collide by their real shape. ``decompose_threshold`` is CoACD's concavity tolerance (smaller: more
    parts). The visual is the mesh itself, with its texture or vertex colours when the surface sets no colour.
    """

    file: str = ""
    scale: float | tuple[float, float, float] = 1.0
    decompose: bool = False
    decompose_threshold: float = 0.05

    def _validate_shape(self, owner: str) -> None:
        object.__setattr__(self, "file", str(resolve_asset_path(owner, "file", self.file)))
        if np.ndim(self.scale) == 0:
            scale = (v.positive(owner, "scale", self.scale),) * 3
        else:
            scale = v.positive_vector(owner, "scale", self.scale, 3)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "decompose_threshold",
                           v.finite_scalar(owner, "decompose_threshold", self.decompose_threshold, low=0.0,
                                           low_open=True, high=1.0))


@dataclass(frozen=True)
class _RobotFile(Morph):
    """Fields shared by the robot description morphs (URDF, MJCF).

    file: path of the description; a relative path is looked up in the working directory, then in
        physim's ``assets/`` (``"robots/arm7.urdf"``).
    scale: a uniform factor on every length (link placements, geometry, meshes); masses scale by
        ``scale**3`` and inertias by ``scale**5``, as for a solid of the same density.
    default_armature: rotor inertia given to every joint (not free joints) whose file states none,
        kg m^2 (or kg for prismatic joints). 0 by default: only what the file states is simulated.
    requires_jac_and_IK: accepted for Genesis scripts; physim always provides Jacobians and IK.
    """

    file: str = ""
    scale: float = 1.0
    default_armature: float = 0.0
    requires_jac_and_IK: bool = True  # noqa: N815 - Genesis's name

    def _validate_shape(self, owner: str) -> None:
        object.__setattr__(self, "file", str(resolve_asset_path(owner, "file", self.file)))
        object.__setattr__(self, "scale", v.positive(owner, "scale", self.scale))
        object.__setattr__(self, "default_armature",
                           v.finite_scalar(owner, "default_armature", self.default_armature, low=0.0))


@dataclass(frozen=True)
class URDF(_RobotFile):
    """A robot described by a URDF file.

    pos/euler/quat place the root link in the world. fixed: the root link is welded to the world (a
    fixed-base arm); otherwise it floats on a free joint (a legged robot), as in Genesis.
    merge_fixed_links: fold every link attached by a fixed joint into its parent (mass properties
        combined, geometry re-placed), as Genesis does; merged links stay reachable by name for poses.
    links_to_keep: names of links never merged away (e.g. an end-effector frame used for IK).
    """

    merge_fixed_links: bool = True
    links_to_keep: tuple[str, ...] = ()

    def _validate_shape(self, owner: str) -> None:
        super()._validate_shape(owner)
        keep = (self.links_to_keep,) if isinstance(self.links_to_keep, str) else self.links_to_keep
        try:
            keep = tuple(keep)
        except TypeError:
            raise InvalidValueError(f"{owner}.links_to_keep: must be a sequence of link names, "
                                    f"got {self.links_to_keep!r}") from None
        if not all(isinstance(name, str) for name in keep):
            raise InvalidValueError(f"{owner}.links_to_keep: must be link names (strings), got {self.links_to_keep!r}")
        object.__setattr__(self, "links_to_keep", keep)


@dataclass(frozen=True)
class MJCF(_RobotFile):
    """A robot (or several bodies) described by a MuJoCo MJCF file.

    The file says which bodies float (``<freejoint/>``) and which are welded to the world; pos/euler/quat
    place the whole file's world in the scene. fixed=True welds free-floating top-level bodies instead.
    """
from physim.scene.sph_entity import Nozzle  # noqa: E402, F401 - ps.morphs.Nozzle: an SPH emitter (lives with the SPH kind)
