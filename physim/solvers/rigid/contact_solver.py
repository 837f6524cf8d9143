"""The contact solve of one env: sequential impulses (projected Gauss-Seidel) with warm starting.

Why this method: it is the workhorse of game and robotics engines (Box2D, Bullet, PhysX) for resting
contact at large time steps. With impulses carried over from the previous substep (warm starting) a stack
settles in a few iterations and does not jitter; the Coulomb cone is enforced exactly per contact; and
it needs no global matrix, so it is cheap per contact and deterministic (a fixed serial order per env).

Stages, in order: prepare (arms, tangent frame, effective masses, target normal velocity, warm start),
velocity iterations (friction then normal, per contact), a split-impulse position pass (pseudo-velocities
that push overlapping bodies apart and are then forgotten, so correcting penetration adds no kinetic
energy), and storing the impulses for the next substep.

Target normal velocity: a speculative contact (gap > 0) may close its gap within the substep but not cross
it; a touching contact hit faster than the restitution threshold rebounds at ``-e`` times its approach speed.
"""


import taichi as ti

from physim.solvers.rigid.articulation_dynamics import solve_in_place, solve_limits
from physim.solvers.rigid.layout import (
    ANG_VEL,
    ARM_A,
    ARM_B,
    BETA,
    BODY_LINK,
    BODY_TREE,
    COM_WORLD,
    CONTACT_COUNT,
    CONTACT_FRICTION,
    CONTACT_GEOM_A,
    CONTACT_GEOM_B,
    CONTACT_ISLAND,
    CONTACT_NORMAL,
    CONTACT_POS,
    CONTACT_RESTITUTION,
    CONTACT_SIDES,
    CONTACT_SLOT,
    DOF_S_ANG,
    DOF_S_LIN,
    DT,
    GEOM_BODY,
    IMPULSE_NORMAL,
    IMPULSE_POSITION,
    IMPULSE_TANGENT1,
    IMPULSE_TANGENT2,
    ISLAND_PARENT,
    ISLAND_UNSETTLED,
    LIN_VEL,
    LINK_N_DOFS,
    LINK_TREE,
    MASS_NORMAL,
    MASS_POSITION,
    MASS_TANGENT1,
    MASS_TANGENT2,
    MAX_SWEEPS,
    POSITION_ITERATIONS,
    PSEUDO_LIN_VEL,
    PSEUDO_QVEL,
    RESPONSE_A,
    RESPONSE_B,
    RESTITUTION_THRESHOLD,
    SEPARATION,
    SLOP,
    SOLVE,
    SWEEP_LIST,
    TANGENT1,
    TANGENT2,
    TARGET_NORMAL_VEL,
    TOLERANCE,
    TORQUE_A,
    TORQUE_B,
    TREE_DOF_COUNT,
    TREE_DOF_START,
    VELOCITY_ITERATIONS,
    WARM_WAYS,
)
from physim.utils.tmath import any_perpendicular

# CONTACT_SIDES bits: side a / side b is a link (dof-space response); side b is a link of a's own tree,
# folded into a's rows as J_a - J_b (so the pair's effective mass couples them exactly).
LINK_A, LINK_B, SAME_TREE = 1, 2, 4


@ti.func
def _link_sides(d: ti.template(), body_a, body_b):
    """CONTACT_SIDES bits of a contact between two bodies."""
    flags = 0
    tree_a, tree_b = d.body_model_int[body_a, BODY_TREE], d.body_model_int[body_b, BODY_TREE]
    moves_a = tree_a >= 0 and d.link_int[d.body_model_int[body_a, BODY_LINK], LINK_N_DOFS] > 0
    moves_b = tree_b >= 0 and d.link_int[d.body_model_int[body_b, BODY_LINK], LINK_N_DOFS] > 0
    if moves_a and moves_b and tree_a == tree_b:
        flags = LINK_A | SAME_TREE
    else:
        if moves_a:
            flags |= LINK_A
        if moves_b:
            flags |= LINK_B
    return flags


