"""Articulated trees in generalized coordinates: the stages of a substep that move them, for one env.

- ``articulation_kinematics``: forward kinematics from qpos/qvel. Writes every link's world pose and
  velocity into the body arrays (so collision, rendering and getters see links as bodies), each dof's
  motion axis as a spatial vector S at the world origin, and each link's velocity-product acceleration.
- ``articulation_velocities``: the mass matrix M(q) (composite: sum over links of J^T diag(m, I) J) plus
  armature, the bias force c(q, qdot) (gravity, Coriolis and centrifugal: J^T of each link's
  velocity-product wrench), joint damping and actuators, then M dv = dt (tau - c) by Cholesky. PD gains and
  damping are integrated implicitly in velocity (MuJoCo's implicitfast: M + dt (kv + damping) + dt^2 kp),
  so a stiff PD on a light link stays stable at large steps. Prepares joint-limit rows for the contact solve.
- ``articulation_positions``: qpos from qvel (plus split-impulse pseudo-velocities); quaternions of ball and
  free joints are integrated on the sphere and renormalised. Links are always placed by FK from qpos: no drift.

Spatial vectors are (angular, linear) pairs at the world origin (Featherstone): velocities of a child are
its parent's plus S qdot, and an axis fixed in the moving link changes as V x S. Joint conventions are
MuJoCo's (see ``articulation_model``).
"""


import taichi as ti

from physim.solvers.rigid.articulation_model import JointType
from physim.solvers.rigid.layout import (
    ANG_VEL,
    APPLIED_FORCE,
    BIAS_FORCE,
    COM_LOCAL,
    COM_WORLD,
    DOF_ARMATURE,
    DOF_DAMPING,
    DOF_FRICTIONLOSS,
    DOF_KEEP_COLUMN,
    DOF_LIMIT_HI,
    DOF_LIMIT_LO,
    DOF_LIMITED,
    DOF_MASS,
    DOF_MIMIC,
    DOF_MIMIC_MULTIPLIER,
    DOF_MIMIC_OFFSET,
    DOF_QPOS,
    DOF_S_ANG,
    DOF_S_LIN,
    DT,
    EXPLICIT_FORCE,
    EXTERNAL_ANG_IMPULSE,
    EXTERNAL_IMPULSE,
    FEEDFORWARD,
    FORCE_HI,
    FORCE_LO,
    FRICTION_IMPULSE,
    GRAVITY_COMP,
    GRAVITY_FORCE,
    GRAVITY_X,
    IMPLICIT_KP,
    IMPLICIT_KV,
    INERTIA,
    JOINT_ANCHOR,
    JOINT_AXIS,
    JOINT_COUNT,
    JOINT_DOF,
    JOINT_QPOS,
    JOINT_START,
    JOINT_TYPE,
    KP,
    KV,
    LIMIT_IMPULSE,
    LIMIT_SIGN,
    LIMIT_TARGET,
    LIN_VEL,
    LINK_BIAS_ANG,
    LINK_BIAS_LIN,
    LINK_BODY,
    LINK_COUNT,
    LINK_N_DOFS,
    LINK_PARENT,
    LINK_POS_MASS,
    LINK_QUAT,
    LINK_START,
    LINK_V0,
    MARGIN,
    MATRIX_START,
    N_LINKS,
    N_TREES,
    POS,
    PSEUDO_QVEL,
    SOLVE,
    TARGET_POS,
    TARGET_VEL,
    TREE_DOF_COUNT,
    TREE_DOF_START,
)
from physim.utils.tmath import quat_multiply, quat_to_matrix

vec3 = ti.math.vec3


@ti.func
def _cross_motion(omega, v0, s_ang, s_lin):
    """Spatial cross product of motion vectors (omega, v0) x (s_ang, s_lin), as an (angular, linear) pair."""
    return omega.cross(s_ang), omega.cross(s_lin) + v0.cross(s_ang)


