"""How the rigid solver's arrays are laid out, and the bundle that carries them into Taichi functions.

Arrays are Taichi ndarrays, not fields, so one compiled kernel serves every scene in a process (a
field-templated kernel compiles again for each new scene). Each kernel argument costs several
microseconds to launch on the CPU, so quantities of one element type share an array with a "slot"
axis, named by the constants below: ``body_vec3[env, body, LIN_VEL]`` is a body's linear velocity.

Model (static, shared by all envs) vs state (what a step changes, per env) vs work (scratch, per env):
- state: body_vec3 slots POS..ANG_VEL and body_quat. For a free body this is exactly its free joint's
  qpos (pos, quat) and qvel (linear velocity of the centre of mass, angular velocity, world frame).
- work: everything else per env, recomputed every substep except the warm-start cache.
- articulations: state qpos (B, n_qpos) and qvel (B, n_dofs) in MuJoCo's conventions; control dof_control;
  each link is also a body whose pose and velocity forward kinematics writes from qpos/qvel every substep,
  so collision detection, rendering and getters treat links as bodies.
"""

import taichi as ti

# body_vec3 (B, n_bodies, BODY_VEC3_SLOTS)
# EXTERNAL_IMPULSE / EXTERNAL_ANG_IMPULSE: what other solvers (particles) hand the body between rigid steps, a
# world-frame impulse (N s) through the centre of mass and an angular impulse about it (N m s). They only add
# to them (atomics); the rigid solver's next substep turns them into velocity (a free body: dv = J / m,
# dw = I^-1 L; a link, through its tree: dqvel = M^-1 J_link^T [J; L]) and clears them.
POS, LIN_VEL, ANG_VEL, COM_WORLD, PSEUDO_LIN_VEL, PSEUDO_ANG_VEL, EXTERNAL_IMPULSE, EXTERNAL_ANG_IMPULSE = range(8)
BODY_VEC3_SLOTS = 8
# How the rigid solver moves a body (``RigidSolver.body_moves``), for solvers that hand bodies impulses
MOVES_STATIC, MOVES_FREE, MOVES_LINK = range(3)
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
# body_model_int (n_bodies, ...): the articulation a body belongs to (-1: a free body), its link index,
# the body of its parent link (-1: none; parent and child links never collide), whether anything moves it,
# its link's index within its tree, and bit masks (31 links each) of the links of its tree it never collides with
BODY_TREE, BODY_LINK, BODY_PARENT, BODY_MOVABLE, BODY_LOCAL, EXCLUDE_LO, EXCLUDE_HI = range(7)
BODY_INT_SLOTS = 7
EXCLUDE_BITS = 31  # per mask word: a tree's first 62 links can be filtered pairwise
# contact_int (B, capacity, ...): the body owning the tested point is "a"; the surface it touches is "b".
# CONTACT_SIDES: bit 0 set when side a is a link (its response lives in dof space), bit 1 for side b.
# CONTACT_ISLAND: the body whose island the contact belongs to (its root; free-body scenes). SWEEP_LIST is not
# the contact's own: entry k of the list of contacts the velocity sweeps still visit.
CONTACT_GEOM_A, CONTACT_GEOM_B, CONTACT_SLOT, CONTACT_SIDES, CONTACT_ISLAND, SWEEP_LIST = range(6)
CONTACT_INT_SLOTS = 6
# contact_vec3 (B, capacity, ...): normal points out of b towards a; arms from each centre of mass.
# The three directions (normal, tangent1, tangent2) are consecutive; for direction k the solver keeps
# arm x direction (TORQUE_A + k, TORQUE_B + k) and the angular velocity a unit impulse along it gives
# (RESPONSE_A + k, RESPONSE_B + k): sweeps then need no matrix products.
CONTACT_POS, CONTACT_NORMAL, TANGENT1, TANGENT2, ARM_A, ARM_B = range(6)
TORQUE_A, TORQUE_B, RESPONSE_A, RESPONSE_B = 6, 9, 12, 15
CONTACT_VEC3_SLOTS = 18
# contact_scalar (B, capacity, ...)
(SEPARATION, CONTACT_FRICTION, CONTACT_RESTITUTION, MASS_NORMAL, MASS_TANGENT1, MASS_TANGENT2, TARGET_NORMAL_VEL,
 IMPULSE_NORMAL, IMPULSE_TANGENT1, IMPULSE_TANGENT2, IMPULSE_POSITION, MASS_POSITION) = range(12)
