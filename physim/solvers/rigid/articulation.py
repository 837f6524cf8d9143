"""Articulations on the host: specs flattened into the solver's arrays once, and batched numpy kinematics.

Every link becomes a body (after the scene's free bodies), so the collision pipeline, rendering and getters
treat it as one; its pose and velocity come from forward kinematics of the tree's qpos/qvel. The numpy
kinematics here mirror the Taichi ones (``articulation_dynamics``) exactly; the host uses them to place links
after ``set_qpos``/reset and to answer Jacobians without a kernel launch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physim.errors import InvalidValueError
from physim.solvers.rigid import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.rigid.articulation_model import ArticulationSpec, JointType
from physim.solvers.rigid.model import LinkBodySpec
from physim.solvers.rigid.shapes import GeomType
from physim.utils.rotations import quat_to_matrix


@dataclass(frozen=True)
class ArticulationPlacement:
    """An articulation as a scene places it: its spec, the pose of its base (the world frame of the file),
    m and unit quaternion (w, x, y, z), and whether its links collide."""

    name: str
    spec: ArticulationSpec
    base_pos: np.ndarray = field(default_factory=lambda: np.zeros(3))
    base_quat: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    collides: bool = True


@dataclass
class TreeInfo:
    """Where one articulation's links, dofs and coordinates sit in the solver's flat arrays."""

    name: str
    link_start: int
    n_links: int
    dof_start: int
    n_dofs: int
    qpos_start: int
    n_qpos: int
    body_start: int


@dataclass
class ArticulationArrays:
    """Flat model arrays of every articulation, in the layout of :mod:`physim.solvers.rigid.layout`."""

    trees: list[TreeInfo]
    tree_int: np.ndarray
    link_int: np.ndarray
    link_dofs: np.ndarray
    link_model_vec4: np.ndarray
    joint_int: np.ndarray
    joint_vec3: np.ndarray
    dof_int: np.ndarray
    dof_model: np.ndarray
    dof_model_ext: np.ndarray
    qpos0: np.ndarray
    link_bodies: list[LinkBodySpec]
    effort_limit: np.ndarray
    max_tree_dofs: int
    matrix_size: int

    @property
    def n_links(self) -> int:
        return sum(tree.n_links for tree in self.trees)

    @property
    def n_dofs(self) -> int:
        return sum(tree.n_dofs for tree in self.trees)

    @property
    def n_qpos(self) -> int:
        return sum(tree.n_qpos for tree in self.trees)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (..., 4) quaternions (w, x, y, z)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def _where(spec: ArticulationSpec) -> str:
    return f"articulation {spec.name!r}" + (f" ({spec.source})" if spec.source else "")


def assemble_articulations(placements: list[ArticulationPlacement], first_body: int, float_type: type,
                           self_collision: bool = True, neutral_collision: bool = False) -> ArticulationArrays:
    """Flatten placed specs; link bodies are numbered from ``first_body``. Arrays are never empty.

    Links of one tree collide unless joined (parent and child), unless ``self_collision`` is off, or, without
    ``neutral_collision``, unless their geoms already touch at the rest pose (qpos0)."""
    trees, tree_rows, link_rows, link_dof_lists, link_vec4, joint_rows, joint_vec3 = [], [], [], [], [], [], []
    dof_rows, dof_model, dof_model_ext, qpos0, link_bodies, effort = [], [], [], [], [], []
    matrix_size = 0
    for tree_index, placement in enumerate(placements):
        spec = placement.spec
        where = _where(spec)
        if not spec.links:
            raise InvalidValueError(f"{where}: has no links")
        link_start, dof_start, qpos_start = len(link_rows), len(dof_rows), len(qpos0)
        joint_dofs: dict[str, int] = {}  # joint name -> its dof (-1: not a one-dof joint)
        base_quat = np.asarray(placement.base_quat, np.float64)
        base_pos = np.asarray(placement.base_pos, np.float64)
        n_tree_dofs = spec.n_dofs
        for local, link in enumerate(spec.links):
            if not -1 <= link.parent < local:
                raise InvalidValueError(f"{where}: link {link.name!r} lists parent {link.parent}; links must come "
                                        f"after their parent (parents first)")
            parent = -1 if link.parent < 0 else link_start + link.parent
            pos, quat = np.asarray(link.pos, np.float64), np.asarray(link.quat, np.float64)
            quat = quat / np.linalg.norm(quat)
            if link.parent < 0:  # the base pose is folded into root links
                pos, quat = base_pos + quat_to_matrix(base_quat) @ pos, quat_multiply(base_quat, quat)
            if not np.isfinite(link.mass) or link.mass < 0:
                raise InvalidValueError(f"{where}: link {link.name!r} has mass {link.mass}; must be >= 0 kg")
            link_vec4.append([[*pos, link.mass], quat])
            joint_start = len(joint_rows)
            for joint in link.joints:
                if joint.type == JointType.FREE and (link.parent >= 0 or len(link.joints) != 1):
                    raise InvalidValueError(f"{where}: free joint {joint.name!r} must be the only joint of a root "
                                            f"link (link {link.name!r})")
                axis = np.asarray(joint.axis, np.float64)
                if joint.type in (JointType.REVOLUTE, JointType.PRISMATIC):
                    norm = np.linalg.norm(axis)
                    if not np.isfinite(norm) or norm < 1e-9:
                        raise InvalidValueError(f"{where}: joint {joint.name!r} has a zero or non-finite axis")
                    axis = axis / norm
                if not np.isfinite(joint.frictionloss) or joint.frictionloss < 0:
                    raise InvalidValueError(f"{where}: joint {joint.name!r} has frictionloss {joint.frictionloss}; "
                                            f"must be >= 0 (N m or N)")
                joint_rows.append((int(joint.type), len(qpos0), len(dof_rows)))
                joint_vec3.append([axis, np.asarray(joint.anchor, np.float64)])
                qpos0.extend(_joint_qpos0(joint, base_pos, base_quat, where))
                for _ in range(joint.type.n_dofs):
                    one_dof = joint.type in (JointType.REVOLUTE, JointType.PRISMATIC)
                    limited = one_dof and joint.limit is not None
                    dof_rows.append([tree_index, joint_rows[-1][1] if one_dof else -1, int(limited), -1,
                                     int(joint.frictionloss > 0)])
                    low, high = joint.limit if limited else (0.0, 0.0)
                    dof_model.append((joint.damping, joint.armature, low, high))
                    dof_model_ext.append([joint.frictionloss, 0.0, 0.0, 0.0])
                    joint_dofs[joint.name] = len(dof_rows) - 1 if one_dof else -1
                    effort.append(np.inf if joint.effort_limit is None else float(joint.effort_limit))
            own_dofs = list(range(joint_rows[joint_start][2], len(dof_rows))) if link.joints else []
            inherited = link_dof_lists[parent] if parent >= 0 else []
            link_dof_lists.append(inherited + own_dofs)
            link_rows.append((first_body + len(link_rows), parent, tree_index, joint_start, len(link.joints),
                              len(inherited) + len(own_dofs)))
            geoms = tuple((g.geom, g.friction, g.restitution, g.contype, g.conaffinity) for g in link.geoms)
            link_bodies.append(dict(
                name=f"{placement.name}/{link.name}", geoms=geoms, mass=float(link.mass),
                com=np.asarray(link.com, np.float64), inertia=np.asarray(link.inertia, np.float64), tree=tree_index,
                link=len(link_rows) - 1, parent_body=-1 if parent < 0 else first_body + parent,
                movable=len(link_dof_lists[-1]) > 0, collides=placement.collides, local=local))
        _couple_joints(spec, joint_dofs, dof_rows, dof_model_ext, where)
        trees.append(TreeInfo(placement.name, link_start, len(spec.links), dof_start, n_tree_dofs, qpos_start,
                              len(qpos0) - qpos_start, first_body + link_start))
        tree_rows.append((link_start, len(spec.links), dof_start, n_tree_dofs, matrix_size, qpos_start))
        matrix_size += n_tree_dofs**2
    max_tree_dofs = max([tree.n_dofs for tree in trees] + [1])
    link_dofs = np.full((max(len(link_rows), 1), max_tree_dofs), -1, np.int32)
    for index, dofs in enumerate(link_dof_lists):
        link_dofs[index, : len(dofs)] = dofs
    f = float_type

    def rows(values, width, dtype, element=()):
        array = np.asarray(values, dtype).reshape((-1, width) + element) if len(values) else np.zeros(
            (1, width) + element, dtype)
        return array

    arrays = ArticulationArrays(
        trees=trees,
        tree_int=rows(tree_rows, L.TREE_INT_SLOTS, np.int32),
        link_int=rows(link_rows, L.LINK_INT_SLOTS, np.int32),
        link_dofs=link_dofs,
        link_model_vec4=rows(link_vec4, 2, f, (4,)),
        joint_int=rows(joint_rows, L.JOINT_INT_SLOTS, np.int32),
        joint_vec3=rows(joint_vec3, 2, f, (3,)),
        dof_int=rows(dof_rows, L.DOF_INT_SLOTS, np.int32),
        dof_model=rows(dof_model, L.DOF_MODEL_SLOTS, f),
        dof_model_ext=rows(dof_model_ext, L.DOF_MODEL_EXT_SLOTS, f),
        qpos0=np.asarray(qpos0, np.float64),
        link_bodies=[],
        effort_limit=np.asarray(effort, np.float64),
        max_tree_dofs=max_tree_dofs,
        matrix_size=max(matrix_size, 1),
    )
    masks = _exclusion_masks(arrays, placements, self_collision, neutral_collision)
    arrays.link_bodies = [LinkBodySpec(**fields, exclude=tuple(mask)) for fields, mask in zip(link_bodies, masks)]
    return arrays


def _couple_joints(spec: ArticulationSpec, joint_dofs: dict[str, int], dof_rows: list, dof_model_ext: list,
                   where: str) -> None:
    """Write the spec's equalities into the dof tables: the coupled dof names the one it follows, with the
    multiplier and offset; both keep their M^-1 columns (the row's response is a combination of them)."""
    for equality in spec.equalities:
        dofs = []
        for role, name in (("joint", equality.joint), ("follows", equality.follows)):
            if name not in joint_dofs:
                raise InvalidValueError(f"{where}: equality {equality.name!r}: no joint {name!r} ({role})")
            if joint_dofs[name] < 0:
                raise InvalidValueError(f"{where}: equality {equality.name!r}: joint {name!r} is not a hinge or "
                                        f"slide; only one-dof joints can be coupled")
            dofs.append(joint_dofs[name])
        coupled, followed = dofs
        if coupled == followed or dof_rows[coupled][L.DOF_MIMIC] >= 0:
            raise InvalidValueError(f"{where}: equality {equality.name!r}: joint {equality.joint!r} is coupled "
                                    f"to itself or twice")
        if not (np.isfinite(equality.multiplier) and np.isfinite(equality.offset)):
            raise InvalidValueError(f"{where}: equality {equality.name!r}: multiplier and offset must be finite")
        dof_rows[coupled][L.DOF_MIMIC] = followed
        dof_rows[coupled][L.DOF_KEEP_COLUMN] = dof_rows[followed][L.DOF_KEEP_COLUMN] = 1
        dof_model_ext[coupled][L.DOF_MIMIC_MULTIPLIER] = equality.multiplier
        dof_model_ext[coupled][L.DOF_MIMIC_OFFSET] = equality.offset


def _exclusion_masks(arrays: ArticulationArrays, placements: list[ArticulationPlacement], self_collision: bool,
                     neutral_collision: bool) -> np.ndarray:
    """Per link, two bit masks (``layout.EXCLUDE_BITS`` links each) of the links of its tree it never collides
    with: all of them without self-collision; else, without neutral collision, those touching it at qpos0."""
    masks = np.zeros((arrays.n_links, 2), np.int64)
    if arrays.n_links == 0:
        return masks
    pos, quat, _ = forward_kinematics(arrays, arrays.qpos0[None])
    rotations = quat_to_matrix(quat[0])
    for tree, placement in zip(arrays.trees, placements):
        links = range(tree.link_start, tree.link_start + tree.n_links)
        clouds = [[_collider_cloud(g.geom, rotations[link], pos[0, link]) for g in placement.spec.links[
            link - tree.link_start].geoms] for link in links]
        for a in links:
            for b in links:
                la, lb = a - tree.link_start, b - tree.link_start
                if la == lb or lb >= 2 * L.EXCLUDE_BITS:
                    continue
                if not self_collision or (not neutral_collision and any(
                        _clouds_touch(ca, cb) for ca in clouds[la] for cb in clouds[lb])):
                    masks[a, lb // L.EXCLUDE_BITS] |= 1 << (lb % L.EXCLUDE_BITS)
    return masks


# Directions tried, besides the shapes' face normals, when testing whether two colliders overlap.
_PROBE_AXES = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [0, 1, 1],
                        [0, 1, -1], [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]], np.float64)
