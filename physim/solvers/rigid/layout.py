"""How the rigid solver's arrays are laid out, and the bundle that carries them into Taichi functions.

Arrays are Taichi ndarrays, not fields, so one compiled kernel serves every scene in a process (a
field-templated kernel compiles again for each new scene). Each kernel argument costs several
microseconds to launch on the CPU, so quantities of one element type share an array with a "slot"
axis, named by the constants below: ``body_vec3[env, body, LIN_VEL]`` is a body's linear velocity.

Model (static, shared by all envs) vs state (what a step changes, per env) vs work (scratch, per env):
- state: body_vec3 slots POS..ANG_VEL and body_quat. For a free body this is exactly its free joint's
  qpos (pos, quat) and qvel (linear velocity of the centre of mass, angular velocity, world frame).
- work: everything else per env, recomputed every substep except the warm-start cache.
"""

from __future__ import annotations

import taichi as ti

# body_vec3 (B, n_bodies, BODY_VEC3_SLOTS)
POS, LIN_VEL, ANG_VEL, COM_WORLD, PSEUDO_LIN_VEL, PSEUDO_ANG_VEL = range(6)
BODY_VEC3_SLOTS = 6
STATE_VEC3_SLOTS = 3  # POS, LIN_VEL, ANG_VEL are state; the rest is work
# body_model_vec3 (n_bodies, ...): centre of mass in the body frame, m
COM_LOCAL = 0
# body_model_mat3 (n_bodies, ...): inertia about the centre of mass in the body frame, kg m^2, and its inverse
INERTIA, INV_INERTIA = range(2)
# geom_model_int (n_geoms, ...)
GEOM_BODY, GEOM_TYPE, POINT_START, POINT_COUNT, PLANE_START, PLANE_COUNT, CONTYPE, CONAFFINITY = range(8)
GEOM_INT_SLOTS = 8
# geom_model_scalar (n_geoms, ...)
FRICTION, RESTITUTION, POINT_RADIUS = range(3)
# geom_model_vec3 (n_geoms, ...)
SIZE, LOCAL_POS, AABB_LOCAL_LO, AABB_LOCAL_HI = range(4)
# geom_vec3 (B, n_geoms, ...): world pose and bounds of each geom this substep
GEOM_POS, AABB_MIN, AABB_MAX = range(3)
# contact_int (B, capacity, ...): the body owning the tested point is "a"; the surface it touches is "b"
CONTACT_GEOM_A, CONTACT_GEOM_B, CONTACT_SLOT = range(3)
# contact_vec3 (B, capacity, ...): normal points out of b towards a; arms from each centre of mass.
# The three directions (normal, tangent1, tangent2) are consecutive; for direction k the solver keeps
# arm x direction (TORQUE_A + k, TORQUE_B + k) and the angular velocity a unit impulse along it gives
# (RESPONSE_A + k, RESPONSE_B + k): sweeps then need no matrix products.
CONTACT_POS, CONTACT_NORMAL, TANGENT1, TANGENT2, ARM_A, ARM_B = range(6)
TORQUE_A, TORQUE_B, RESPONSE_A, RESPONSE_B = 6, 9, 12, 15
CONTACT_VEC3_SLOTS = 18
# contact_scalar (B, capacity, ...)
(SEPARATION, CONTACT_FRICTION, CONTACT_RESTITUTION, MASS_NORMAL, MASS_TANGENT1, MASS_TANGENT2, TARGET_NORMAL_VEL,
 IMPULSE_NORMAL, IMPULSE_TANGENT1, IMPULSE_TANGENT2, IMPULSE_POSITION) = range(11)
CONTACT_SCALAR_SLOTS = 11
# warm_geom / warm_impulse (B, n_slots, WARM_WAYS): a collider point may press on several geoms at once
# (a box corner on the floor and against a wall): it keeps one warm-start impulse per geom it touches.
WARM_WAYS = 4
# counters (B, ...)
CONTACT_COUNT, CONTACTS_WANTED, MAX_CONTACTS_WANTED, FIRST_NONFINITE_BODY, MAX_SWEEPS = range(5)
N_COUNTERS = 5
NO_BODY = 2**30
# params (float): solver constants passed as one small array
DT, GRAVITY_X, GRAVITY_Y, GRAVITY_Z, MARGIN, SLOP, BETA, RESTITUTION_THRESHOLD, TOLERANCE = range(9)
N_PARAMS = 9
# int_params: counts and iteration numbers
VELOCITY_ITERATIONS, POSITION_ITERATIONS, N_BOUNDED_GEOMS, N_UNBOUNDED_GEOMS = range(4)
N_INT_PARAMS = 4


def nd(dtype, ndim: int):
    return ti.types.ndarray(dtype=dtype, ndim=ndim)


class RigidArrays:
    """All arrays of one rigid scene, bundled so Taichi functions can take them as one template argument.

    Built inside the kernel from its arguments (at compile time this is a plain Python object).
    """

    def __init__(self, body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                 geom_model_vec3, geom_model_quat, points, planes, body_vec3, body_quat, body_inv_inertia_world,
                 geom_vec3, geom_rot, geom_margin, contact_int, contact_vec3, contact_scalar, warm_geom,
                 warm_impulse, counters, params, int_params, broadphase_geoms, sweep_order):
        self.body_inv_mass = body_inv_mass
        self.body_model_vec3 = body_model_vec3
        self.body_model_mat3 = body_model_mat3
        self.geom_model_int = geom_model_int
        self.geom_model_scalar = geom_model_scalar
        self.geom_model_vec3 = geom_model_vec3
        self.geom_model_quat = geom_model_quat
        self.points = points
        self.planes = planes
        self.body_vec3 = body_vec3
        self.body_quat = body_quat
        self.body_inv_inertia_world = body_inv_inertia_world
        self.geom_vec3 = geom_vec3
        self.geom_rot = geom_rot
        self.geom_margin = geom_margin
        self.contact_int = contact_int
        self.contact_vec3 = contact_vec3
        self.contact_scalar = contact_scalar
        self.warm_geom = warm_geom
        self.warm_impulse = warm_impulse
        self.counters = counters
        self.params = params
        self.int_params = int_params
        self.broadphase_geoms = broadphase_geoms
        self.sweep_order = sweep_order