@ti.func
def _link_rows(d: ti.template(), env, contact, flags, body_a, body_b):
    """Fill the Jacobian rows J and M^-1 J^T of the contact's link sides; returns, per direction, what they
    add to the inverse effective mass (J M^-1 J^T)."""
    position = d.contact_vec3[env, contact, CONTACT_POS]
    extra = ti.Vector([0.0, 0.0, 0.0])
    for side in range(2):
        if flags & (1 << side):
            link = d.body_model_int[body_a if side == 0 else body_b, BODY_LINK]
            other = d.body_model_int[body_b, BODY_LINK]
            tree = d.link_int[link, LINK_TREE]
            n = d.tree_int[tree, TREE_DOF_COUNT]
            ds = d.tree_int[tree, TREE_DOF_START]
            for k in range(3):
                direction = d.contact_vec3[env, contact, CONTACT_NORMAL + k]
                moment = position.cross(direction)
                row = 6 * side + 2 * k
                for i in range(n):
                    d.dof_work[env, ds + i, SOLVE] = 0.0
                for which in range(2):  # the link's own dofs; with SAME_TREE, minus those of b's link
                    if which == 0 or (flags & SAME_TREE) != 0:
                        owner = link if which == 0 else other
                        sign = 1.0 if which == 0 else -1.0
                        for a in range(d.link_int[owner, LINK_N_DOFS]):
                            dof = d.link_dofs[owner, a]
                            d.dof_work[env, dof, SOLVE] += sign * (direction.dot(d.dof_vec3[env, dof, DOF_S_LIN])
                                                                   + moment.dot(d.dof_vec3[env, dof, DOF_S_ANG]))
                for i in range(n):
                    d.contact_dof[env, contact, row, i] = d.dof_work[env, ds + i, SOLVE]
                solve_in_place(d, env, tree)
                for i in range(n):
                    response = d.dof_work[env, ds + i, SOLVE]
                    d.contact_dof[env, contact, row + 1, i] = response
                    extra[k] += response * d.contact_dof[env, contact, row, i]
    return extra


@ti.func
def _speed_generic(d: ti.template(), env, contact, k, flags, body_a, body_b, pseudo):
    """Relative speed of the contact points along direction k for any mix of free and link sides, m/s;
    ``pseudo`` reads the split-impulse pseudo-velocities (translation only for free bodies) instead."""
    speed = 0.0
    direction = d.contact_vec3[env, contact, CONTACT_NORMAL + k]
    for side in range(2):
        sign = 1.0 if side == 0 else -1.0
        body = body_a if side == 0 else body_b
        if flags & (1 << side):
            tree = d.link_int[d.body_model_int[body, BODY_LINK], LINK_TREE]
            ds = d.tree_int[tree, TREE_DOF_START]
            row = 6 * side + 2 * k
            for i in range(d.tree_int[tree, TREE_DOF_COUNT]):
                velocity = d.qvel[env, ds + i]
                if pseudo:
                    velocity = d.dof_work[env, ds + i, PSEUDO_QVEL]
                speed += sign * d.contact_dof[env, contact, row, i] * velocity
        elif pseudo:
            speed += sign * d.body_vec3[env, body, PSEUDO_LIN_VEL].dot(direction)
        elif (flags & SAME_TREE) == 0:
            speed += sign * (d.body_vec3[env, body, LIN_VEL].dot(direction) + d.body_vec3[env, body, ANG_VEL].dot(
                d.contact_vec3[env, contact, TORQUE_A + 3 * side + k]))
    return speed