_PROBE_AXES /= np.linalg.norm(_PROBE_AXES, axis=1, keepdims=True)


def _collider_cloud(geom, rotation: np.ndarray, origin: np.ndarray):
    """A geom's collider in the world: its points, their inflation radius (m) and its face normals."""
    shape = geom.shape
    geom_rotation = rotation @ quat_to_matrix(np.asarray(geom.quat, np.float64))
    centre = origin + rotation @ np.asarray(geom.pos, np.float64)
    points = np.asarray(shape.points, np.float64).reshape(-1, 3) @ geom_rotation.T + centre
    normals = np.zeros((0, 3))
    if len(shape.planes):
        normals = np.asarray(shape.planes, np.float64)[:, :3] @ geom_rotation.T
    elif shape.type == GeomType.BOX:
        normals = geom_rotation.T.copy()
    return points, float(shape.point_radius), normals


def _clouds_touch(a, b, margin: float = 1e-3) -> bool:
    """Whether two colliders overlap (or come within ``margin``, m): no separating axis among their face
    normals, the line between their centres and a few fixed directions. Conservative: pairs separated only
    along an untried axis count as touching."""
    (points_a, radius_a, normals_a), (points_b, radius_b, normals_b) = a, b
    if len(points_a) == 0 or len(points_b) == 0:
        return False
    between = points_b.mean(0) - points_a.mean(0)
    axes = [normals_a, normals_b, _PROBE_AXES]
    if np.linalg.norm(between) > 1e-12:
        axes.append(between[None] / np.linalg.norm(between))
    axes = np.concatenate(axes)
    project_a, project_b = points_a @ axes.T, points_b @ axes.T
    gap = np.maximum(project_b.min(0) - radius_b - project_a.max(0) - radius_a,
                     project_a.min(0) - radius_a - project_b.max(0) - radius_b)
    return bool(np.all(gap < margin))