CONTACT_SCALAR_SLOTS = 12
# contact_dof (B, capacity, CONTACT_DOF_ROWS, max_tree_dofs): for a link side s (0: a, 1: b) and direction
# k (0 normal, 1 and 2 tangents), row 6 s + 2 k is the Jacobian J (speed of the contact point along the
# direction per unit qvel of the tree's dofs) and row 6 s + 2 k + 1 is M^-1 J^T (qvel change per unit impulse).
CONTACT_DOF_ROWS = 12
# warm_geom / warm_impulse (B, n_slots, WARM_WAYS), n_slots = n_points + (2 + MAX_EDGE_CONTACTS) n_geoms: slots of
# the collider points, then of the geoms' capsule crossings (keyed by the geom pressed against, holding the
# impulse), then MAX_EDGE_CONTACTS per geom a for its edge crossings (collision.py), then per geom a the
# separating-axis hints of its polytope pairs (keyed by geom b; warm_impulse x holds the face index).
# A collider point may press on several geoms at once
# (a box corner on the floor and against a wall): it keeps one warm-start impulse per geom it touches.
WARM_WAYS = 4
# ---- articulations (trees of links in generalized coordinates); every link is also a body.
# tree_int (n_trees, ...); the tree's mass matrix sits at tree_matrix[env, MATRIX_START:+n*n], row-major
LINK_START, LINK_COUNT, TREE_DOF_START, TREE_DOF_COUNT, MATRIX_START, TREE_QPOS_START = range(6)
TREE_INT_SLOTS = 6
# link_int (n_links, ...): parent is a link index (-1: the world); LINK_N_DOFS dofs move the link, listed
# (ascending, ancestors first) in link_dofs[link, :LINK_N_DOFS]
LINK_BODY, LINK_PARENT, LINK_TREE, JOINT_START, JOINT_COUNT, LINK_N_DOFS = range(6)
LINK_INT_SLOTS = 6
# link_model_vec4 (n_links, ...): (x, y, z, mass) of the link frame in its parent's (the base pose folded
# into root links), m and kg; the link frame's orientation in its parent's
LINK_POS_MASS, LINK_QUAT = range(2)
# link_vec3 (B, n_links, ...): spatial velocity's linear part at the world origin (the angular part is the
# body's ANG_VEL) and the velocity-product (bias) spatial acceleration, angular and linear parts
LINK_V0, LINK_BIAS_ANG, LINK_BIAS_LIN = range(3)
LINK_VEC3_SLOTS = 3
# joint_int (n_joints, ...) / joint_vec3 (n_joints, ...): axis and anchor in the link frame
JOINT_TYPE, JOINT_QPOS, JOINT_DOF = range(3)
JOINT_INT_SLOTS = 3
JOINT_AXIS, JOINT_ANCHOR = range(2)
# dof_int (n_dofs, ...): DOF_QPOS is the qpos index of a one-dof joint's coordinate (-1 for ball/free dofs);
# DOF_MIMIC the dof it is coupled to (q = multiplier q_mimic + offset; -1: none); DOF_KEEP_COLUMN whether the
# dof's M^-1 column is needed every substep (dry friction, couplings)
DOF_TREE, DOF_QPOS, DOF_LIMITED, DOF_MIMIC, DOF_KEEP_COLUMN = range(5)
DOF_INT_SLOTS = 5
# dof_model (n_dofs, ...)
DOF_DAMPING, DOF_ARMATURE, DOF_LIMIT_LO, DOF_LIMIT_HI = range(4)
DOF_MODEL_SLOTS = 4
# dof_model_ext (n_dofs, ...): dry friction (frictionloss), N m or N; the coupling's multiplier and offset
DOF_FRICTIONLOSS, DOF_MIMIC_MULTIPLIER, DOF_MIMIC_OFFSET = range(3)
DOF_MODEL_EXT_SLOTS = 4
# dof_control (B, n_dofs, ...): the actuator force is clamp(KP (TARGET_POS - q) + KV (TARGET_VEL - qdot)
# + FEEDFORWARD, FORCE_LO, FORCE_HI), plus GRAVITY_COMP times the dof's share of gravity; the force applied
# in the last substep is written back to APPLIED_FORCE.
KP, KV, TARGET_POS, TARGET_VEL, FEEDFORWARD, FORCE_LO, FORCE_HI, GRAVITY_COMP, APPLIED_FORCE = range(9)
DOF_CONTROL_SLOTS = 9
# dof_vec3 (B, n_dofs, ...): the dof's motion axis as a spatial vector at the world origin
DOF_S_ANG, DOF_S_LIN = range(2)
# dof_work (B, n_dofs, ...)
# DOF_MASS is 1 / (M^-1)_dd, the effective mass of the dof's own rows (limit, dry friction); those rows keep
# the column M^-1 e_dof in dof_column while active.
(BIAS_FORCE, GRAVITY_FORCE, SOLVE, EXPLICIT_FORCE, IMPLICIT_KP, IMPLICIT_KV, PSEUDO_QVEL, LIMIT_SIGN, LIMIT_TARGET,
 DOF_MASS, LIMIT_IMPULSE, FRICTION_IMPULSE) = range(12)