@ti.func
def _push_generic(d: ti.template(), env, contact, k, flags, body_a, body_b, impulse, pseudo):
    """Apply an impulse (N s) along direction k at the contact: on a, and its reaction on b."""
    direction = d.contact_vec3[env, contact, CONTACT_NORMAL + k]
    for side in range(2):
        sign = 1.0 if side == 0 else -1.0
        body = body_a if side == 0 else body_b
        if flags & (1 << side):
            tree = d.link_int[d.body_model_int[body, BODY_LINK], LINK_TREE]
            ds = d.tree_int[tree, TREE_DOF_START]
            row = 6 * side + 2 * k + 1
            for i in range(d.tree_int[tree, TREE_DOF_COUNT]):
                change = sign * impulse * d.contact_dof[env, contact, row, i]
                if pseudo:
                    d.dof_work[env, ds + i, PSEUDO_QVEL] += change
                else:
                    d.qvel[env, ds + i] += change
        elif (flags & SAME_TREE) == 0:
            change = sign * impulse * d.body_inv_mass[body] * direction
            if pseudo:
                d.body_vec3[env, body, PSEUDO_LIN_VEL] += change
            else:
                d.body_vec3[env, body, LIN_VEL] += change
                d.body_vec3[env, body, ANG_VEL] += sign * impulse * d.contact_vec3[env, contact,
                                                                                   RESPONSE_A + 3 * side + k]


@ti.func
def _bodies(d: ti.template(), env, contact):
    body_a = d.geom_model_int[d.contact_int[env, contact, CONTACT_GEOM_A], GEOM_BODY]
    body_b = d.geom_model_int[d.contact_int[env, contact, CONTACT_GEOM_B], GEOM_BODY]
    return body_a, body_b


@ti.func
def _relative_velocity(d: ti.template(), env, contact, body_a, body_b):
    """Velocity of a's contact point relative to b's, m/s (world frame)."""
    arm_a = d.contact_vec3[env, contact, ARM_A]
    arm_b = d.contact_vec3[env, contact, ARM_B]
    velocity_a = d.body_vec3[env, body_a, LIN_VEL] + d.body_vec3[env, body_a, ANG_VEL].cross(arm_a)
    velocity_b = d.body_vec3[env, body_b, LIN_VEL] + d.body_vec3[env, body_b, ANG_VEL].cross(arm_b)
    return velocity_a - velocity_b


@ti.func
def _apply_impulse(d: ti.template(), env, contact, body_a, body_b, impulse):
    """Apply a world-frame impulse (N s) at the contact: on a, and its reaction on b."""
    arm_a = d.contact_vec3[env, contact, ARM_A]
    arm_b = d.contact_vec3[env, contact, ARM_B]
    d.body_vec3[env, body_a, LIN_VEL] += d.body_inv_mass[body_a] * impulse
    d.body_vec3[env, body_a, ANG_VEL] += d.body_inv_inertia_world[env, body_a] @ arm_a.cross(impulse)
    d.body_vec3[env, body_b, LIN_VEL] -= d.body_inv_mass[body_b] * impulse
    d.body_vec3[env, body_b, ANG_VEL] -= d.body_inv_inertia_world[env, body_b] @ arm_b.cross(impulse)


@ti.func
def _speed_along(d: ti.template(), env, contact, k, va, wa, vb, wb):
    """Relative velocity of the contact points along direction k (0 normal, 1 and 2 tangents), m/s,
    for bodies moving with linear velocities va, vb and angular velocities wa, wb."""
    return (va - vb).dot(d.contact_vec3[env, contact, CONTACT_NORMAL + k]) + wa.dot(
        d.contact_vec3[env, contact, TORQUE_A + k]) - wb.dot(d.contact_vec3[env, contact, TORQUE_B + k])