def _joint_qpos0(joint, base_pos: np.ndarray, base_quat: np.ndarray, where: str) -> list[float]:
    """The joint's initial coordinates: the spec's qpos0, or zero (identity rotation). A free joint's are the
    world pose of its link: the base pose composed with the spec's qpos0 (the link's pose in the file's world;
    identity when absent), as ``physim.scene.kinematics.KinematicTree`` reads it."""
    n = joint.type.n_qpos
    if joint.qpos0 is not None:
        values = np.asarray(joint.qpos0, np.float64).reshape(-1)
        if values.shape != (n,) or not np.all(np.isfinite(values)):
            raise InvalidValueError(f"{where}: joint {joint.name!r} qpos0 must be {n} finite numbers")
    if joint.type == JointType.FREE:
        rest = values if joint.qpos0 is not None else np.array([0.0, 0, 0, 1, 0, 0, 0])
        pos = base_pos + quat_to_matrix(base_quat) @ rest[:3]
        return [*pos, *quat_multiply(base_quat, rest[3:] / np.linalg.norm(rest[3:]))]
    if joint.qpos0 is not None:
        if joint.type == JointType.BALL:
            values = values / np.linalg.norm(values)
        return list(values)
    return [1.0, 0.0, 0.0, 0.0] if joint.type == JointType.BALL else [0.0]