DOF_WORK_SLOTS = 12
# counters (B, ...). EDGE_PAIRS: polytope pairs in edge_pairs waiting for the edge pass (GJK/EPA) this substep;
# PAUSED_AT: the substep at which the env's step stopped for it (NOT_PAUSED: none), where it resumes.
CONTACT_COUNT, CONTACTS_WANTED, MAX_CONTACTS_WANTED, FIRST_NONFINITE_BODY, MAX_SWEEPS, EDGE_PAIRS, PAUSED_AT = range(7)
N_COUNTERS = 7
NO_BODY = 2**30
NOT_PAUSED = -1
# edge_pairs (B, capacity, 2): geoms a and b of each pair the edge pass looks at
# body_island (B, n_bodies, ...): the contact solve's islands (bodies joined by contacts; static bodies join
# none): union-find parent (a root is its own), and, on roots, whether a contact of the island missed the
# tolerance in the current sweep
ISLAND_PARENT, ISLAND_UNSETTLED = range(2)
ISLAND_SLOTS = 2
# params (float): solver constants passed as one small array
DT, GRAVITY_X, GRAVITY_Y, GRAVITY_Z, MARGIN, SLOP, BETA, RESTITUTION_THRESHOLD, TOLERANCE = range(9)
N_PARAMS = 9
# int_params: counts and iteration numbers
VELOCITY_ITERATIONS, POSITION_ITERATIONS, N_BOUNDED_GEOMS, N_UNBOUNDED_GEOMS, N_TREES, N_LINKS = range(6)
N_INT_PARAMS = 6


def nd(dtype, ndim: int):
    return ti.types.ndarray(dtype=dtype, ndim=ndim)


# ---- packing: each kernel argument costs microseconds per launch, so small tables of one element type share
# an array and are read through views (below) under their own names.
# model_int (N_INT_SECTIONS, rows, width): per-body ints, articulation tables, int_params (row 0) and the broad
# phase's geom list (column 0)
BODY_INT_S, TREE_INT_S, LINK_INT_S, JOINT_INT_S, DOF_INT_S, LINK_DOFS_S, INT_PARAMS_S, BROADPHASE_S = range(8)
N_INT_SECTIONS = 8
# art_vec4 (3, rows, 2): links (LINK_POS_MASS, LINK_QUAT), joints (axis, anchor; w unused), dofs (DOF_MODEL
# scalars in slot 0, DOF_MODEL_EXT scalars in slot 1)
LINK_S, JOINT_S, DOF_S = range(3)
# q_state (B, 3, width): qpos, qvel, and the trees' mass matrices / Cholesky factors
QPOS_S, QVEL_S, MATRIX_S = range(3)
# dof_scalar (B, n_dofs, DOF_CONTROL_SLOTS + DOF_WORK_SLOTS + max_tree_dofs): control, work, M^-1 columns
DOF_WORK_OFFSET = DOF_CONTROL_SLOTS
DOF_COLUMN_OFFSET = DOF_CONTROL_SLOTS + DOF_WORK_SLOTS
# tree_vec3 (B, 2, rows, 3): link_vec3 (LINK_VEC3_SLOTS) and dof_vec3 (2 slots)
LINK_VEC3_S, DOF_VEC3_S = range(2)