@ti.func
def prepare_contacts(d: ti.template(), env):
    dt = d.params[DT]
    for contact in range(d.counters[env, CONTACT_COUNT]):
        body_a, body_b = _bodies(d, env, contact)
        position = d.contact_vec3[env, contact, CONTACT_POS]
        normal = d.contact_vec3[env, contact, CONTACT_NORMAL]
        tangent1 = any_perpendicular(normal)
        tangent2 = normal.cross(tangent1)
        arm_a = position - d.body_vec3[env, body_a, COM_WORLD]
        arm_b = position - d.body_vec3[env, body_b, COM_WORLD]
        flags = 0
        if ti.static(d.articulated):  # free-body scenes compile none of the dof-space code
            flags = _link_sides(d, body_a, body_b)
        d.contact_int[env, contact, CONTACT_SIDES] = flags
        d.contact_vec3[env, contact, TANGENT1] = tangent1
        d.contact_vec3[env, contact, TANGENT2] = tangent2
        d.contact_vec3[env, contact, ARM_A] = arm_a
        d.contact_vec3[env, contact, ARM_B] = arm_b
        link_inverse = ti.Vector([0.0, 0.0, 0.0])
        if ti.static(d.articulated):
            if flags != 0:
                link_inverse = _link_rows(d, env, contact, flags, body_a, body_b)
        # Loaded once: the stores below could alias them as far as the compiler knows.
        inv_inertia_a = d.body_inv_inertia_world[env, body_a]
        inv_inertia_b = d.body_inv_inertia_world[env, body_b]
        inv_mass_a, inv_mass_b = d.body_inv_mass[body_a], d.body_inv_mass[body_b]
        free_inverse = 0.0  # translation-only inverse mass of the free sides, for the position pass
        if (flags & LINK_A) == 0:
            free_inverse += inv_mass_a
        if (flags & (LINK_B | SAME_TREE)) == 0:
            free_inverse += inv_mass_b
        position_inverse = free_inverse + link_inverse[0]
        d.contact_scalar[env, contact, MASS_POSITION] = 1.0 / position_inverse if position_inverse > 0 else 0.0
        for k in range(3):  # normal, tangent1, tangent2
            direction = d.contact_vec3[env, contact, CONTACT_NORMAL + k]
            torque_a = arm_a.cross(direction)
            torque_b = arm_b.cross(direction)
            response_a = inv_inertia_a @ torque_a
            response_b = inv_inertia_b @ torque_b
            d.contact_vec3[env, contact, TORQUE_A + k] = torque_a
            d.contact_vec3[env, contact, TORQUE_B + k] = torque_b
            d.contact_vec3[env, contact, RESPONSE_A + k] = response_a
            d.contact_vec3[env, contact, RESPONSE_B + k] = response_b
            # 1 / (the change of relative speed along the direction per unit impulse along it)
            inverse = inv_mass_a + inv_mass_b + torque_a.dot(response_a) + torque_b.dot(response_b) + link_inverse[k]
            d.contact_scalar[env, contact, MASS_NORMAL + k] = 1.0 / inverse if inverse > 0 else 0.0

        separation = d.contact_scalar[env, contact, SEPARATION]
        approach = 0.0
        if ti.static(not d.articulated):
            approach = _relative_velocity(d, env, contact, body_a, body_b).dot(normal)
        else:  # articulated scenes take the generic path for every contact: one inlined copy
            approach = _speed_generic(d, env, contact, 0, flags, body_a, body_b, 0)
        target = 0.0
        if separation > 0:
            target = -separation / dt
        restitution = d.contact_scalar[env, contact, CONTACT_RESTITUTION]
        if restitution > 0 and approach < -d.params[RESTITUTION_THRESHOLD] and separation + approach * dt < 0:
            target = ti.max(target, -restitution * approach)
        d.contact_scalar[env, contact, TARGET_NORMAL_VEL] = target

        # Warm start from the impulse this point received against the same geom last substep.
        slot = d.contact_int[env, contact, CONTACT_SLOT]
        impulse_n, impulse_t1, impulse_t2 = 0.0, 0.0, 0.0
        way = -1
        for w in range(WARM_WAYS):
            if d.warm_geom[env, slot, w] == d.contact_int[env, contact, CONTACT_GEOM_B]:
                way = w
        if way >= 0:
            previous = d.warm_impulse[env, slot, way]
            impulse_n = ti.max(previous.dot(normal), 0.0)
            impulse_t1 = previous.dot(tangent1)
            impulse_t2 = previous.dot(tangent2)
            limit = d.contact_scalar[env, contact, CONTACT_FRICTION] * impulse_n
            tangential = ti.sqrt(impulse_t1**2 + impulse_t2**2)
            if tangential > limit:
                scale = limit / tangential
                impulse_t1 *= scale
                impulse_t2 *= scale
            if ti.static(not d.articulated):
                _apply_impulse(d, env, contact, body_a, body_b,
                               impulse_n * normal + impulse_t1 * tangent1 + impulse_t2 * tangent2)
            else:  # one generic path for every contact of an articulated scene: fewer inlined copies
                for k in range(3):
                    impulse = impulse_n if k == 0 else (impulse_t1 if k == 1 else impulse_t2)
                    _push_generic(d, env, contact, k, flags, body_a, body_b, impulse, 0)
        d.contact_scalar[env, contact, IMPULSE_NORMAL] = impulse_n
        d.contact_scalar[env, contact, IMPULSE_TANGENT1] = impulse_t1
        d.contact_scalar[env, contact, IMPULSE_TANGENT2] = impulse_t2
        d.contact_scalar[env, contact, IMPULSE_POSITION] = 0.0