def _axis_angle_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * np.asarray(angle)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], -1)


def forward_kinematics(arrays: ArticulationArrays, qpos: np.ndarray, qvel: np.ndarray | None = None):
    """World poses of every link for a batch of qpos (B, n_qpos): pos (B, n_links, 3), quat (B, n_links, 4),
    and the dofs' spatial axes S (B, n_dofs, 2, 3) (angular, linear at the world origin). With qvel
    (B, n_dofs), also each link's angular velocity and the velocity of its frame origin, (B, n_links, 3) each."""
    qpos = np.asarray(qpos, np.float64)
    batch = qpos.shape[0]
    n_links = arrays.n_links
    pos = np.zeros((batch, n_links, 3))
    quat = np.zeros((batch, n_links, 4))
    axes = np.zeros((batch, max(arrays.n_dofs, 1), 2, 3))
    link_vec4 = arrays.link_model_vec4.astype(np.float64)
    for link in range(n_links):
        parent = arrays.link_int[link, L.LINK_PARENT]
        if parent >= 0:
            p_pos, p_quat = pos[:, parent], quat[:, parent]
        else:
            p_pos, p_quat = np.zeros((batch, 3)), np.tile([1.0, 0.0, 0.0, 0.0], (batch, 1))
        x = p_pos + np.einsum("bij,j->bi", quat_to_matrix(p_quat), link_vec4[link, L.LINK_POS_MASS, :3])
        q = quat_multiply(p_quat, np.broadcast_to(link_vec4[link, L.LINK_QUAT], p_quat.shape))
        start = arrays.link_int[link, L.JOINT_START]
        for joint in range(start, start + arrays.link_int[link, L.JOINT_COUNT]):
            joint_type, qs, ds = arrays.joint_int[joint]
            axis = arrays.joint_vec3[joint, L.JOINT_AXIS].astype(np.float64)
            anchor_local = arrays.joint_vec3[joint, L.JOINT_ANCHOR].astype(np.float64)
            anchor = x + np.einsum("bij,j->bi", quat_to_matrix(q), anchor_local)
            if joint_type == JointType.FREE:
                x = qpos[:, qs:qs + 3].copy()
                q = qpos[:, qs + 3:qs + 7] / np.linalg.norm(qpos[:, qs + 3:qs + 7], axis=1, keepdims=True)
                anchor = x
            elif joint_type == JointType.BALL:
                local = qpos[:, qs:qs + 4] / np.linalg.norm(qpos[:, qs:qs + 4], axis=1, keepdims=True)
                q = quat_multiply(q, local)
                x = anchor - np.einsum("bij,j->bi", quat_to_matrix(q), anchor_local)
            elif joint_type == JointType.REVOLUTE:
                q = quat_multiply(q, _axis_angle_quat(axis, qpos[:, qs]))
                x = anchor - np.einsum("bij,j->bi", quat_to_matrix(q), anchor_local)
            else:
                x = x + qpos[:, qs, None] * np.einsum("bij,j->bi", quat_to_matrix(q), axis)
            rotation = quat_to_matrix(q)
            for k in range(JointType(joint_type).n_dofs):
                if joint_type == JointType.FREE and k < 3:
                    axes[:, ds + k, 1, k] = 1.0
                    continue
                u = rotation[:, :, k % 3] if joint_type in (JointType.FREE, JointType.BALL) else rotation @ axis
                if joint_type == JointType.PRISMATIC:
                    axes[:, ds + k, 1] = u
                else:
                    axes[:, ds + k, 0] = u
                    axes[:, ds + k, 1] = np.cross(anchor, u)
        pos[:, link], quat[:, link] = x, q
    if qvel is None:
        return pos, quat, axes
    omega = np.zeros((batch, n_links, 3))
    origin_vel = np.zeros((batch, n_links, 3))
    qvel = np.asarray(qvel, np.float64)
    for link in range(n_links):
        dofs = arrays.link_dofs[link, : arrays.link_int[link, L.LINK_N_DOFS]]
        w = np.einsum("bdk,bd->bk", axes[:, dofs, 0], qvel[:, dofs])
        v0 = np.einsum("bdk,bd->bk", axes[:, dofs, 1], qvel[:, dofs])
        omega[:, link] = w
        origin_vel[:, link] = v0 + np.cross(w, pos[:, link])
    return pos, quat, axes, omega, origin_vel


def link_jacobian(arrays: ArticulationArrays, tree: TreeInfo, axes: np.ndarray, pos: np.ndarray, link: int,
                  point: np.ndarray | None = None) -> np.ndarray:
    """Jacobian (B, 6, n_tree_dofs) of a body point of ``link`` (global index; its frame origin by default):
    rows 0-2 the point's linear velocity, rows 3-5 the link's angular velocity, per unit qvel of the tree."""
    point = pos[:, link] if point is None else np.broadcast_to(point, pos[:, link].shape)
    jacobian = np.zeros((pos.shape[0], 6, tree.n_dofs))
    for dof in arrays.link_dofs[link, : arrays.link_int[link, L.LINK_N_DOFS]]:
        s_ang, s_lin = axes[:, dof, 0], axes[:, dof, 1]
        jacobian[:, :3, dof - tree.dof_start] = s_lin + np.cross(s_ang, point)
        jacobian[:, 3:, dof - tree.dof_start] = s_ang
    return jacobian