@ti.func
def articulation_kinematics(d: ti.template(), env):
    """Place every link from qpos and give it its velocity from qvel (links are listed parents first)."""
    for link in range(d.int_params[N_LINKS]):
        parent = d.link_int[link, LINK_PARENT]
        pos = vec3(0.0)
        quat = ti.Vector([1.0, 0.0, 0.0, 0.0])
        omega, v0, bias_ang, bias_lin = vec3(0.0), vec3(0.0), vec3(0.0), vec3(0.0)
        if parent >= 0:
            parent_body = d.link_int[parent, LINK_BODY]
            pos = d.body_vec3[env, parent_body, POS]
            quat = d.body_quat[env, parent_body]
            omega = d.body_vec3[env, parent_body, ANG_VEL]
            v0 = d.link_vec3[env, parent, LINK_V0]
            bias_ang = d.link_vec3[env, parent, LINK_BIAS_ANG]
            bias_lin = d.link_vec3[env, parent, LINK_BIAS_LIN]
        offset = d.link_model_vec4[link, LINK_POS_MASS]
        pos = pos + quat_to_matrix(quat) @ ti.Vector([offset[0], offset[1], offset[2]])
        quat = quat_multiply(quat, d.link_model_vec4[link, LINK_QUAT])
        start = d.link_int[link, JOINT_START]
        for joint in range(start, start + d.link_int[link, JOINT_COUNT]):
            joint_type = d.joint_int[joint, JOINT_TYPE]
            qs = d.joint_int[joint, JOINT_QPOS]
            ds = d.joint_int[joint, JOINT_DOF]
            axis = d.joint_vec3[joint, JOINT_AXIS]
            anchor_local = d.joint_vec3[joint, JOINT_ANCHOR]
            anchor = pos + quat_to_matrix(quat) @ anchor_local
            n_dofs = 1
            if joint_type == JointType.FREE:
                n_dofs = 6
                pos = ti.Vector([d.qpos[env, qs], d.qpos[env, qs + 1], d.qpos[env, qs + 2]])
                quat = ti.Vector([d.qpos[env, qs + 3], d.qpos[env, qs + 4], d.qpos[env, qs + 5], d.qpos[env, qs + 6]])
                quat = quat / quat.norm()
                anchor = pos
            elif joint_type == JointType.BALL:
                n_dofs = 3
                local = ti.Vector([d.qpos[env, qs], d.qpos[env, qs + 1], d.qpos[env, qs + 2], d.qpos[env, qs + 3]])
                quat = quat_multiply(quat, local / local.norm())
                pos = anchor - quat_to_matrix(quat) @ anchor_local
            elif joint_type == JointType.REVOLUTE:
                half = 0.5 * d.qpos[env, qs]
                quat = quat_multiply(quat, ti.Vector([ti.cos(half), 0.0, 0.0, 0.0]) + ti.sin(half) * ti.Vector(
                    [0.0, axis[0], axis[1], axis[2]]))
                pos = anchor - quat_to_matrix(quat) @ anchor_local
            else:  # PRISMATIC
                pos = pos + d.qpos[env, qs] * (quat_to_matrix(quat) @ axis)
            rotation = quat_to_matrix(quat)
            # Motion axes of the joint's dofs, then the velocity they add. Axes that turn with the link
            # change as V x S: their velocity-product term uses the velocity after the joint (a free joint's
            # world-fixed translations have none).
            joint_omega, joint_v0 = vec3(0.0), vec3(0.0)
            for k in range(n_dofs):
                s_ang, s_lin = vec3(0.0), vec3(0.0)
                if joint_type == JointType.FREE and k < 3:
                    s_lin[k] = 1.0
                else:
                    u = rotation @ axis
                    if joint_type == JointType.FREE or joint_type == JointType.BALL:
                        u = ti.Vector([rotation[0, k % 3], rotation[1, k % 3], rotation[2, k % 3]])
                    if joint_type == JointType.PRISMATIC:
                        s_lin = u
                    else:
                        s_ang, s_lin = u, anchor.cross(u)
                d.dof_vec3[env, ds + k, DOF_S_ANG] = s_ang
                d.dof_vec3[env, ds + k, DOF_S_LIN] = s_lin
                qd = d.qvel[env, ds + k]
                if joint_type == JointType.FREE and k < 3:
                    v0 += s_lin * qd
                else:
                    joint_omega += s_ang * qd
                    joint_v0 += s_lin * qd
            omega += joint_omega
            v0 += joint_v0
            extra_ang, extra_lin = _cross_motion(omega, v0, joint_omega, joint_v0)
            bias_ang += extra_ang
            bias_lin += extra_lin
        body = d.link_int[link, LINK_BODY]
        d.body_vec3[env, body, POS] = pos
        d.body_quat[env, body] = quat
        d.body_vec3[env, body, ANG_VEL] = omega
        com = pos + quat_to_matrix(quat) @ d.body_model_vec3[body, COM_LOCAL]
        d.body_vec3[env, body, LIN_VEL] = v0 + omega.cross(com)
        d.link_vec3[env, link, LINK_V0] = v0
        d.link_vec3[env, link, LINK_BIAS_ANG] = bias_ang
        d.link_vec3[env, link, LINK_BIAS_LIN] = bias_lin