@ti.func
def _friction_cone(d: ti.template(), env, contact, slip1, slip2):
    """A visit's friction update from the slip speeds along the two tangents (m/s), bounded by the normal
    impulse of the previous sweep (Coulomb cone); stores the new impulses. Returns their changes (N s) and the
    slip error (m/s): sticking, any slip is one; sliding, none (a sliding contact may slip)."""
    error = 0.0
    old_t1 = d.contact_scalar[env, contact, IMPULSE_TANGENT1]
    old_t2 = d.contact_scalar[env, contact, IMPULSE_TANGENT2]
    new_t1 = old_t1 - d.contact_scalar[env, contact, MASS_TANGENT1] * slip1
    new_t2 = old_t2 - d.contact_scalar[env, contact, MASS_TANGENT2] * slip2
    limit = d.contact_scalar[env, contact, CONTACT_FRICTION] * d.contact_scalar[env, contact, IMPULSE_NORMAL]
    tangential = ti.sqrt(new_t1**2 + new_t2**2)
    if tangential > limit:
        scale = limit / tangential
        new_t1 *= scale
        new_t2 *= scale
    else:
        error = ti.sqrt(slip1**2 + slip2**2)
    d.contact_scalar[env, contact, IMPULSE_TANGENT1] = new_t1
    d.contact_scalar[env, contact, IMPULSE_TANGENT2] = new_t2
    return new_t1 - old_t1, new_t2 - old_t2, error


@ti.func
def _solve_link_contact(d: ti.template(), env, contact, flags, body_a, body_b):
    """One Gauss-Seidel visit of a contact with a link side: friction (Coulomb cone) then normal, as for free
    bodies, with speeds and impulses in dof space. Returns the contact's velocity error, m/s."""
    slip1, slip2 = 0.0, 0.0
    for k in range(1, 3):
        slip = _speed_generic(d, env, contact, k, flags, body_a, body_b, 0)
        if k == 1:
            slip1 = slip
        else:
            slip2 = slip
    change1, change2, error = _friction_cone(d, env, contact, slip1, slip2)
    # Friction impulses go in first; the normal one is measured after them (k = 1, 2, then 0).
    for step in range(3):
        k = (step + 1) % 3
        impulse = change1 if k == 1 else change2
        if k == 0:  # normal: push until the approach speed meets the target; never pull
            old_n = d.contact_scalar[env, contact, IMPULSE_NORMAL]
            shortfall = d.contact_scalar[env, contact, TARGET_NORMAL_VEL] - _speed_generic(
                d, env, contact, 0, flags, body_a, body_b, 0)
            if shortfall > 0 or old_n > 0:
                error = ti.max(error, ti.abs(shortfall))
            new_n = ti.max(old_n + d.contact_scalar[env, contact, MASS_NORMAL] * shortfall, 0.0)
            d.contact_scalar[env, contact, IMPULSE_NORMAL] = new_n
            impulse = new_n - old_n
        _push_generic(d, env, contact, k, flags, body_a, body_b, impulse, 0)
    return error


