"""Kinematics of an articulation on the host (numpy), batched over any leading axes: forward kinematics,
Jacobians, and inverse kinematics by damped least squares.

Conventions are those of :mod:`physim.solvers.rigid.articulation_model` (MuJoCo's):

- A link's world pose is its parent's pose, then its ``pos``/``quat``, then its joints in order. A hinge
  rotates about its ``axis`` through its ``anchor``, a slide translates along its axis, a ball rotates
  about its anchor by its quaternion; all in the link frame as moved by the joints before it.
- A FREE joint (top-level links only) sets the link's world pose: qpos (x, y, z, qw, qx, qy, qz); its
  qvel is (linear velocity of the link origin in the world frame, angular velocity in the link frame).
  BALL qvel is the angular velocity in the frame after its rotation.
- The entity's placement (the morph's pos/quat, ``base_pos``/``base_quat`` here) carries every
  top-level link welded to the world; for a free one it is folded into the free joint's rest coordinates
  ``qpos0`` instead, so FK reads the free joint's qpos as the world pose, as the solver does.

Units: m, rad; quaternions (w, x, y, z).
"""

from __future__ import annotations

import numpy as np

from physim.errors import InvalidValueError
from physim.solvers.rigid.articulation_model import ArticulationSpec, JointType
from physim.utils.rotations import quat_to_matrix


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions (w, x, y, z), batched."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], -1)


def quat_from_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """Unit quaternions of rotation vectors (axis times angle, rad), batched."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(x/2)/x -> 1/2 as x -> 0; the series keeps tiny angles exact.
    scale = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-300), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), rotvec * scale], -1)


def rotvec_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Rotation vectors (axis times angle in [0, pi], rad) of rotation matrices, batched."""
    quat = _matrix_to_quat(rotation)  # w >= 0: the short way round
    sin_half = np.linalg.norm(quat[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, quat[..., :1])
    # angle / sin(angle/2) -> 2 as the angle -> 0.
    return quat[..., 1:] * np.where(sin_half > 1e-12, angle / np.maximum(sin_half, 1e-300), 2.0)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products over the last axis (np.cross spends most of its time validating small arrays)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], -1)