@ti.func
def _point_jacobian(d: ti.template(), env, dof, point):
    """Angular and linear velocity of the body point ``point`` (world) per unit velocity of ``dof``."""
    s_ang = d.dof_vec3[env, dof, DOF_S_ANG]
    return s_ang, d.dof_vec3[env, dof, DOF_S_LIN] + s_ang.cross(point)


@ti.func
def solve_in_place(d: ti.template(), env, tree):
    """x = M^-1 b for the tree's factored mass matrix (lower Cholesky factor L in tree_matrix), with b and
    then x in the SOLVE slot of the tree's dofs."""
    n = d.tree_int[tree, TREE_DOF_COUNT]
    ds = d.tree_int[tree, TREE_DOF_START]
    m0 = d.tree_int[tree, MATRIX_START]
    for i in range(n):  # L y = b
        total = d.dof_work[env, ds + i, SOLVE]
        for k in range(i):
            total -= d.tree_matrix[env, m0 + i * n + k] * d.dof_work[env, ds + k, SOLVE]
        d.dof_work[env, ds + i, SOLVE] = total / d.tree_matrix[env, m0 + i * n + i]
    for back in range(n):  # L^T x = y
        i = n - 1 - back
        total = d.dof_work[env, ds + i, SOLVE]
        for k in range(i + 1, n):
            total -= d.tree_matrix[env, m0 + k * n + i] * d.dof_work[env, ds + k, SOLVE]
        d.dof_work[env, ds + i, SOLVE] = total / d.tree_matrix[env, m0 + i * n + i]