@ti.func
def _solve_free_contact(d: ti.template(), env, contact, body_a, body_b):
    """One Gauss-Seidel visit of a contact between free (or static) bodies: friction (Coulomb cone) then
    normal. Returns its velocity error before the visit, m/s."""
    # The two bodies' velocities live in registers while this contact is solved.
    va, wa = d.body_vec3[env, body_a, LIN_VEL], d.body_vec3[env, body_a, ANG_VEL]
    vb, wb = d.body_vec3[env, body_b, LIN_VEL], d.body_vec3[env, body_b, ANG_VEL]
    inv_mass_a, inv_mass_b = d.body_inv_mass[body_a], d.body_inv_mass[body_b]

    # Friction first, bounded by the normal impulse of the previous sweep (Coulomb cone).
    slip1 = _speed_along(d, env, contact, 1, va, wa, vb, wb)
    slip2 = _speed_along(d, env, contact, 2, va, wa, vb, wb)
    change1, change2, error = _friction_cone(d, env, contact, slip1, slip2)
    for k in ti.static(range(1, 3)):
        impulse = change1 if k == 1 else change2
        direction = d.contact_vec3[env, contact, CONTACT_NORMAL + k]
        va += inv_mass_a * impulse * direction
        vb -= inv_mass_b * impulse * direction
        wa += impulse * d.contact_vec3[env, contact, RESPONSE_A + k]
        wb -= impulse * d.contact_vec3[env, contact, RESPONSE_B + k]

    # Normal: push until the approach speed meets the target; never pull.
    old_n = d.contact_scalar[env, contact, IMPULSE_NORMAL]
    shortfall = d.contact_scalar[env, contact, TARGET_NORMAL_VEL] - _speed_along(d, env, contact, 0, va, wa, vb, wb)
    if shortfall > 0 or old_n > 0:  # a separating contact without impulse is no error
        error = ti.max(error, ti.abs(shortfall))
    new_n = ti.max(old_n + d.contact_scalar[env, contact, MASS_NORMAL] * shortfall, 0.0)
    d.contact_scalar[env, contact, IMPULSE_NORMAL] = new_n
    normal = d.contact_vec3[env, contact, CONTACT_NORMAL]
    d.body_vec3[env, body_a, LIN_VEL] = va + inv_mass_a * (new_n - old_n) * normal
    d.body_vec3[env, body_b, LIN_VEL] = vb - inv_mass_b * (new_n - old_n) * normal
    d.body_vec3[env, body_a, ANG_VEL] = wa + (new_n - old_n) * d.contact_vec3[env, contact, RESPONSE_A]
    d.body_vec3[env, body_b, ANG_VEL] = wb - (new_n - old_n) * d.contact_vec3[env, contact, RESPONSE_B]
    return error


@ti.func
def _island_root(d: ti.template(), env, body):
    """The root of a body's island (union-find with path halving)."""
    root = body
    while d.body_island[env, root, ISLAND_PARENT] != root:
        grandparent = d.body_island[env, d.body_island[env, root, ISLAND_PARENT], ISLAND_PARENT]
        d.body_island[env, root, ISLAND_PARENT] = grandparent
        root = grandparent
    return root