def _axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices about a fixed unit axis (3,) by angles (...,), rad (Rodrigues)."""
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    angle = np.asarray(angle)[..., None, None]
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _matrix_to_quat(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternions (w >= 0) of rotation matrices, batched (Shepperd's method)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m, axis1=-2, axis2=-1)
    candidates = np.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1)
    choice = np.argmax(candidates, -1)
    out = np.empty(m.shape[:-2] + (4,))
    r = lambda i, j: m[..., i, j]  # noqa: E731 - a short accessor reads closer to the formulas
    for case in range(4):
        sel = choice == case
        if not np.any(sel):
            continue
        if case == 0:
            s = np.sqrt(1.0 + trace) * 2
            q = [0.25 * s, (r(2, 1) - r(1, 2)) / s, (r(0, 2) - r(2, 0)) / s, (r(1, 0) - r(0, 1)) / s]
        elif case == 1:
            s = np.sqrt(np.maximum(1.0 + r(0, 0) - r(1, 1) - r(2, 2), 1e-300)) * 2
            q = [(r(2, 1) - r(1, 2)) / s, 0.25 * s, (r(0, 1) + r(1, 0)) / s, (r(0, 2) + r(2, 0)) / s]
        elif case == 2:
            s = np.sqrt(np.maximum(1.0 + r(1, 1) - r(0, 0) - r(2, 2), 1e-300)) * 2
            q = [(r(0, 2) - r(2, 0)) / s, (r(0, 1) + r(1, 0)) / s, 0.25 * s, (r(1, 2) + r(2, 1)) / s]
        else:
            s = np.sqrt(np.maximum(1.0 + r(2, 2) - r(0, 0) - r(1, 1), 1e-300)) * 2
            q = [(r(1, 0) - r(0, 1)) / s, (r(0, 2) + r(2, 0)) / s, (r(1, 2) + r(2, 1)) / s, 0.25 * s]
        out[sel] = np.stack(q, -1)[sel]
    out *= np.where(out[..., :1] < 0, -1.0, 1.0)
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


class KinematicTree:
    """Forward kinematics, Jacobians and IK of one articulation, batched over leading axes of ``qpos``."""

    def __init__(self, spec: ArticulationSpec, base_pos=(0.0, 0.0, 0.0), base_quat=(1.0, 0.0, 0.0, 0.0)) -> None:
        self.spec = spec
        self.base_pos = np.asarray(base_pos, dtype=np.float64)
        self.base_rot = quat_to_matrix(np.asarray(base_quat, dtype=np.float64))
        self.link_names = [link.name for link in spec.links]
        self.joint_names = [joint.name for joint in spec.joints]
        self.n_links = len(spec.links)
        self.joint_qpos_index: dict[str, np.ndarray] = {}
        self.joint_dof_index: dict[str, np.ndarray] = {}
        # Per link: list of (joint, qpos slice start, dof slice start).
        self._link_joints: list[list[tuple]] = []
        qpos0, lower, upper = [], [], []
        n_qpos = n_dofs = 0
        self._quat_blocks: list[tuple[int, int]] = []  # (qpos start of a quaternion, its dof start)
        for index, link in enumerate(spec.links):
            if not -1 <= link.parent < index:
                raise InvalidValueError(f"{spec.source or spec.name}: link {link.name!r} is listed before its parent")
            entries = []
            for joint in link.joints:
                if joint.type == JointType.FREE and (link.parent != -1 or len(link.joints) != 1):
                    raise InvalidValueError(f"{spec.source or spec.name}: free joint {joint.name!r} must be the only "
                                            f"joint of a top-level link")
                self.joint_qpos_index[joint.name] = np.arange(n_qpos, n_qpos + joint.type.n_qpos)
                self.joint_dof_index[joint.name] = np.arange(n_dofs, n_dofs + joint.type.n_dofs)
                entries.append((joint, n_qpos, n_dofs))
                rest = joint.qpos0
                if rest is None:
                    rest = {JointType.FREE: [0, 0, 0, 1, 0, 0, 0], JointType.BALL: [1, 0, 0, 0]}.get(joint.type, [0.0])
                rest = np.asarray(rest, dtype=np.float64)
                if joint.type == JointType.FREE:  # the entity's placement moves a free base's rest pose
                    rest = np.concatenate([self.base_rot @ rest[:3] + self.base_pos,
                                           quat_multiply(np.asarray(base_quat, dtype=np.float64), rest[3:])])
                qpos0.append(rest)
                low, high = (joint.limit if joint.limit is not None and joint.type in (JointType.REVOLUTE,
                                                                                          JointType.PRISMATIC)
                             else (-np.inf, np.inf))
                lower.append(np.full(joint.type.n_qpos, low))
                upper.append(np.full(joint.type.n_qpos, high))
                if joint.type in (JointType.FREE, JointType.BALL):
                    offset = 3 if joint.type == JointType.FREE else 0
                    self._quat_blocks.append((n_qpos + offset, n_dofs + offset))
                n_qpos += joint.type.n_qpos
                n_dofs += joint.type.n_dofs
            self._link_joints.append(entries)
        self.n_qpos, self.n_dofs = n_qpos, n_dofs
        self.qpos0 = np.concatenate(qpos0) if qpos0 else np.zeros(0)
        self.qpos_lower = np.concatenate(lower) if lower else np.zeros(0)
        self.qpos_upper = np.concatenate(upper) if upper else np.zeros(0)
        self._link_pos = np.array([link.pos for link in spec.links], dtype=np.float64).reshape(-1, 3)
        self._link_rot = quat_to_matrix(np.array([link.quat for link in spec.links]).reshape(-1, 4))
        # dof -> the link it moves, to know which dofs move a link (its ancestors' dofs and its own).
        self._dof_link = np.zeros(n_dofs, dtype=np.int64)
        for index, entries in enumerate(self._link_joints):
            for joint, _, dof in entries:
                self._dof_link[dof:dof + joint.type.n_dofs] = index
        self._ancestors = []
        for index, link in enumerate(spec.links):
            chain = {index}
            parent = link.parent
            while parent >= 0:
                chain.add(parent)
                parent = spec.links[parent].parent
            self._ancestors.append(chain)

    # ------------------------------------------------------------------------------------ names

    def link_index(self, name: str) -> int:
        """Index of a link by name; a link merged away resolves to the link it was merged into (its pose
        there is :meth:`link_offset`)."""
        if name in self.link_names:
            return self.link_names.index(name)
        if name in self.spec.merged_links:
            return self.spec.merged_links[name][0]
        raise InvalidValueError(f"{self.spec.name}: no link named {name!r}; links are {self.link_names}")

    def link_offset(self, name: str) -> np.ndarray:
        """The named link's frame in the frame of :meth:`link_index` (identity for a kept link), 4x4."""
        if name in self.spec.merged_links:
            return np.array(self.spec.merged_links[name][1], dtype=np.float64)
        self.link_index(name)
        return np.eye(4)

    def _resolve(self, link) -> tuple[int, np.ndarray]:
        """(link index, frame offset) of a link given by index or name."""
        if isinstance(link, str):
            return self.link_index(link), self.link_offset(link)
        if isinstance(link, bool) or not isinstance(link, (int, np.integer)) or not 0 <= link < self.n_links:
            raise InvalidValueError(f"{self.spec.name}: link must be a name or an index in [0, {self.n_links}), "
                                    f"got {link!r}")
        return int(link), np.eye(4)

    # ------------------------------------------------------------------------------- kinematics

    def _check_qpos(self, qpos) -> np.ndarray:
        qpos = np.asarray(qpos, dtype=np.float64)
        if qpos.ndim == 0 or qpos.shape[-1] != self.n_qpos:
            raise InvalidValueError(f"{self.spec.name}: qpos must have {self.n_qpos} entries on its last axis, "
                                    f"got shape {qpos.shape}")
        return qpos

    def _frames(self, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        """World positions (..., L, 3) and rotation matrices (..., L, 3, 3) of the link frames, and per dof
        its world axis data for the Jacobian: (kind, axis (..., 3), point (..., 3))."""
        batch = qpos.shape[:-1]
        positions = np.empty(batch + (self.n_links, 3))
        rotations = np.empty(batch + (self.n_links, 3, 3))
        dofs: list = [None] * self.n_dofs
        for index, link in enumerate(self.spec.links):
            if link.parent < 0:
                parent_pos, parent_rot = self.base_pos, self.base_rot
            else:
                parent_pos, parent_rot = positions[..., link.parent, :], rotations[..., link.parent, :, :]
            pos = parent_pos + parent_rot @ self._link_pos[index]
            rot = np.broadcast_to(parent_rot @ self._link_rot[index], batch + (3, 3))
            pos = np.broadcast_to(pos, batch + (3,))
            for joint, q0, d0 in self._link_joints[index]:
                kind = joint.type
                if kind == JointType.FREE:
                    pos = qpos[..., q0:q0 + 3]
                    rot = quat_to_matrix(_normalized(qpos[..., q0 + 3:q0 + 7]))
                    for k in range(3):
                        dofs[d0 + k] = ("slide", np.broadcast_to(np.eye(3)[k], batch + (3,)), None)
                    for k in range(3):
                        dofs[d0 + 3 + k] = ("hinge", rot[..., :, k], pos)
                    continue
                anchor = pos + rot @ joint.anchor
                if kind == JointType.REVOLUTE:
                    axis_world = rot @ joint.axis
                    dofs[d0] = ("hinge", axis_world, anchor)
                    rot = rot @ _axis_angle_matrix(joint.axis, qpos[..., q0])
                    pos = anchor - rot @ joint.anchor
                elif kind == JointType.PRISMATIC:
                    axis_world = rot @ joint.axis
                    dofs[d0] = ("slide", axis_world, None)
                    pos = pos + axis_world * qpos[..., q0, None]
                else:  # BALL: angular velocity in the frame after its rotation
                    rot = rot @ quat_to_matrix(_normalized(qpos[..., q0:q0 + 4]))
                    pos = anchor - rot @ joint.anchor
                    for k in range(3):
                        dofs[d0 + k] = ("hinge", rot[..., :, k], anchor)
            positions[..., index, :] = pos
            rotations[..., index, :, :] = rot
        return positions, rotations, dofs

    def forward_kinematics(self, qpos) -> tuple[np.ndarray, np.ndarray]:
        """World positions (..., n_links, 3), m, and quaternions (..., n_links, 4) of the link frames."""
        positions, rotations, _ = self._frames(self._check_qpos(qpos))
        return positions, _matrix_to_quat(rotations)

    def link_pose(self, qpos, link) -> tuple[np.ndarray, np.ndarray]:
        """World position (..., 3) and quaternion (..., 4) of one link frame, by index or name (merged links
        included)."""
        index, offset = self._resolve(link)
        positions, rotations, _ = self._frames(self._check_qpos(qpos))
        rot = rotations[..., index, :, :]
        return positions[..., index, :] + rot @ offset[:3, 3], _matrix_to_quat(rot @ offset[:3, :3])

    def jacobian(self, qpos, link, point=(0.0, 0.0, 0.0)) -> np.ndarray:
        """(..., 6, n_dofs): rows 0-2 map qvel to the world linear velocity of ``point`` (m, in the link
        frame), rows 3-5 to the link's world angular velocity. ``link``: index or name."""
        qpos = self._check_qpos(qpos)
        index, offset = self._resolve(link)
        point = offset[:3, :3] @ np.asarray(point, dtype=np.float64) + offset[:3, 3]
        positions, rotations, dofs = self._frames(qpos)
        return self._jacobian(positions, rotations, dofs, index, point)

    def _jacobian(self, positions, rotations, dofs, index, point) -> np.ndarray:
        batch = positions.shape[:-2]
        world_point = positions[..., index, :] + rotations[..., index, :, :] @ point
        jac = np.zeros(batch + (6, self.n_dofs))
        for dof in range(self.n_dofs):
            if self._dof_link[dof] not in self._ancestors[index]:
                continue
            kind, axis, anchor = dofs[dof]
            if kind == "slide":
                jac[..., :3, dof] = axis
            else:
                jac[..., :3, dof] = _cross(axis, world_point - anchor)
                jac[..., 3:, dof] = axis
        return jac

    # ----------------------------------------------------------------------------------- motion

    def integrate(self, qpos, qvel, dt: float = 1.0) -> np.ndarray:
        """qpos moved by ``qvel * dt`` (quaternions of free and ball joints rotated on the sphere)."""
        qpos = np.array(self._check_qpos(qpos), dtype=np.float64)
        qvel = np.asarray(qvel, dtype=np.float64) * dt
        scalar = np.ones(self.n_qpos, dtype=bool)
        out = qpos.copy()
        for q0, d0 in self._quat_blocks:
            scalar[q0:q0 + 4] = False
            rotvec = qvel[..., d0:d0 + 3]
            out[..., q0:q0 + 4] = _normalized(quat_multiply(qpos[..., q0:q0 + 4], quat_from_rotvec(rotvec)))
        dof_of_qpos = self._scalar_dof_map()
        out[..., scalar] = qpos[..., scalar] + qvel[..., dof_of_qpos[scalar]]
        return out

    def _scalar_dof_map(self) -> np.ndarray:
        """For each qpos entry that is a plain coordinate, the dof that moves it (-1 for quaternion parts)."""
        mapping = np.full(self.n_qpos, -1, dtype=np.int64)
        for entries in self._link_joints:
            for joint, q0, d0 in entries:
                if joint.type == JointType.FREE:
                    mapping[q0:q0 + 3] = np.arange(d0, d0 + 3)
                elif joint.type in (JointType.REVOLUTE, JointType.PRISMATIC):
                    mapping[q0] = d0
        return mapping

    def inverse_kinematics(self, link, pos, quat=None, init_qpos=None, dofs_idx=None, max_iters: int = 100,
                           damping: float = 0.01, pos_tol: float = 1e-4, rot_tol: float = 1e-3,
                           respect_joint_limit: bool = True, pos_mask=(True, True, True),
                           rot_mask=(True, True, True), max_step: float = 0.2, max_samples: int = 1, seed: int = 0,
                           return_error: bool = False):
        """Joint positions that bring ``link`` (index or name) to ``pos`` (..., 3), m, and, when given,
        ``quat`` (..., 4); batched over leading axes.

        Damped least squares: ``dq = J^T (J J^T + damping I)^-1 e``, ``e`` the position error and the
        rotation vector of the orientation error (world frame), each masked by ``pos_mask``/``rot_mask`` and
        capped at ``max_step`` (m, or rad) per iteration so far targets are approached along a straight
        line. Only ``dofs_idx`` move (all dofs by default); with ``respect_joint_limit`` each iterate is
        clipped into the joint limits. Iterations stop when every batch entry is within ``pos_tol`` (m) and
        ``rot_tol`` (rad), or after ``max_iters``. With ``max_samples > 1``, entries still off target start
        again from joint positions drawn uniformly within the limits (random generator seeded by ``seed``,
        so results are reproducible), and the best attempt is kept.

        Returns qpos (..., n_qpos), and with ``return_error`` also the remaining position error (..., ), m,
        and rotation error (..., ), rad.
        """
        index, offset = self._resolve(link)
        target_pos = np.asarray(pos, dtype=np.float64)
        if target_pos.shape[-1:] != (3,):
            raise InvalidValueError(f"{self.spec.name}.inverse_kinematics: pos must end in 3 entries, got shape "
                                    f"{target_pos.shape}")
        batch = target_pos.shape[:-1]
        target_rot = None
        if quat is not None:
            quat = np.asarray(quat, dtype=np.float64)
            if quat.shape[-1:] != (4,):
                raise InvalidValueError(f"{self.spec.name}.inverse_kinematics: quat must end in 4 entries, got "
                                        f"shape {quat.shape}")
            batch = np.broadcast_shapes(batch, quat.shape[:-1])
            target_rot = quat_to_matrix(_normalized(quat))
        init = self.qpos0 if init_qpos is None else self._check_qpos(init_qpos)
        batch = np.broadcast_shapes(batch, init.shape[:-1])  # e.g. one target from every env's current qpos
        target_pos = np.broadcast_to(target_pos, batch + (3,)).reshape(-1, 3)
        if target_rot is not None:
            target_rot = np.broadcast_to(target_rot, batch + (3, 3)).reshape(-1, 3, 3)
        qpos = np.array(np.broadcast_to(init, batch + (self.n_qpos,)), dtype=np.float64).reshape(-1, self.n_qpos)
        active = np.arange(self.n_dofs) if dofs_idx is None else np.asarray(dofs_idx, dtype=np.int64).reshape(-1)
        if active.size and (active.min() < 0 or active.max() >= self.n_dofs):
            raise InvalidValueError(f"{self.spec.name}.inverse_kinematics: dofs_idx must lie in [0, {self.n_dofs}), "
                                    f"got {dofs_idx!r}")
        rows = np.r_[np.asarray(pos_mask, dtype=bool), np.asarray(rot_mask, dtype=bool) & (target_rot is not None)]
        solve = dict(index=index, offset=offset, active=active, rows=rows, max_iters=max(int(max_iters), 0),
                     damping=float(damping), pos_tol=pos_tol, rot_tol=rot_tol, clip=respect_joint_limit,
                     max_step=float(max_step))
        qpos, pos_err, rot_err = self._solve_ik(qpos, target_pos, target_rot, **solve)
        rng = np.random.default_rng(seed)
        for _ in range(max(int(max_samples), 1) - 1):
            missed = np.flatnonzero((pos_err > pos_tol) | (rot_err > rot_tol))
            if missed.size == 0:
                break
            restart = qpos[missed].copy()
            movable = self._scalar_dof_map()
            for q in range(self.n_qpos):  # redraw the plain coordinates the solve may move
                if movable[q] >= 0 and movable[q] in active:
                    low = self.qpos_lower[q] if np.isfinite(self.qpos_lower[q]) else -np.pi
                    high = self.qpos_upper[q] if np.isfinite(self.qpos_upper[q]) else np.pi
                    restart[:, q] = rng.uniform(low, high, missed.size)
            sub_rot = None if target_rot is None else target_rot[missed]
            again, again_pos, again_rot = self._solve_ik(restart, target_pos[missed], sub_rot, **solve)
            better = again_pos + again_rot < pos_err[missed] + rot_err[missed]
            chosen = missed[better]
            qpos[chosen], pos_err[chosen], rot_err[chosen] = again[better], again_pos[better], again_rot[better]
        qpos = qpos.reshape(batch + (self.n_qpos,))
        if return_error:
            return qpos, pos_err.reshape(batch), rot_err.reshape(batch)
        return qpos

    def _solve_ik(self, qpos, target_pos, target_rot, index, offset, active, rows, max_iters, damping, pos_tol,
                  rot_tol, clip, max_step):
        """Damped least squares on a flat batch; returns (qpos, position error, rotation error). Entries that
        reach the tolerances stop moving (and cost nothing more) while the others go on."""
        point = offset[:3, 3]
        qpos = qpos.copy()
        pos_err = np.zeros(len(qpos))
        rot_err = np.zeros(len(qpos))
        todo = np.arange(len(qpos))
        for iteration in range(max_iters + 1):
            current = qpos[todo]
            positions, rotations, dofs = self._frames(current)
            rot = rotations[:, index]
            error = np.zeros((len(todo), 6))
            error[:, :3] = target_pos[todo] - (positions[:, index] + rot @ point)
            if target_rot is not None:
                error[:, 3:] = rotvec_from_matrix(target_rot[todo] @ np.swapaxes(rot @ offset[:3, :3], -1, -2))
            error *= rows
            pos_err[todo] = np.linalg.norm(error[:, :3], axis=-1)
            rot_err[todo] = np.linalg.norm(error[:, 3:], axis=-1)
            going = (pos_err[todo] > pos_tol) | (rot_err[todo] > rot_tol)
            if iteration == max_iters or not np.any(going):
                break
            for part in (slice(0, 3), slice(3, 6)):  # cap the step so far targets are approached gradually
                norm = np.linalg.norm(error[:, part], axis=-1, keepdims=True)
                error[:, part] *= np.minimum(1.0, max_step / np.maximum(norm, 1e-12))
            jac = self._jacobian(positions, rotations, dofs, index, point)[:, :, active] * rows[:, None]
            jac, error, current = jac[going], error[going], current[going]
            system = jac @ np.swapaxes(jac, -1, -2) + damping * np.eye(6)
            step = np.zeros((len(current), self.n_dofs))
            step[:, active] = np.einsum("bji,bj->bi", jac, np.linalg.solve(system, error[..., None])[..., 0])
            current = self.integrate(current, step)
            if clip:
                current = np.clip(current, self.qpos_lower, self.qpos_upper)
            todo = todo[going]
            qpos[todo] = current
        return qpos, pos_err, rot_err


def _normalized(quat: np.ndarray) -> np.ndarray:
    return quat / np.maximum(np.linalg.norm(quat, axis=-1, keepdims=True), 1e-300)