@ti.func
def articulation_velocities(d: ti.template(), env):
    """Unconstrained velocity update of every tree: (M + dt D + dt^2 K) dv = dt (tau - c), D and K the
    implicit damping and stiffness of joints and PD actuators."""
    dt = d.params[DT]
    gravity = ti.Vector([d.params[GRAVITY_X], d.params[GRAVITY_X + 1], d.params[GRAVITY_X + 2]])
    for tree in range(d.int_params[N_TREES]):
        n = d.tree_int[tree, TREE_DOF_COUNT]
        ds = d.tree_int[tree, TREE_DOF_START]
        m0 = d.tree_int[tree, MATRIX_START]
        for i in range(n * n):
            d.tree_matrix[env, m0 + i] = 0.0
        for i in range(n):
            d.dof_work[env, ds + i, BIAS_FORCE] = 0.0
            d.dof_work[env, ds + i, GRAVITY_FORCE] = 0.0
        first = d.tree_int[tree, LINK_START]
        for link in range(first, first + d.tree_int[tree, LINK_COUNT]):
            body = d.link_int[link, LINK_BODY]
            mass = d.link_model_vec4[link, LINK_POS_MASS][3]
            rotation = quat_to_matrix(d.body_quat[env, body])
            inertia = rotation @ d.body_model_mat3[body, INERTIA] @ rotation.transpose()
            com = d.body_vec3[env, body, COM_WORLD]
            omega = d.body_vec3[env, body, ANG_VEL]
            bias_ang = d.link_vec3[env, link, LINK_BIAS_ANG]
            # Acceleration of the centre of mass when qddot = 0 (spatial to classical: + omega x v).
            com_accel = d.link_vec3[env, link, LINK_BIAS_LIN] + bias_ang.cross(com) + omega.cross(
                d.body_vec3[env, body, LIN_VEL])
            # Impulses other solvers handed the link since the last step enter as a force over this substep
            # (J / dt at the centre of mass, L / dt): the tree answers with dqvel = M^-1 J_link^T [J; L].
            force = mass * (com_accel - gravity) - d.body_vec3[env, body, EXTERNAL_IMPULSE] / dt
            torque = inertia @ bias_ang + omega.cross(inertia @ omega) - d.body_vec3[env, body,
                                                                                      EXTERNAL_ANG_IMPULSE] / dt
            d.body_vec3[env, body, EXTERNAL_IMPULSE] = vec3(0.0)
            d.body_vec3[env, body, EXTERNAL_ANG_IMPULSE] = vec3(0.0)
            for a in range(d.link_int[link, LINK_N_DOFS]):
                i = d.link_dofs[link, a]
                ang_i, lin_i = _point_jacobian(d, env, i, com)
                d.dof_work[env, i, BIAS_FORCE] += lin_i.dot(force) + ang_i.dot(torque)
                d.dof_work[env, i, GRAVITY_FORCE] -= mass * lin_i.dot(gravity)
                inertia_ang_i = inertia @ ang_i
                for b in range(a + 1):  # lower triangle: link_dofs ascend, so j <= i
                    j = d.link_dofs[link, b]
                    ang_j, lin_j = _point_jacobian(d, env, j, com)
                    d.tree_matrix[env, m0 + (i - ds) * n + (j - ds)] += mass * lin_i.dot(lin_j) + ang_j.dot(
                        inertia_ang_i)
        for i in range(n):
            dof = ds + i
            qs = d.dof_int[dof, DOF_QPOS]
            q = 0.0
            if qs >= 0:
                q = d.qpos[env, qs]
            qd = d.qvel[env, dof]
            kp = d.dof_control[env, dof, KP]
            kv = d.dof_control[env, dof, KV]
            force = kp * (d.dof_control[env, dof, TARGET_POS] - q) + kv * (
                d.dof_control[env, dof, TARGET_VEL] - qd) + d.dof_control[env, dof, FEEDFORWARD]
            low, high = d.dof_control[env, dof, FORCE_LO], d.dof_control[env, dof, FORCE_HI]
            if force < low or force > high:  # saturated: a constant force, no implicit stiffness
                force = ti.math.clamp(force, low, high)
                kp, kv = 0.0, 0.0
            damping = d.dof_model[dof, DOF_DAMPING]
            d.tree_matrix[env, m0 + i * n + i] += d.dof_model[dof, DOF_ARMATURE] + dt * (kv + damping) + dt * dt * kp
            bias = d.dof_work[env, dof, BIAS_FORCE] - d.dof_control[env, dof, GRAVITY_COMP] * d.dof_work[
                env, dof, GRAVITY_FORCE]
            d.dof_work[env, dof, SOLVE] = dt * (force - dt * kp * qd - damping * qd - bias)
            d.dof_work[env, dof, EXPLICIT_FORCE] = force - dt * kp * qd
            d.dof_work[env, dof, IMPLICIT_KP] = kp
            d.dof_work[env, dof, IMPLICIT_KV] = kv
        # Cholesky factor in place (lower triangle); trees are small, so a dense factor is cheapest.
        for j in range(n):
            total = d.tree_matrix[env, m0 + j * n + j]
            for k in range(j):
                total -= d.tree_matrix[env, m0 + j * n + k] ** 2
            pivot = ti.sqrt(ti.max(total, 1e-12))
            d.tree_matrix[env, m0 + j * n + j] = pivot
            for i in range(j + 1, n):
                total = d.tree_matrix[env, m0 + i * n + j]
                for k in range(j):
                    total -= d.tree_matrix[env, m0 + i * n + k] * d.tree_matrix[env, m0 + j * n + k]
                d.tree_matrix[env, m0 + i * n + j] = total / pivot
        solve_in_place(d, env, tree)
        for i in range(n):
            dof = ds + i
            delta = d.dof_work[env, dof, SOLVE]
            d.qvel[env, dof] += delta
            d.dof_work[env, dof, PSEUDO_QVEL] = 0.0
            applied = d.dof_work[env, dof, EXPLICIT_FORCE] - (
                dt * d.dof_work[env, dof, IMPLICIT_KP] + d.dof_work[env, dof, IMPLICIT_KV]) * delta
            d.dof_control[env, dof, APPLIED_FORCE] = applied
        _prepare_limits(d, env, tree)