@ti.func
def find_islands(d: ti.template(), env):
    """Group the moving bodies into islands joined by contacts (a static body joins none: what rests on the
    floor is not coupled through it), and label each contact with its island's root."""
    for body in range(d.body_vec3.shape[1]):
        d.body_island[env, body, ISLAND_PARENT] = body
        d.body_island[env, body, ISLAND_UNSETTLED] = 0
    for contact in range(d.counters[env, CONTACT_COUNT]):
        body_a, body_b = _bodies(d, env, contact)
        if d.body_inv_mass[body_b] > 0:
            roots = ti.Vector([0, 0])
            for side in range(2):  # one call site: the root search is compiled once
                roots[side] = _island_root(d, env, body_a if side == 0 else body_b)
            d.body_island[env, ti.max(roots[0], roots[1]), ISLAND_PARENT] = ti.min(roots[0], roots[1])
    for contact in range(d.counters[env, CONTACT_COUNT]):
        body_a, body_b = _bodies(d, env, contact)
        d.contact_int[env, contact, CONTACT_ISLAND] = _island_root(
            d, env, body_a if d.body_inv_mass[body_a] > 0 else body_b)


@ti.func
def solve_velocities(d: ti.template(), env):
    """Gauss-Seidel sweeps until every contact's velocity error is within the tolerance. Free-body scenes
    stop per island: the sweeps visit a list of contacts, from which each sweep drops the islands whose
    contacts all met the tolerance (islands do not act on each other, so a settled island's result is the one
    it would get alone), while a stack of redundant contacts elsewhere takes the sweeps it needs."""
    n_visited = d.counters[env, CONTACT_COUNT]
    if ti.static(not d.articulated):
        find_islands(d, env)
        for contact in range(n_visited):
            d.contact_int[env, contact, SWEEP_LIST] = contact
    for iteration in range(d.int_params[VELOCITY_ITERATIONS]):
        # m/s: the largest velocity error any contact had when the sweep reached it. Impulses can keep
        # shifting between redundant contacts (two boxes' coincident corners) while velocities are right.
        largest_error = 0.0
        for sweep_index in range(n_visited):
            # Alternate the sweep direction: a one-way Gauss-Seidel order biases the impulses of a
            # symmetric stack to one side, which starts it swaying.
            entry = sweep_index if iteration % 2 == 0 else n_visited - 1 - sweep_index
            if ti.static(d.articulated):  # dof-space sides possible: the generic visit for every contact
                body_a, body_b = _bodies(d, env, entry)
                largest_error = ti.max(largest_error, _solve_link_contact(
                    d, env, entry, d.contact_int[env, entry, CONTACT_SIDES], body_a, body_b))
            else:
                contact = d.contact_int[env, entry, SWEEP_LIST]
                body_a, body_b = _bodies(d, env, contact)
                if _solve_free_contact(d, env, contact, body_a, body_b) >= d.params[TOLERANCE]:
                    d.body_island[env, d.contact_int[env, contact, CONTACT_ISLAND], ISLAND_UNSETTLED] = 1
        d.counters[env, MAX_SWEEPS] = ti.max(d.counters[env, MAX_SWEEPS], iteration + 1)
        if ti.static(d.articulated):
            largest_error = ti.max(largest_error, solve_limits(d, env))
        else:  # keep the unsettled islands' contacts, in order; then clear their marks for the next sweep
            kept = 0
            for entry in range(n_visited):
                contact = d.contact_int[env, entry, SWEEP_LIST]
                if d.body_island[env, d.contact_int[env, contact, CONTACT_ISLAND], ISLAND_UNSETTLED]:
                    d.contact_int[env, kept, SWEEP_LIST] = contact
                    kept += 1
            for entry in range(kept):
                d.body_island[env, d.contact_int[env, d.contact_int[env, entry, SWEEP_LIST], CONTACT_ISLAND],
                              ISLAND_UNSETTLED] = 0
            n_visited = kept
            largest_error = d.params[TOLERANCE] if kept > 0 else 0.0
        if largest_error < d.params[TOLERANCE]:
            break


