"""Two-way coupling of rigid bodies with the MPM continuum.

Rigid geometry acts on the MPM grid as a moving boundary with Coulomb friction, and the momentum it takes
from the grid goes back to the rigid bodies, so a light body floats on MPM liquid, a heavy one sinks, and a
moving body ploughs sand. Per MPM substep, after the grid update and before G2P (``MPMSolver.grid_hooks``):

    for every grid node with mass inside a rigid geom (signed distance < 0):
        v_rigid = v_body + w_body x (x_node - com)             the body's velocity at the node
        v_rel = v_node - v_rigid, split into normal and tangential parts (normal: the geom's outward normal)
        if the node approaches the body (v_rel . n < 0):
            drop the normal part; shrink the tangential part by mu |v_rel . n| (Coulomb, stick when it would
            reverse): the node would end at v_rigid + what is left
            the body would receive the opposite of that momentum change, m_node (v_old - v_new), at x_node
    each free body takes the share m / (m + M) of the summed impulse J (M: mass of the nodes it touched), as
    in a plastic collision: dv = share J / m, dw = share I_world^-1 L
    the nodes are projected against the bodies' new velocities, as above

An articulated link cannot change its velocity here (that needs its tree's mass matrix): the nodes meet it
as a moving wall for the whole MPM step, and the full impulse they give it (no share: an immovable wall's)
goes to the rigid solver's impulse accumulator (``rigid_colliders``), which turns it into joint velocities
at the next rigid step. The momentum the nodes lose is exactly what the robot gains; a light link hit by
much material within one step may overshoot, as an explicit coupling does. The rigid solver moves the
bodies over the next step with these velocities; the particle solver sees them where they are at the start
of each MPM step (rigid poses are refreshed once per step: ``MPMSolver.step_hooks``). Static geometry (planes,
fixed bodies) takes part as a boundary and receives nothing. Friction is the rigid geom's coefficient.

The signed distances and geom poses are the rigid solver's own functions (``collision.signed_distance``,
``dynamics.update_kinematics``), so the particles meet exactly the shapes rigid bodies collide with.
"""

import taichi as ti

from physim.solvers.mpm import layout as M  # noqa: N812 - MPM slot names
from physim.solvers.rigid import layout as R  # noqa: N812 - rigid slot names
from physim.solvers.rigid.collision import signed_distance
from physim.solvers.rigid.shapes import GeomType
from physim.solvers.rigid_colliders import RigidColliders, RigidView
from physim.utils.arrays import upload
from physim.utils.launch import PreparedKernel

vec3, vec4, mat3 = ti.math.vec3, ti.math.vec4, ti.math.mat3
nd = R.nd


@ti.func
def _node_contact(r: ti.template(), geom, env, position, velocity):
    """Whether a grid node at ``position`` moving at ``velocity`` presses into ``geom``; if so, its body, the
    arm from the body's centre of mass, the outward normal and the body's velocity there."""
    hit, body, arm, normal, body_velocity = False, 0, vec3(0.0), vec3(0.0, 0.0, 1.0), vec3(0.0)
    near = True
    if r.geom_model_int[geom, R.GEOM_TYPE] != GeomType.PLANE:
        near = (position >= r.geom_vec3[env, geom, R.AABB_MIN]).all() and \
            (position <= r.geom_vec3[env, geom, R.AABB_MAX]).all()
    if near:
        distance, outward = signed_distance(r, env, geom, position)
        if distance < 0:
            body = r.geom_model_int[geom, R.GEOM_BODY]
            arm = position - r.body_vec3[env, body, R.COM_WORLD]
            normal = outward
            body_velocity = r.body_vec3[env, body, R.LIN_VEL] + r.body_vec3[env, body, R.ANG_VEL].cross(arm)
            hit = (velocity - body_velocity).dot(normal) < 0
    return hit, body, arm, normal, body_velocity


@ti.func
def _project(velocity, body_velocity, normal, friction):
    """The node's velocity after meeting the surface: no normal approach, Coulomb-limited sliding."""
    relative = velocity - body_velocity
    normal_speed = relative.dot(normal)
    tangential = relative - normal_speed * normal
    tangential_speed = tangential.norm()
    keep = 0.0
    if tangential_speed > 1e-12:
        keep = ti.max(0.0, 1.0 + friction * normal_speed / tangential_speed)
    return body_velocity + keep * tangential


@ti.func
def _meet_geoms(r: ti.template(), coupled_geoms: ti.template(), body_moves: ti.template(),
                body_impulse: ti.template(), env, position, velocity, mass, tally: ti.template()):
    """A grid node meets every coupled geom in turn. ``tally``: add up the impulses it would give the bodies
    (the node is left as it is). Otherwise: return its velocity after meeting them, projected against each."""
    result = velocity
    for n in range(coupled_geoms.shape[0]):
        geom = coupled_geoms[n]
        hit, body, arm, normal, body_velocity = _node_contact(r, geom, env, position, result)
        if hit:
            new_velocity = _project(result, body_velocity, normal, r.geom_model_scalar[geom, R.FRICTION])
            if ti.static(tally):
                moves = body_moves[body]
                impulse = mass * (velocity - new_velocity)  # N s, on the body
                if moves == R.MOVES_FREE:
                    body_impulse[env, body, 0] += impulse
                    body_impulse[env, body, 1] += arm.cross(impulse)
                    body_impulse[env, body, 2][0] += mass
                elif moves != R.MOVES_STATIC:  # a link: the rigid solver answers through the tree next step
                    r.body_vec3[env, body, R.EXTERNAL_IMPULSE] += impulse
                    r.body_vec3[env, body, R.EXTERNAL_ANG_IMPULSE] += arm.cross(impulse)
            else:
                result = new_velocity
    return result