@ti.func
def _prepare_limits(d: ti.template(), env, tree):
    """The dof's own constraint rows: one-sided rows for dofs at (or about to reach within the substep) a joint
    limit, sign * qdot >= target; and dry-friction rows (MuJoCo's frictionloss), qdot = 0 with an impulse
    bounded by +-frictionloss * dt. Both keep the column M^-1 e_dof for applying their impulses."""
    dt = d.params[DT]
    n = d.tree_int[tree, TREE_DOF_COUNT]
    ds = d.tree_int[tree, TREE_DOF_START]
    for i in range(n):
        dof = ds + i
        d.dof_work[env, dof, LIMIT_SIGN] = 0.0
        d.dof_work[env, dof, LIMIT_IMPULSE] = 0.0
        d.dof_work[env, dof, FRICTION_IMPULSE] = 0.0
        sign, target = 0.0, 0.0
        if d.dof_int[dof, DOF_LIMITED] != 0:
            q = d.qpos[env, d.dof_int[dof, DOF_QPOS]]
            qd = d.qvel[env, dof]
            gap_low = q - d.dof_model[dof, DOF_LIMIT_LO]
            gap_high = d.dof_model[dof, DOF_LIMIT_HI] - q
            gap = gap_low
            sign = 1.0
            if gap_high < gap_low:
                sign, gap = -1.0, gap_high
            if gap < d.params[MARGIN] + ti.abs(qd) * dt:
                # Close an open gap within the substep but not cross it; push out of a crossed one gently.
                target = -gap / dt
                if gap < 0:
                    target = -0.2 * gap / dt
            else:
                sign = 0.0
        if sign != 0 or d.dof_int[dof, DOF_KEEP_COLUMN] != 0:
            for k in range(n):
                d.dof_work[env, ds + k, SOLVE] = 0.0
            d.dof_work[env, dof, SOLVE] = 1.0
            solve_in_place(d, env, tree)
            for k in range(n):
                d.dof_column[env, dof, k] = d.dof_work[env, ds + k, SOLVE]
            d.dof_work[env, dof, LIMIT_SIGN] = sign
            d.dof_work[env, dof, LIMIT_TARGET] = target
            d.dof_work[env, dof, DOF_MASS] = 1.0 / d.dof_column[env, dof, i]


@ti.func
def solve_limits(d: ti.template(), env):
    """One Gauss-Seidel sweep over the active joint-limit and dry-friction rows; returns the largest velocity
    error, rad/s or m/s."""
    largest_error = 0.0
    dt = d.params[DT]
    for tree in range(d.int_params[N_TREES]):
        n = d.tree_int[tree, TREE_DOF_COUNT]
        ds = d.tree_int[tree, TREE_DOF_START]
        for i in range(n):
            dof = ds + i
            # Dry friction: stop the dof with an impulse of at most frictionloss * dt either way (Coulomb
            # friction in the joint); a dof that still slides is no error.
            bound = d.dof_model_ext[dof, DOF_FRICTIONLOSS] * dt
            change = 0.0
            if bound > 0:
                old = d.dof_work[env, dof, FRICTION_IMPULSE]
                wanted = old - d.dof_work[env, dof, DOF_MASS] * d.qvel[env, dof]
                new = ti.math.clamp(wanted, -bound, bound)
                if new == wanted:
                    largest_error = ti.max(largest_error, ti.abs(d.qvel[env, dof]))
                d.dof_work[env, dof, FRICTION_IMPULSE] = new
                change = new - old
            sign = d.dof_work[env, dof, LIMIT_SIGN]
            if sign != 0:
                for k in range(n):
                    d.qvel[env, ds + k] += change * d.dof_column[env, dof, k]
                change = 0.0
                shortfall = d.dof_work[env, dof, LIMIT_TARGET] - sign * d.qvel[env, dof]
                old = d.dof_work[env, dof, LIMIT_IMPULSE]
                new = ti.max(old + d.dof_work[env, dof, DOF_MASS] * shortfall, 0.0)
                if shortfall > 0 or old > 0:
                    largest_error = ti.max(largest_error, ti.abs(shortfall))
                d.dof_work[env, dof, LIMIT_IMPULSE] = new
                change = sign * (new - old)
            if change != 0:
                for k in range(n):
                    d.qvel[env, ds + k] += change * d.dof_column[env, dof, k]
            followed = d.dof_int[dof, DOF_MIMIC]
            if followed >= 0:
                largest_error = ti.max(largest_error, _solve_coupling(d, env, ds, n, dof, followed))
    return largest_error