@ti.func
def solve_positions(d: ti.template(), env):
    """Split impulses: pseudo-velocities that remove a fraction of the penetration beyond the slop.

    They translate bodies along contact normals and never rotate them: a pseudo-rotation would slide
    the body's other contacts sideways where friction cannot see it (friction acts on real velocities),
    and a pyramid would creep apart. Rotation stays with the velocity solve, which friction governs.
    """
    dt = d.params[DT]
    for _ in range(d.int_params[POSITION_ITERATIONS]):
        for contact in range(d.counters[env, CONTACT_COUNT]):
            depth = -d.contact_scalar[env, contact, SEPARATION] - d.params[SLOP]
            if depth > 0:
                body_a, body_b = _bodies(d, env, contact)
                inverse_mass = d.body_inv_mass[body_a] + d.body_inv_mass[body_b]
                if ti.static(d.articulated):
                    flags = d.contact_int[env, contact, CONTACT_SIDES]
                    mass = d.contact_scalar[env, contact, MASS_POSITION]
                    speed = _speed_generic(d, env, contact, 0, flags, body_a, body_b, 1)
                    old = d.contact_scalar[env, contact, IMPULSE_POSITION]
                    new = ti.max(old + (d.params[BETA] * depth / dt - speed) * mass, 0.0)
                    d.contact_scalar[env, contact, IMPULSE_POSITION] = new
                    _push_generic(d, env, contact, 0, flags, body_a, body_b, new - old, 1)
                elif inverse_mass > 0:
                    normal = d.contact_vec3[env, contact, CONTACT_NORMAL]
                    velocity = d.body_vec3[env, body_a, PSEUDO_LIN_VEL] - d.body_vec3[env, body_b, PSEUDO_LIN_VEL]
                    target = d.params[BETA] * depth / dt
                    old = d.contact_scalar[env, contact, IMPULSE_POSITION]
                    new = ti.max(old + (target - velocity.dot(normal)) / inverse_mass, 0.0)
                    d.contact_scalar[env, contact, IMPULSE_POSITION] = new
                    d.body_vec3[env, body_a, PSEUDO_LIN_VEL] += d.body_inv_mass[body_a] * (new - old) * normal
                    d.body_vec3[env, body_b, PSEUDO_LIN_VEL] -= d.body_inv_mass[body_b] * (new - old) * normal


@ti.func
def store_impulses(d: ti.template(), env):
    """Keep each point's impulse for the next substep, keyed by the geom it pressed against. (The
    separating-axis hints after the contact slots are kept: collision updates them.)"""
    for slot, way in ti.ndrange(d.warm_geom.shape[1] - d.geom_vec3.shape[1], WARM_WAYS):
        d.warm_geom[env, slot, way] = -1
    for contact in range(d.counters[env, CONTACT_COUNT]):
        slot = d.contact_int[env, contact, CONTACT_SLOT]
        way = 0
        while way < WARM_WAYS and d.warm_geom[env, slot, way] != -1:
            way += 1
        if way < WARM_WAYS:  # a point pressing on more geoms than that starts the extra ones cold
            d.warm_geom[env, slot, way] = d.contact_int[env, contact, CONTACT_GEOM_B]
            d.warm_impulse[env, slot, way] = (
                d.contact_scalar[env, contact, IMPULSE_NORMAL] * d.contact_vec3[env, contact, CONTACT_NORMAL]
                + d.contact_scalar[env, contact, IMPULSE_TANGENT1] * d.contact_vec3[env, contact, TANGENT1]
                + d.contact_scalar[env, contact, IMPULSE_TANGENT2] * d.contact_vec3[env, contact, TANGENT2])


@ti.func
def solve_contacts(d: ti.template(), env):
    prepare_contacts(d, env)
    solve_velocities(d, env)
    solve_positions(d, env)
    store_impulses(d, env)
