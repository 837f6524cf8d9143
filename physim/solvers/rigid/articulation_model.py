"""Articulations as the rigid solver receives them: a tree of links joined by joints, in SI units.

This is the contract between the robot loaders (URDF, MJCF: ``physim/scene/loaders/``) and the rigid
solver. A loader turns a file into one :class:`ArticulationSpec`; the solver simulates it in generalized
(joint) coordinates. The conventions follow MuJoCo's, which URDF maps onto directly:

- Links are listed parents first (``links[i].parent < i``); ``parent == -1`` is the world.
- ``LinkSpec.pos``/``quat`` place the link frame in its parent's frame when all its joints are at zero.
- A link moves relative to its parent by its ``joints``, applied in order, each about or along its
  ``axis`` through its ``anchor`` (both in the link frame). No joints: welded to the parent.
  URDF: one joint per link, anchor at the link origin (the joint origin *is* the child frame).
- A floating base has one ``FREE`` joint; a fixed base has none and ``parent == -1``.
- Generalized coordinates per joint: FREE qpos (x, y, z, qw, qx, qy, qz) / qvel (vx, vy, vz, wx, wy, wz)
  with the linear velocity in the world frame and the angular velocity in the link frame (MuJoCo's);
  BALL qpos (qw, qx, qy, qz) / qvel (wx, wy, wz); REVOLUTE and PRISMATIC one each (rad or m).

Nothing here is simulated or validated against physics: loaders validate their files, the solver
builds its arrays from these specs once, at ``scene.build()``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import trimesh

from physim.solvers.rigid.model import GeomSpec


class JointType(enum.IntEnum):
    FREE = 0
    BALL = 1
    REVOLUTE = 2  # a URDF "continuous" joint is a REVOLUTE without limits
    PRISMATIC = 3

    @property
    def n_qpos(self) -> int:
        return (7, 4, 1, 1)[self]

    @property
    def n_dofs(self) -> int:
        return (6, 3, 1, 1)[self]


@dataclass(frozen=True)
class JointSpec:
    """One joint between a link and its parent.

    axis: unit axis in the link frame (rotation axis of REVOLUTE, direction of PRISMATIC).
    anchor: point the joint rotates about, in the link frame, m.
    limit: (lower, upper) in rad or m, or None for unlimited.
    damping: viscous damping, N m s/rad (or N s/m). frictionloss: dry friction, N m (or N).
    armature: rotor inertia added to the joint's diagonal of the mass matrix, kg m^2 (or kg). Default 0:
        only what the file states is simulated.
    effort_limit: largest actuator force/torque, N m (or N), or None.
    velocity_limit: rad/s (or m/s), or None; informative (URDF), not enforced by the solver.
    qpos0: the joint's coordinates at rest (the file's reference pose), length ``type.n_qpos``.
    """

    name: str
    type: JointType
    axis: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    anchor: np.ndarray = field(default_factory=lambda: np.zeros(3))
    limit: tuple[float, float] | None = None
    damping: float = 0.0
    frictionloss: float = 0.0
    armature: float = 0.0
    effort_limit: float | None = None
    velocity_limit: float | None = None
    qpos0: np.ndarray | None = None


@dataclass(frozen=True)
class LinkGeom:
    """A collision geometry of a link with its contact parameters (MuJoCo's per-geom values)."""

    geom: GeomSpec
    friction: float = 1.0
    restitution: float = 0.0
    contype: int = 1
    conaffinity: int = 1


@dataclass(frozen=True)
class LinkVisual:
    """A mesh drawn for a link, in the link frame, m; ``rgba`` None keeps the mesh's own colours."""

    mesh: trimesh.Trimesh
    rgba: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class LinkSpec:
    """One rigid link.

    mass: kg. com: centre of mass in the link frame, m. inertia: (3, 3) about the centre of mass, in the
    link frame, kg m^2 (as the file states it; a loader rotates URDF/MJCF inertial frames into it).
    """

    name: str
    parent: int
    pos: np.ndarray
    quat: np.ndarray
    joints: tuple[JointSpec, ...]
    mass: float
    com: np.ndarray
    inertia: np.ndarray
    geoms: tuple[LinkGeom, ...] = ()
    visuals: tuple[LinkVisual, ...] = ()


@dataclass(frozen=True)
class ActuatorSpec:
    """An actuator on one single-dof joint, as MJCF states it (URDF files have none).

    kind: "position" (force = kp (target - q) - kv qdot), "velocity" (force = kv (target - qdot)) or
    "motor" (force = gear * control). forcerange: (low, high) clamp, N m or N, or None. ctrlrange: the
    valid control range, or None.
    """

    name: str
    joint: str
    kind: str
    kp: float = 0.0
    kv: float = 0.0
    gear: float = 1.0
    forcerange: tuple[float, float] | None = None
    ctrlrange: tuple[float, float] | None = None


@dataclass(frozen=True)
class EqualitySpec:
    """A joint coupled to another: ``q[joint] = multiplier * q[follows] + offset`` (rad or m), held by a
    constraint row in the solver (URDF ``<mimic>``, MJCF ``<equality><joint>``). Both are one-dof joints of
    the same articulation."""

    name: str
    joint: str
    follows: str
    multiplier: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class ArticulationSpec:
    """A whole robot: links (parents first), actuators, links merged away by ``merge_fixed_links``, and
    joint couplings (``equalities``).

    merged_links: name of a removed link -> (index of the link it was merged into, its pose in that link
    as a 4x4 matrix), so that poses of merged links stay reachable by name.
    source: the file it was loaded from, for error messages.
    """

    name: str
    links: tuple[LinkSpec, ...]
    actuators: tuple[ActuatorSpec, ...] = ()
    merged_links: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)
    source: str = ""
    equalities: tuple[EqualitySpec, ...] = ()

    @property
    def joints(self) -> list[JointSpec]:
        return [joint for link in self.links for joint in link.joints]

    @property
    def n_qpos(self) -> int:
        return sum(joint.type.n_qpos for joint in self.joints)

    @property
    def n_dofs(self) -> int:
        return sum(joint.type.n_dofs for joint in self.joints)