class View:
    """Part of a packed array, indexed in Taichi scope as if it were an array of its own.

    ``pattern`` lists the packed array's indices: ints are fixed, ``None`` takes the next user index, and
    ``("+", k)`` the next user index plus k. ``component`` reads one scalar of a vector element: the last
    user index picks it. ``xyz`` reads the first three components of a vec4 element as a vec3.
    """

    def __init__(self, array, pattern, component: bool = False, xyz: bool = False) -> None:
        self.array = array
        self.pattern = pattern
        self.component = component
        self.xyz = xyz

    def __getitem__(self, indices):
        from taichi.lang import impl

        user = list(indices) if isinstance(indices, tuple) else [indices]
        last = user.pop() if self.component else None
        full = []
        for entry in self.pattern:
            if entry is None:
                full.append(user.pop(0))
            elif isinstance(entry, tuple):
                full.append(user.pop(0) + entry[1])
            else:
                full.append(entry)
        element = impl.subscript(None, self.array, *full)
        if self.component:
            return impl.subscript(None, element, last)
        if self.xyz:
            return ti.Vector([impl.subscript(None, element, k) for k in range(3)])
        return element


class RigidArrays:
    """All arrays of one rigid scene, bundled so Taichi functions can take them as one template argument.

    Built inside the kernel from its arguments (at compile time this is a plain Python object). Packed
    arrays appear under the names of their parts, as views.
    """

    def __init__(self, body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                 geom_model_vec3, geom_model_quat, points, planes, body_vec3, body_quat, body_inv_inertia_world,
                 geom_vec3, geom_rot, geom_margin, contact_int, contact_vec3, contact_scalar, warm_geom,
                 warm_impulse, counters, params, sweep_order, model_int, art_vec4, q_state, dof_scalar, tree_vec3,
                 contact_dof, edge_pairs, body_island, articulated: bool):
        self.articulated = articulated  # compile time: whether the scene has articulations (their code is in)
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
        self.sweep_order = sweep_order
        self.contact_dof = contact_dof
        self.edge_pairs = edge_pairs
        self.body_island = body_island
        self.int_params = View(model_int, (INT_PARAMS_S, 0, None))
        self.broadphase_geoms = View(model_int, (BROADPHASE_S, None, 0))
        self.body_model_int = View(model_int, (BODY_INT_S, None, None))
        self.tree_int = View(model_int, (TREE_INT_S, None, None))
        self.link_int = View(model_int, (LINK_INT_S, None, None))
        self.joint_int = View(model_int, (JOINT_INT_S, None, None))
        self.dof_int = View(model_int, (DOF_INT_S, None, None))
        self.link_dofs = View(model_int, (LINK_DOFS_S, None, None))
        self.link_model_vec4 = View(art_vec4, (LINK_S, None, None))
        self.joint_vec3 = View(art_vec4, (JOINT_S, None, None), xyz=True)
        self.dof_model = View(art_vec4, (DOF_S, None, 0), component=True)
        self.dof_model_ext = View(art_vec4, (DOF_S, None, 1), component=True)
        self.qpos = View(q_state, (None, QPOS_S, None))
        self.qvel = View(q_state, (None, QVEL_S, None))
        self.tree_matrix = View(q_state, (None, MATRIX_S, None))
        self.dof_control = View(dof_scalar, (None, None, None))
        self.dof_work = View(dof_scalar, (None, None, ("+", DOF_WORK_OFFSET)))
        self.dof_column = View(dof_scalar, (None, None, ("+", DOF_COLUMN_OFFSET)))
        self.link_vec3 = View(tree_vec3, (None, LINK_VEC3_S, None, None))
        self.dof_vec3 = View(tree_vec3, (None, DOF_VEC3_S, None, None))