@ti.func
def _solve_coupling(d: ti.template(), env, ds, n, dof, followed):
    """One visit of the equality row q_dof = m q_followed + offset: J = e_dof - m e_followed, so M^-1 J^T is a
    combination of the two dofs' columns. Drift is pulled back by a fifth per substep, as for limits.
    Returns the row's velocity error."""
    dt = d.params[DT]
    multiplier = d.dof_model_ext[dof, DOF_MIMIC_MULTIPLIER]
    i, j = dof - ds, followed - ds
    drift = d.qpos[env, d.dof_int[dof, DOF_QPOS]] - multiplier * d.qpos[env, d.dof_int[followed, DOF_QPOS]] - \
        d.dof_model_ext[dof, DOF_MIMIC_OFFSET]
    shortfall = -0.2 * drift / dt - (d.qvel[env, dof] - multiplier * d.qvel[env, followed])
    inverse_mass = d.dof_column[env, dof, i] - 2.0 * multiplier * d.dof_column[env, dof, j] + multiplier**2 * \
        d.dof_column[env, followed, j]
    impulse = shortfall / inverse_mass
    for k in range(n):
        d.qvel[env, ds + k] += impulse * (d.dof_column[env, dof, k] - multiplier * d.dof_column[env, followed, k])
    return ti.abs(shortfall)


@ti.func
def articulation_positions(d: ti.template(), env):
    """Advance qpos with the solved qvel plus the contact pseudo-velocities."""
    dt = d.params[DT]
    for link in range(d.int_params[N_LINKS]):
        start = d.link_int[link, JOINT_START]
        for joint in range(start, start + d.link_int[link, JOINT_COUNT]):
            joint_type = d.joint_int[joint, JOINT_TYPE]
            qs = d.joint_int[joint, JOINT_QPOS]
            ds = d.joint_int[joint, JOINT_DOF]
            if joint_type == JointType.REVOLUTE or joint_type == JointType.PRISMATIC:
                d.qpos[env, qs] += dt * (d.qvel[env, ds] + d.dof_work[env, ds, PSEUDO_QVEL])
            else:
                angular_start, quat_start = ds, qs
                if joint_type == JointType.FREE:
                    for k in range(3):
                        d.qpos[env, qs + k] += dt * (d.qvel[env, ds + k] + d.dof_work[env, ds + k, PSEUDO_QVEL])
                    angular_start, quat_start = ds + 3, qs + 3
                # The angular velocity is in the link frame: q' = q (1, omega dt / 2), renormalised.
                omega = vec3(0.0)
                for k in range(3):
                    omega[k] = d.qvel[env, angular_start + k] + d.dof_work[env, angular_start + k, PSEUDO_QVEL]
                quat = ti.Vector([d.qpos[env, quat_start], d.qpos[env, quat_start + 1], d.qpos[env, quat_start + 2],
                                  d.qpos[env, quat_start + 3]])
                quat = quat + 0.5 * dt * quat_multiply(quat, ti.Vector([0.0, omega[0], omega[1], omega[2]]))
                quat = quat / quat.norm()
                for k in ti.static(range(4)):
                    d.qpos[env, quat_start + k] = quat[k]