@ti.kernel
def _couple_grid(grid: nd(vec4, 4), mpm_params: nd(None, 1), coupled_geoms: nd(ti.i32, 1),
                 body_impulse: nd(vec3, 3), body_moves: nd(ti.i32, 1), body_inv_mass: nd(None, 1),
                 body_model_vec3: nd(vec3, 2), body_model_mat3: nd(mat3, 2), geom_model_int: nd(ti.i32, 2),
                 geom_model_scalar: nd(None, 2), geom_model_vec3: nd(vec3, 2), geom_model_quat: nd(vec4, 1),
                 planes: nd(vec4, 1),
                 body_vec3: nd(vec3, 3), body_quat: nd(vec4, 2), body_inv_inertia_world: nd(mat3, 2),
                 geom_vec3: nd(vec3, 3), geom_rot: nd(mat3, 2), geom_margin: nd(None, 2), params: nd(None, 1),
                 region: nd(ti.i32, 2), serial: ti.template(), occupied_only: ti.template()):
    """Three passes: impulses the nodes would give the bodies; the bodies' share of them; nodes projected
    against the bodies' new velocities. (The array bundle is a compile-time object: it must go straight into
    each call.) ``occupied_only``: the node passes visit only the box of nodes the grid update visited (the
    last row of the MPM solver's ``region``), outside which no node has mass."""
    dx = mpm_params[M.DX]
    origin = vec3(mpm_params[M.ORIGIN_X], mpm_params[M.ORIGIN_Y], mpm_params[M.ORIGIN_Z])
    lo, hi = ti.Vector([0, 0, 0]), ti.Vector([grid.shape[1], grid.shape[2], grid.shape[3]])
    if ti.static(occupied_only):
        box = region.shape[0] - 1
        lo = ti.Vector([region[box, 0], region[box, 1], region[box, 2]])
        hi = ti.Vector([region[box, 3], region[box, 4], region[box, 5]])
    # Atomic sums of impulses in a varying order vary in the last bit: serial when runs must be bit-identical.
    ti.loop_config(serialize=serial)
    for env, i, j, k in ti.ndrange(grid.shape[0], (lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])):
        mass = grid[env, i, j, k][3]
        if mass > 0:
            _meet_geoms(RigidView(body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                                  geom_model_vec3, geom_model_quat, planes, body_vec3, body_quat,
                                  body_inv_inertia_world, geom_vec3, geom_rot, geom_margin, params),
                        coupled_geoms, body_moves, body_impulse, env, origin + vec3(i, j, k) * dx,
                        grid[env, i, j, k].xyz, mass, True)
    for env, body in ti.ndrange(body_impulse.shape[0], body_impulse.shape[1]):
        # Nodes and body meet as in a perfectly plastic collision: with M kg of nodes at velocity v_n and a
        # body of m kg at v_b, the body takes m M / (m + M) (v_n - v_b), the fraction m / (m + M) of what the
        # nodes alone would exchange with an immovable wall. Without it, a light body meeting much material
        # in one substep would bounce back.
        inv_mass = body_inv_mass[body]
        touched = body_impulse[env, body, 2][0]
        if inv_mass > 0 and touched > 0:
            share = 1.0 / (1.0 + touched * inv_mass)
            body_vec3[env, body, R.LIN_VEL] += share * inv_mass * body_impulse[env, body, 0]
            body_vec3[env, body, R.ANG_VEL] += share * body_inv_inertia_world[env, body] @ body_impulse[env, body, 1]
        for slot in ti.static(range(3)):
            body_impulse[env, body, slot] = vec3(0.0)
    for env, i, j, k in ti.ndrange(grid.shape[0], (lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])):
        mass = grid[env, i, j, k][3]
        if mass > 0:
            velocity = _meet_geoms(
                RigidView(body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                          geom_model_vec3, geom_model_quat, planes, body_vec3, body_quat, body_inv_inertia_world,
                          geom_vec3, geom_rot, geom_margin, params),
                coupled_geoms, body_moves, body_impulse, env, origin + vec3(i, j, k) * dx, grid[env, i, j, k].xyz,
                mass, False)
            grid[env, i, j, k] = vec4(velocity, mass)


class RigidMPMCoupling:
    """Wires two-way coupling between a built rigid solver and a built MPM solver (see the module docstring)."""

    def __init__(self, rigid_solver, mpm_solver) -> None:
        rigid = RigidColliders(rigid_solver)
        if len(rigid.colliders) == 0:
            return
        n_bodies = rigid.arrays["body_vec3"].shape[1]
        self.body_impulse = ti.ndarray(vec3, (rigid_solver.n_batch, n_bodies, 3))  # impulse, angular, node mass
        self.body_impulse.fill(0.0)
        self._couple = PreparedKernel(_couple_grid, grid=mpm_solver._grid["grid"],
                                      mpm_params=mpm_solver._model["params"],
                                      coupled_geoms=upload(rigid.colliders, ti.i32), body_impulse=self.body_impulse,
                                      body_moves=rigid.body_moves,
                                      **rigid.arrays, region=mpm_solver._work["region"],
                                      serial=mpm_solver.options.deterministic,
                                      occupied_only=mpm_solver.private_grids)
        mpm_solver.step_hooks.append(rigid.refresh)
        mpm_solver.grid_hooks.append(self._couple)
