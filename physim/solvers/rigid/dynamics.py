"""Stages of a substep that move bodies: kinematics, velocity integration, position integration.

Each function advances one env; the step kernel calls them in order for every env.
"""


import taichi as ti

from physim.solvers.rigid.layout import (
    AABB_LOCAL_HI,
    AABB_LOCAL_LO,
    AABB_MAX,
    AABB_MIN,
    ANG_VEL,
    BODY_TREE,
    COM_LOCAL,
    COM_WORLD,
    DT,
    EXTERNAL_ANG_IMPULSE,
    EXTERNAL_IMPULSE,
    FIRST_NONFINITE_BODY,
    GEOM_BODY,
    GEOM_POS,
    GEOM_TYPE,
    GRAVITY_X,
    INERTIA,
    INV_INERTIA,
    LIN_VEL,
    LOCAL_POS,
    MARGIN,
    MAX_CONTACTS_WANTED,
    MAX_SWEEPS,
    NO_BODY,
    POS,
    PSEUDO_ANG_VEL,
    PSEUDO_LIN_VEL,
)
from physim.solvers.rigid.shapes import GeomType
from physim.utils.tmath import is_finite, quat_integrate, quat_to_matrix


@ti.func
def update_kinematics(d: ti.template(), env):
    """World-frame centres of mass, inverse inertias, geom poses and speculative bounding boxes."""
    dt = d.params[DT]
    for body in range(d.body_vec3.shape[1]):
        rotation = quat_to_matrix(d.body_quat[env, body])
        d.body_vec3[env, body, COM_WORLD] = d.body_vec3[env, body, POS] + rotation @ d.body_model_vec3[body, COM_LOCAL]
        d.body_inv_inertia_world[env, body] = rotation @ d.body_model_mat3[body, INV_INERTIA] @ rotation.transpose()
    for geom in range(d.geom_vec3.shape[1]):
        body = d.geom_model_int[geom, GEOM_BODY]
        body_rotation = quat_to_matrix(d.body_quat[env, body])
        rotation = body_rotation @ quat_to_matrix(d.geom_model_quat[geom])
        position = d.body_vec3[env, body, POS] + body_rotation @ d.geom_model_vec3[geom, LOCAL_POS]
        d.geom_vec3[env, geom, GEOM_POS] = position
        d.geom_rot[env, geom] = rotation
        if d.geom_model_int[geom, GEOM_TYPE] != GeomType.PLANE:
            lo = d.geom_model_vec3[geom, AABB_LOCAL_LO]
            hi = d.geom_model_vec3[geom, AABB_LOCAL_HI]
            center = position + rotation @ (0.5 * (lo + hi))
            half = ti.abs(rotation) @ (0.5 * (hi - lo))
            # A geom may travel |v| dt before the next collision pass: contacts are made that far ahead.
            reach = d.body_vec3[env, body, LIN_VEL].norm() + d.body_vec3[env, body, ANG_VEL].norm() * half.norm()
            margin = d.params[MARGIN] + reach * dt
            d.geom_margin[env, geom] = margin
            d.geom_vec3[env, geom, AABB_MIN] = center - half - margin
            d.geom_vec3[env, geom, AABB_MAX] = center + half + margin


@ti.func
def integrate_velocities(d: ti.template(), env):
    """Gravity, and the gyroscopic torque taken implicitly (one Newton step, as Catto's solver) so that
    spinning asymmetric bodies do not gain energy."""
    dt = d.params[DT]
    gravity = ti.Vector([d.params[GRAVITY_X], d.params[GRAVITY_X + 1], d.params[GRAVITY_X + 2]])
    for body in range(d.body_vec3.shape[1]):
        if d.body_inv_mass[body] > 0:
            # What other solvers handed the body since the last step (links take theirs in joint space).
            d.body_vec3[env, body, LIN_VEL] += d.body_inv_mass[body] * d.body_vec3[env, body, EXTERNAL_IMPULSE]
            d.body_vec3[env, body, ANG_VEL] += d.body_inv_inertia_world[env, body] @ d.body_vec3[
                env, body, EXTERNAL_ANG_IMPULSE]
            d.body_vec3[env, body, LIN_VEL] += gravity * dt
            rotation = quat_to_matrix(d.body_quat[env, body])
            inertia = d.body_model_mat3[body, INERTIA]
            omega = rotation.transpose() @ d.body_vec3[env, body, ANG_VEL]
            momentum = inertia @ omega
            residual = dt * omega.cross(momentum)
            jacobian = inertia + dt * (_skew(omega) @ inertia - _skew(momentum))
            omega -= jacobian.inverse() @ residual
            d.body_vec3[env, body, ANG_VEL] = rotation @ omega
        d.body_vec3[env, body, PSEUDO_LIN_VEL] = ti.Vector([0.0, 0.0, 0.0])
        d.body_vec3[env, body, PSEUDO_ANG_VEL] = ti.Vector([0.0, 0.0, 0.0])
        if d.body_model_int[body, BODY_TREE] < 0:  # consumed (or, on a static body, dropped)
            d.body_vec3[env, body, EXTERNAL_IMPULSE] = ti.Vector([0.0, 0.0, 0.0])
            d.body_vec3[env, body, EXTERNAL_ANG_IMPULSE] = ti.Vector([0.0, 0.0, 0.0])


@ti.func
def integrate_positions(d: ti.template(), env):
    """Semi-implicit Euler: move centres of mass and orientations with the solved velocities, plus the
    split-impulse pseudo-velocities that remove penetration without adding kinetic energy."""
    dt = d.params[DT]
    for body in range(d.body_vec3.shape[1]):
        if d.body_inv_mass[body] > 0:
            com = d.body_vec3[env, body, COM_WORLD]
            com += (d.body_vec3[env, body, LIN_VEL] + d.body_vec3[env, body, PSEUDO_LIN_VEL]) * dt
            omega = d.body_vec3[env, body, ANG_VEL] + d.body_vec3[env, body, PSEUDO_ANG_VEL]
            quat = quat_integrate(d.body_quat[env, body], omega, dt)
            d.body_quat[env, body] = quat
            d.body_vec3[env, body, POS] = com - quat_to_matrix(quat) @ d.body_model_vec3[body, COM_LOCAL]


@ti.func
def start_step(d: ti.template(), env):
    """Reset the per-step health counters of one env."""
    d.counters[env, FIRST_NONFINITE_BODY] = NO_BODY
    d.counters[env, MAX_CONTACTS_WANTED] = 0
    d.counters[env, MAX_SWEEPS] = 0


@ti.func
def check_finite(d: ti.template(), env):
    """Record the first body whose state is NaN or infinite (the host turns it into an error)."""
    for body in range(d.body_vec3.shape[1]):
        total = d.body_vec3[env, body, POS].sum() + d.body_vec3[env, body, LIN_VEL].sum()
        total += d.body_vec3[env, body, ANG_VEL].sum() + d.body_quat[env, body].sum()
        if not is_finite(total):
            ti.atomic_min(d.counters[env, FIRST_NONFINITE_BODY], body)


@ti.func
def _skew(v):
    return ti.Matrix([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
