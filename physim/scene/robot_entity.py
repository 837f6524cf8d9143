"""Robots: the handle a user holds for a URDF/MJCF entity, with Genesis's batched control and state API.

A robot is one articulation simulated by the rigid solver in generalized coordinates. Its dofs are
numbered in the file's joint order (``get_joint(name).dofs_idx_local``); its qpos follows MuJoCo's layout
(``get_joint(name).qs_idx_local``): a free joint holds (x, y, z, qw, qx, qy, qz), a ball joint a quaternion.

Shapes: getters return ``(n,)`` when the scene was built with ``n_envs=0`` and ``(n_envs, n)`` (or
``(len(envs_idx), n)``) when batched; setters take the same shapes, and a ``(n,)`` value is broadcast to
every selected env. ``dofs_idx_local`` selects dofs (all by default), in the robot's own numbering.

Control (per dof, the last command wins):
- ``control_dofs_position(q)``: force = kp (q - qpos) - kv qdot, clamped to the force range;
- ``control_dofs_velocity(v)``: force = kv (v - qdot), clamped;
- ``control_dofs_force(f)``: force = f, clamped.
The PD terms are integrated implicitly (stable with stiff gains at large steps). URDF robots start with
kp = kv = 0 (no actuation) and force ranges from the file's effort limits; MJCF position actuators set
kp/kv/forcerange (and hold position 0, as MuJoCo's zero control does), velocity actuators set kv.
Gravity compensation: ``set_gravity_compensation(1.0)`` adds to each dof the force that cancels gravity's
pull on the robot (0 by default: only what the file states is simulated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from physim.errors import InvalidValueError
from physim.scene.entity import Entity
from physim.scene.kinematics import KinematicTree
from physim.scene.loaders.common import quat_from_matrix
from physim.solvers.rigid import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.rigid.articulation import link_jacobian, quat_multiply
from physim.solvers.rigid.articulation_model import ArticulationSpec, JointType
from physim.utils.rotations import quat_to_matrix

if TYPE_CHECKING:
    from physim.scene.materials import Material
    from physim.scene.morphs import Morph
    from physim.scene.scene import Scene
    from physim.scene.surfaces import Surface

POSITION_MODE, VELOCITY_MODE, FORCE_MODE = 1, 2, 3


@dataclass(frozen=True)
class RobotJoint:
    """A joint of a robot: its name, type, and where its dofs and coordinates sit in the robot's arrays."""

    name: str
    type: JointType
    idx_local: int
    dofs_idx_local: list[int]
    qs_idx_local: list[int]

    @property
    def dof_idx_local(self) -> int | None:
        """The dof of a one-dof joint (None for ball and free joints), as Genesis's ``joint.dof_idx_local``."""
        return self.dofs_idx_local[0] if len(self.dofs_idx_local) == 1 else None

    @property
    def q_idx_local(self) -> int | None:
        return self.qs_idx_local[0] if len(self.qs_idx_local) == 1 else None

    @property
    def n_dofs(self) -> int:
        return len(self.dofs_idx_local)


class RobotLink:
    """A link of a robot (or a link merged into another by ``merge_fixed_links``, still posed by name)."""

    def __init__(self, robot: RobotEntity, name: str, idx_local: int, offset: np.ndarray) -> None:
        self.robot = robot
        self.name = name
        self.idx_local = idx_local  # the simulated link that carries it
        self.offset = offset  # its frame in that link's frame, 4x4

    @property
    def idx(self) -> int:
        """Index of the simulated link among all links of the scene's articulations."""
        return self.robot._tree.link_start + self.idx_local

    def get_pos(self, envs_idx=None) -> np.ndarray:
        """World position of the link frame, m."""
        return self.robot._link_state("pos", envs_idx, self)

    def get_quat(self, envs_idx=None) -> np.ndarray:
        """World orientation of the link frame, unit quaternion (w, x, y, z)."""
        return self.robot._link_state("quat", envs_idx, self)

    def get_vel(self, envs_idx=None) -> np.ndarray:
        """Linear velocity of the link frame's origin, m/s, world frame."""
        return self.robot._link_state("vel", envs_idx, self)

    def get_ang(self, envs_idx=None) -> np.ndarray:
        """Angular velocity, rad/s, world frame."""
        return self.robot._link_state("ang", envs_idx, self)

    def __repr__(self) -> str:
        return f"<RobotLink {self.name!r} of {self.robot.name!r}>"


