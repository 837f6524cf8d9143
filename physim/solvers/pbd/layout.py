"""Slot names of the PBD solver's arrays (Taichi ndarrays, so one compiled kernel serves every scene).

Shapes: B envs (the env axis is outermost), n particles, m constraints, T hash-table buckets.

    particle model    p_scalar (n, P_SCALAR_SLOTS): mass kg, inverse mass 1/kg; p_int (n, P_INT_SLOTS): body
                      index, whether it collides with other particles; rest (n,) vec3: build-time positions, m
    body model        body_scalar (n_bodies, BODY_SCALAR_SLOTS): friction, damping 1/s
    constraints       con_int (m, CON_INT_SLOTS): a distance constraint's two particles (then -1, -1), or a
                      bending hinge's four (x0, x1 its edge, x2, x3 off it); con_scalar (m, CON_SCALAR_SLOTS):
                      rest length m or rest angle rad, compliance m/N or 1/(N m). Sorted by colour: no two
                      constraints of one colour share a particle, so a colour is solved in parallel
                      (Gauss-Seidel between colours)
    cloth triangles   triangles (T, 3) i32: every cloth's faces, as particle indices
    particle state    x, v (B, n) vec3: position m, velocity m/s
    pins (control)    pin_body (B, n) i32: FREE, FIXED (held at a world point) or the rigid body index it is
                      attached to; pin_vec3 (B, n, PIN_SLOTS): TARGET (world point, or the point in the rigid
                      body's frame), PREVIOUS (the world target at the end of the last step, m)
    tethers           tether_anchor (B, n, TETHER_SLOTS) i32: pinned particles a free cloth particle is tethered
                      to (-1: none); tether_length (B, n, TETHER_SLOTS): the farthest it may be from each, m
                      (its rest geodesic distance). Derived from the pins whenever they change
    work              x_prev (B, n) vec3: position at the start of the substep; lam (B, m): XPBD multipliers;
                      delta (B, n) vec3: contact corrections; contact_count (B, n) i32: each particle's
                      contacts this substep, contacts (B, n, CONTACT_SLOTS) i32: the first of them;
                      hash_count, hash_start (B, T + 1), hash_sorted (B, n) i32: the particles bucketed by grid
                      cell (counting sort)
    coupling          impulse (B, n_rigid_bodies, 2) vec3: linear impulse N s and its moment about the centre
                      of mass N m s that particle contacts gave each rigid body this step
"""

import taichi as ti

# p_scalar (n, ...)
MASS, INV_MASS = range(2)
P_SCALAR_SLOTS = 2
# p_int (n, ...)
BODY, COLLIDES = range(2)
P_INT_SLOTS = 2
# body_scalar (n_bodies, ...)
FRICTION, DAMPING = range(2)
BODY_SCALAR_SLOTS = 2
# con_int (m, ...)
CON_INT_SLOTS = 4
# con_scalar (m, ...)
REST, COMPLIANCE = range(2)
CON_SCALAR_SLOTS = 2
# pin_body (B, n): a rigid body index >= 0, or one of these
FREE, FIXED = -2, -1
# pin_vec3 (B, n, ...)
TARGET, PREVIOUS = range(2)
PIN_SLOTS = 2
# tether_anchor, tether_length (B, n, ...): the nearest pins a particle is tethered to
TETHER_SLOTS = 4
# contacts (B, n, ...): the particle contacts recorded per particle (one in more contacts is searched again)
CONTACT_SLOTS = 12
# impulse (B, n_rigid_bodies, ...)
LINEAR, ANGULAR = range(2)
# params (float)
DT, GRAVITY_X, GRAVITY_Y, GRAVITY_Z, LOWER_X, LOWER_Y, LOWER_Z, UPPER_X, UPPER_Y, UPPER_Z, RADIUS = range(11)
N_PARAMS = 11
# int_params
N_COLLIDERS, N_RIGID_BODIES, N_BOUNDED_COLLIDERS = range(3)
N_INT_PARAMS = 3
NO_PARTICLE = 2**30
# Constraint colours solved per launch of solve_constraints (unrolled in the kernel; more colours take more launches)
COLORS_PER_LAUNCH = 8


def nd(dtype, ndim: int):
    return ti.types.ndarray(dtype=dtype, ndim=ndim)