class RobotEntity(Entity):
    """An articulated robot loaded from a URDF or MJCF file (see the module docstring for the API)."""

    tree_index: int = -1  # set by the scene when the solver is built

    def __init__(self, scene: Scene, idx: int, name: str, morph: Morph, material: Material, surface: Surface,
                 spec: ArticulationSpec) -> None:
        super().__init__(scene, idx, name, morph, material, surface)
        self.spec = spec
        self.kinematics = KinematicTree(spec, morph.pos, morph.quat)
        self._joints: list[RobotJoint] = []
        for index, joint in enumerate(spec.joints):
            self._joints.append(RobotJoint(joint.name, joint.type, index,
                                           [int(i) for i in self.kinematics.joint_dof_index[joint.name]],
                                           [int(i) for i in self.kinematics.joint_qpos_index[joint.name]]))
        self._links = [RobotLink(self, link.name, index, np.eye(4)) for index, link in enumerate(spec.links)]
        for merged, (into, offset) in spec.merged_links.items():
            self._links.append(RobotLink(self, merged, into, np.asarray(offset, np.float64)))
        self._one_dof = np.zeros(spec.n_dofs, bool)
        for joint in self._joints:
            if joint.type in (JointType.REVOLUTE, JointType.PRISMATIC):
                self._one_dof[joint.dofs_idx_local] = True

    # ------------------------------------------------------------------ model
    @property
    def n_dofs(self) -> int:
        return self.spec.n_dofs

    @property
    def n_qs(self) -> int:
        return self.spec.n_qpos

    @property
    def n_links(self) -> int:
        return len(self.spec.links)

    @property
    def n_joints(self) -> int:
        return len(self._joints)

    @property
    def links(self) -> list[RobotLink]:
        """The simulated links, in the file's order (merged links are reachable through ``get_link``)."""
        return self._links[: self.n_links]

    @property
    def joints(self) -> list[RobotJoint]:
        return list(self._joints)

    def get_link(self, name: str) -> RobotLink:
        for link in self._links:
            if link.name == name:
                return link
        raise InvalidValueError(f"{self.name}.get_link: no link named {name!r}; links are "
                                f"{[link.name for link in self._links]}")

    def get_joint(self, name: str) -> RobotJoint:
        for joint in self._joints:
            if joint.name == name:
                return joint
        raise InvalidValueError(f"{self.name}.get_joint: no joint named {name!r}; joints are "
                                f"{[joint.name for joint in self._joints]}")

    # ------------------------------------------------------------------ build
    def _on_build(self, tree_index: int) -> None:
        """Called by the scene once the solver is built: initial gains from the file's actuators."""
        self.tree_index = tree_index
        batch = self.scene._rigid_solver.n_batch
        self._kp = np.zeros((batch, self.n_dofs))
        self._kv = np.zeros((batch, self.n_dofs))
        self._mode = np.full((batch, self.n_dofs), FORCE_MODE)
        low = self._control(L.FORCE_LO, np.arange(batch))
        high = self._control(L.FORCE_HI, np.arange(batch))
        envs = np.arange(batch)
        for actuator in self.spec.actuators:
            joint = self.get_joint(actuator.joint)
            if joint.dof_idx_local is None:
                continue
            dof = joint.dof_idx_local
            if actuator.kind in ("position", "velocity"):
                self._kp[:, dof] = actuator.kp if actuator.kind == "position" else 0.0
                self._kv[:, dof] = actuator.kv
                self._mode[:, dof] = POSITION_MODE if actuator.kind == "position" else VELOCITY_MODE
            if actuator.forcerange is not None:
                low[:, dof], high[:, dof] = actuator.forcerange
        self._solver.set_dof_control(self.tree_index, {L.FORCE_LO: low, L.FORCE_HI: high},
                                     np.arange(self.n_dofs), envs)
        self._write_gains(np.arange(self.n_dofs), envs)

    @property
    def _solver(self):
        return self.scene._rigid_solver

    @property
    def _tree(self):
        return self._solver.trees[self.tree_index]

    # ------------------------------------------------------------------ gains and commands
    def set_dofs_kp(self, kp, dofs_idx_local=None, envs_idx=None) -> None:
        """Position gains, N m/rad (or N/m)."""
        dofs, envs, values = self._dof_values("set_dofs_kp", kp, dofs_idx_local, envs_idx, low=0.0)
        self._kp[np.ix_(envs, dofs)] = values
        self._write_gains(dofs, envs)

    def set_dofs_kv(self, kv, dofs_idx_local=None, envs_idx=None) -> None:
        """Velocity gains, N m s/rad (or N s/m)."""
        dofs, envs, values = self._dof_values("set_dofs_kv", kv, dofs_idx_local, envs_idx, low=0.0)
        self._kv[np.ix_(envs, dofs)] = values
        self._write_gains(dofs, envs)

    def set_dofs_force_range(self, lower, upper, dofs_idx_local=None, envs_idx=None) -> None:
        """Clamp of the actuator force, N m (or N)."""
        dofs, envs, low = self._dof_values("set_dofs_force_range", lower, dofs_idx_local, envs_idx)
        _, _, high = self._dof_values("set_dofs_force_range", upper, dofs_idx_local, envs_idx)
        if np.any(low > high):
            raise InvalidValueError(f"{self.name}.set_dofs_force_range: lower must not exceed upper")
        self._solver.set_dof_control(self.tree_index, {L.FORCE_LO: low, L.FORCE_HI: high}, dofs, envs)

    def get_dofs_kp(self, dofs_idx_local=None, envs_idx=None) -> np.ndarray:
        return self._shaped(self._kp, dofs_idx_local, envs_idx, "get_dofs_kp")

    def get_dofs_kv(self, dofs_idx_local=None, envs_idx=None) -> np.ndarray:
        return self._shaped(self._kv, dofs_idx_local, envs_idx, "get_dofs_kv")

    def get_dofs_force_range(self, dofs_idx_local=None, envs_idx=None) -> tuple[np.ndarray, np.ndarray]:
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_dofs_force_range")
        low, high = self._control(L.FORCE_LO, envs), self._control(L.FORCE_HI, envs)
        return (self._shaped(low, dofs_idx_local, None, "get_dofs_force_range", envs_given=True),
                self._shaped(high, dofs_idx_local, None, "get_dofs_force_range", envs_given=True))

    def control_dofs_position(self, position, dofs_idx_local=None, envs_idx=None) -> None:
        """Drive dofs to positions (rad or m) with the PD gains (one-dof joints only)."""
        dofs, envs, values = self._dof_values("control_dofs_position", position, dofs_idx_local, envs_idx)
        if not np.all(self._one_dof[dofs]):
            raise InvalidValueError(f"{self.name}.control_dofs_position: position control needs one-dof joints "
                                    f"(revolute, prismatic); dofs {dofs[~self._one_dof[dofs]].tolist()} belong to "
                                    f"ball or free joints")
        self._mode[np.ix_(envs, dofs)] = POSITION_MODE
        self._solver.set_dof_control(self.tree_index, {L.TARGET_POS: values, L.TARGET_VEL: 0.0, L.FEEDFORWARD: 0.0},
                                     dofs, envs)
        self._write_gains(dofs, envs)

    def control_dofs_velocity(self, velocity, dofs_idx_local=None, envs_idx=None) -> None:
        """Drive dofs to velocities (rad/s or m/s) with the velocity gain kv."""
        dofs, envs, values = self._dof_values("control_dofs_velocity", velocity, dofs_idx_local, envs_idx)
        self._mode[np.ix_(envs, dofs)] = VELOCITY_MODE
        self._solver.set_dof_control(self.tree_index, {L.TARGET_VEL: values, L.FEEDFORWARD: 0.0}, dofs, envs)
        self._write_gains(dofs, envs)

    def control_dofs_force(self, force, dofs_idx_local=None, envs_idx=None) -> None:
        """Apply forces (N m or N) to dofs, clamped to their force range."""
        dofs, envs, values = self._dof_values("control_dofs_force", force, dofs_idx_local, envs_idx)
        self._mode[np.ix_(envs, dofs)] = FORCE_MODE
        self._solver.set_dof_control(self.tree_index, {L.FEEDFORWARD: values}, dofs, envs)
        self._write_gains(dofs, envs)

    def set_gravity_compensation(self, fraction=1.0, dofs_idx_local=None, envs_idx=None) -> None:
        """Add ``fraction`` of the force that cancels gravity on each dof (1: the robot floats as if weightless;
        an opt-in aid, as a real robot's controller would add it)."""
        dofs, envs, values = self._dof_values("set_gravity_compensation", fraction, dofs_idx_local, envs_idx)
        self._solver.set_dof_control(self.tree_index, {L.GRAVITY_COMP: values}, dofs, envs)

    def _write_gains(self, dofs: np.ndarray, envs: np.ndarray) -> None:
        mode = self._mode[np.ix_(envs, dofs)]
        kp = np.where(mode == POSITION_MODE, self._kp[np.ix_(envs, dofs)], 0.0)
        kv = np.where(mode == FORCE_MODE, 0.0, self._kv[np.ix_(envs, dofs)])
        self._solver.set_dof_control(self.tree_index, {L.KP: kp, L.KV: kv}, dofs, envs)

    # ------------------------------------------------------------------ state
    def get_dofs_position(self, dofs_idx_local=None, envs_idx=None) -> np.ndarray:
        """Dof positions, rad or m (ball and free rotations as rotation vectors)."""
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_dofs_position")
        values = self._solver.get_dofs_position(self.tree_index, envs)
        return self._shaped(values, dofs_idx_local, None, "get_dofs_position", envs_given=True)

    def get_dofs_velocity(self, dofs_idx_local=None, envs_idx=None) -> np.ndarray:
        """Dof velocities, rad/s or m/s."""
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_dofs_velocity")
        values = self._solver.get_tree_array(self.tree_index, "qvel", envs)
        return self._shaped(values, dofs_idx_local, None, "get_dofs_velocity", envs_given=True)

    def get_dofs_force(self, dofs_idx_local=None, envs_idx=None) -> np.ndarray:
        """The actuator force each dof received in the last substep, N m or N (gravity compensation excluded)."""
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_dofs_force")
        return self._shaped(self._control(L.APPLIED_FORCE, envs), dofs_idx_local, None, "get_dofs_force",
                            envs_given=True)

    def set_dofs_position(self, position, dofs_idx_local=None, envs_idx=None, zero_velocity: bool = True) -> None:
        """Teleport dofs to positions (rad or m); their velocities are zeroed unless ``zero_velocity=False``."""
        dofs, envs, values = self._dof_values("set_dofs_position", position, dofs_idx_local, envs_idx)
        self._solver.set_dofs_position(self.tree_index, values, dofs, envs)
        if zero_velocity:
            qvel = self._solver.get_tree_array(self.tree_index, "qvel", envs)
            qvel[:, dofs] = 0.0
            self._solver.set_tree_array(self.tree_index, "qvel", qvel, envs)

    def set_dofs_velocity(self, velocity, dofs_idx_local=None, envs_idx=None) -> None:
        dofs, envs, values = self._dof_values("set_dofs_velocity", velocity, dofs_idx_local, envs_idx)
        qvel = self._solver.get_tree_array(self.tree_index, "qvel", envs)
        qvel[:, dofs] = values
        self._solver.set_tree_array(self.tree_index, "qvel", qvel, envs)

    def get_qpos(self, envs_idx=None) -> np.ndarray:
        """Generalized coordinates (n_qs,) in MuJoCo's layout."""
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_qpos")
        values = self._solver.get_tree_array(self.tree_index, "qpos", envs)
        return values[0] if self.scene.n_envs == 0 else values

    def set_qpos(self, qpos, envs_idx=None, zero_velocity: bool = True) -> None:
        where = f"{self.name}.set_qpos"
        envs = self.scene._envs_index(envs_idx, where)
        values = self._broadcast(where, qpos, len(envs), self.n_qs)
        values = self._normalise_quaternions(values, where)
        self._solver.set_tree_array(self.tree_index, "qpos", values, envs)
        if zero_velocity:
            self._solver.set_tree_array(self.tree_index, "qvel", np.zeros((len(envs), self.n_dofs)), envs)

    def get_pos(self, envs_idx=None) -> np.ndarray:
        """World position of the base link frame, m."""
        return self.links[0].get_pos(envs_idx)

    def get_quat(self, envs_idx=None) -> np.ndarray:
        return self.links[0].get_quat(envs_idx)

    def get_links_pos(self, envs_idx=None) -> np.ndarray:
        """World positions of every simulated link frame, (n_links, 3) m."""
        return self._links_state("pos", envs_idx)

    def get_links_quat(self, envs_idx=None) -> np.ndarray:
        return self._links_state("quat", envs_idx)

    def get_links_vel(self, envs_idx=None) -> np.ndarray:
        """Linear velocities of the link frame origins, (n_links, 3) m/s."""
        return self._links_state("vel", envs_idx)

    def get_links_ang(self, envs_idx=None) -> np.ndarray:
        return self._links_state("ang", envs_idx)

    # ------------------------------------------------------------------ kinematics
    def forward_kinematics(self, qpos) -> tuple[np.ndarray, np.ndarray]:
        """Link positions (..., n_links, 3) and quaternions (..., n_links, 4) for any qpos (..., n_qs)."""
        return self.kinematics.forward_kinematics(qpos)

    def get_jacobian(self, link, local_point=None, envs_idx=None) -> np.ndarray:
        """(6, n_dofs) Jacobian of a link at the current state: rows 0-2 the world linear velocity of its
        frame origin (or of ``local_point``, link frame, m), rows 3-5 its angular velocity, per unit qvel."""
        link = link if isinstance(link, RobotLink) else self.get_link(link)
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_jacobian")
        pos, quat, axes = self._solver.tree_kinematics(self.tree_index, envs)
        global_link = self._tree.link_start + link.idx_local
        local = link.offset[:3, 3] + (link.offset[:3, :3] @ np.asarray(local_point, np.float64)
                                      if local_point is not None else 0.0)
        point = pos[:, global_link] + np.einsum("bij,j->bi", quat_to_matrix(quat[:, global_link]), local)
        jacobian = link_jacobian(self._solver.art, self._tree, axes, pos, global_link, point)
        return jacobian[0] if self.scene.n_envs == 0 else jacobian

    def inverse_kinematics(self, link, pos, quat=None, init_qpos=None, max_iters: int = 100, dofs_idx_local=None,
                           damping: float = 0.01, pos_tol: float = 1e-4, rot_tol: float = 1e-3,
                           respect_joint_limit: bool = True, pos_mask=(True, True, True), rot_mask=(True, True, True),
                           envs_idx=None, **_genesis_kwargs) -> np.ndarray:
        """qpos (n_qs,) or (n_envs, n_qs) bringing ``link`` to ``pos`` (m) and, when given, ``quat``: damped
        least squares, batched over envs, starting from ``init_qpos`` (the current qpos by default)."""
        name = link.name if isinstance(link, RobotLink) else link
        if init_qpos is None:
            init_qpos = self.get_qpos(envs_idx)
        return self.kinematics.inverse_kinematics(
            name, pos, quat, init_qpos=init_qpos, dofs_idx=dofs_idx_local, max_iters=max_iters, damping=damping,
            pos_tol=pos_tol, rot_tol=rot_tol, respect_joint_limit=respect_joint_limit, pos_mask=pos_mask,
            rot_mask=rot_mask)

    # ------------------------------------------------------------------ helpers
    def _control(self, slot: int, envs: np.ndarray) -> np.ndarray:
        return self._solver.get_dof_control(self.tree_index, slot, envs)

    def _link_state(self, quantity: str, envs_idx, link: RobotLink) -> np.ndarray:
        envs = self.scene._envs_index(envs_idx, f"{self.name}.{link.name}.get_{quantity}")
        body = self._tree.body_start + link.idx_local
        values = self._solver.get_body(body, "quat" if quantity == "quat" else "pos", envs)
        if not np.allclose(link.offset, np.eye(4)) or quantity in ("vel", "ang"):
            quat = self._solver.get_body(body, "quat", envs)
            rotation = quat_to_matrix(quat)
            arm = rotation @ link.offset[:3, 3]
            if quantity == "pos":
                values = values + arm
            elif quantity == "quat":
                values = quat_multiply(quat, quat_from_matrix(link.offset[:3, :3]))
            else:
                omega = self._solver.get_body(body, "ang", envs)
                values = omega if quantity == "ang" else self._solver.get_body(body, "vel", envs) + np.cross(omega,
                                                                                                             arm)
        return values[0] if self.scene.n_envs == 0 else values

    def _links_state(self, quantity: str, envs_idx) -> np.ndarray:
        envs = self.scene._envs_index(envs_idx, f"{self.name}.get_links_{quantity}")
        bodies = self._tree.body_start + np.arange(self.n_links)
        values = np.stack([self._solver.get_body(int(b), quantity, envs) for b in bodies], 1)
        return values[0] if self.scene.n_envs == 0 else values

    def _dofs(self, where: str, dofs_idx_local) -> np.ndarray:
        if dofs_idx_local is None:
            return np.arange(self.n_dofs)
        dofs = np.atleast_1d(np.asarray(dofs_idx_local))
        if dofs.dtype.kind not in "iu" or dofs.ndim != 1 or np.any(dofs < 0) or np.any(dofs >= self.n_dofs):
            raise InvalidValueError(f"{where}: dofs_idx_local must be dof indices in [0, {self.n_dofs}), "
                                    f"got {dofs_idx_local!r}")
        return dofs.astype(np.int64)

    def _broadcast(self, where: str, values, n_envs: int, width: int) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        if array.ndim == 0:
            array = np.full(width, float(array))
        if array.shape == (width,):
            array = np.broadcast_to(array, (n_envs, width))
        if array.shape != (n_envs, width):
            raise InvalidValueError(f"{where}: expected shape ({width},) or ({n_envs}, {width}), got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise InvalidValueError(f"{where}: values must be finite (no NaN or inf), got {values!r}")
        return np.array(array)

    def _dof_values(self, where: str, values, dofs_idx_local, envs_idx, low: float | None = None):
        where = f"{self.name}.{where}"
        dofs = self._dofs(where, dofs_idx_local)
        envs = self.scene._envs_index(envs_idx, where)
        array = self._broadcast(where, values, len(envs), len(dofs))
        if low is not None and np.any(array < low):
            raise InvalidValueError(f"{where}: values must be >= {low}, got {values!r}")
        return dofs, envs, array

    def _shaped(self, values: np.ndarray, dofs_idx_local, envs_idx, where: str, envs_given: bool = False):
        dofs = self._dofs(f"{self.name}.{where}", dofs_idx_local)
        if not envs_given:
            values = values[self.scene._envs_index(envs_idx, f"{self.name}.{where}")]
        values = values[:, dofs]
        return values[0] if self.scene.n_envs == 0 else values

    def _normalise_quaternions(self, qpos: np.ndarray, where: str) -> np.ndarray:
        for joint in self._joints:
            if joint.type in (JointType.FREE, JointType.BALL):
                block = joint.qs_idx_local[-4:]
                norms = np.linalg.norm(qpos[:, block], axis=1, keepdims=True)
                if np.any(norms < 1e-9):
                    raise InvalidValueError(f"{where}: joint {joint.name!r} has a zero quaternion")
                qpos[:, block] /= norms
        return qpos
