"""The SPH solver's Taichi kernels: one kernel, compiled once per stage (a template argument), so every stage
takes the same arrays and a stage launch costs one prepared call; plus the two rigid-coupling kernels.

A stage holds its parallel loops one after another (Taichi runs a kernel's outermost loops in order, each
in parallel), so the barriers a stage needs cost nothing extra. The solve stages return their iteration's
error, the largest over envs of the mean relative error of the env's active particles; the search returns how
many particles of an env found more neighbours than their lists had room for (the host then lays the lists
out again and searches once more).
"""

import warnings

import taichi as ti
from taichi.lang import impl

from physim.solvers.rigid import layout as RL  # noqa: N812 - the rigid solver's slot names, read only
from physim.solvers.sph import layout as L  # noqa: N812
from physim.solvers.sph import stages as S  # noqa: N812
from physim.utils.tmath import quat_to_matrix

vec3, vec4, mat3 = ti.math.vec3, ti.math.vec4, ti.math.mat3
nd = L.nd

# Taichi warns that the array bundle is a plain Python call inside the kernel; that is the intent.
warnings.filterwarnings("ignore", message=r".*non-taichi function \"L.SPHArrays\"")

SEARCH, WARM_DIVERGENCE, DIVERGENCE, FORCES_AND_WARM_DENSITY, DENSITY, ADVECT, HEALTH, MAX_SPEED = range(8)
N_STAGES = 8


@ti.func
def _mean_error_over_envs(d: ti.template()):
    """The largest over envs of (ERROR_SUM / N_ACTIVE)."""
    worst = 0.0
    ti.loop_config(serialize=True)
    for env in range(d.stats.shape[0]):
        active = d.stats[env, L.N_ACTIVE]
        if active > 0:
            worst = ti.max(worst, d.stats[env, L.ERROR_SUM] / active)
    return worst


@ti.func
def _largest_over_envs(d: ti.template(), slot: ti.template()):
    largest = 0.0
    ti.loop_config(serialize=True)
    for env in range(d.stats.shape[0]):
        largest = ti.max(largest, d.stats[env, slot])
    return largest


@ti.kernel
def stage_kernel(p_param: nd(None, 2), b_local: nd(vec3, 1), b_body: nd(ti.i32, 1), b_volume: nd(None, 1),
                 x_x: nd(None, 1), x_y: nd(None, 1), x_z: nd(None, 1), v_x: nd(None, 1), v_y: nd(None, 1),
                 v_z: nd(None, 1), active: nd(ti.i32, 2), density: nd(None, 2), stiffness: nd(None, 2),
                 p_work: nd(None, 3), p_vec3: nd(vec3, 3), b_vec3: nd(vec3, 3), p_int: nd(ti.i32, 3),
                 cells: nd(ti.i32, 3), sorted_ids: nd(ti.i32, 1), sorted_points: nd(vec4, 1),
                 list_start: nd(ti.i32, 2), neighbours: nd(ti.i32, 1), neighbour_w: nd(None, 1),
                 neighbour_grad_x: nd(None, 1), neighbour_grad_y: nd(None, 1), neighbour_grad_z: nd(None, 1),
                 body_impulse: nd(vec3, 3), stats: nd(None, 2), flag: nd(ti.i32, 1), params: nd(None, 1),
                 int_params: nd(ti.i32, 1), dt: float, warm_scale: float, stage: ti.template()) -> float:
    # The array bundle is a compile-time Python object: it must go straight into a ti.func call. The stage's
    # loops stay outermost once the function is inlined, so each runs in parallel.
    return _stage(L.SPHArrays(p_param, b_local, b_body, b_volume, x_x, x_y, x_z, v_x, v_y, v_z, active, density,
                              stiffness, p_work, p_vec3, b_vec3, p_int, cells, sorted_ids, sorted_points, list_start,
                              neighbours, neighbour_w, neighbour_grad_x, neighbour_grad_y, neighbour_grad_z,
                              body_impulse, stats, flag, params, int_params),
                  dt, warm_scale, stage)


def _reduction_chunk() -> int:
    """How many particles one thread tallies before adding into an env's sum: on the CPU a float atomic on one
    address from every thread is a contended compare-and-swap loop (one per particle cost a solve iteration a
    fifth of its time, measured), while a GPU's atomics are cheap and its threads need the parallelism."""
    return 1 if _on_gpu() else 256


def _on_gpu() -> bool:
    return impl.current_cfg().arch in (ti.cuda, ti.amdgpu, ti.vulkan, ti.metal)


def _particles_outermost() -> bool:
    """Whether a pass over the neighbour lists loops over particles outermost and over envs inside it: on the
    CPU, where LLVM then compiles the loop over a list well (under ti.ndrange, whose flat index it must divide
    back into env and particle, the pressure pass took 1.3-1.4x as long, measured); a GPU needs the
    parallelism of every (env, particle) pair."""
    return not _on_gpu()


def _search_group() -> int:
    """How many liquid particles of a cell share one pass over their candidates in the search: on the CPU
    ``L.SEARCH_GROUP``; on a GPU a thread per particle (its threads need the parallelism, and each thread's
    batches would take its local memory)."""
    return 1 if _on_gpu() else L.SEARCH_GROUP


@ti.func
def _gather_neighbours_and_density(d: ti.template(), env, i, dt, scale):
    S.gather_neighbours_and_density(d, env, i, ti.static(_search_group()))


@ti.func
def _each_particle(d: ti.template(), visit: ti.template(), dt, scale):
    """visit(d, env, i, dt, scale) for every particle of every env, in parallel (a pass over the lists; each
    visit takes the stage's substep length and warm-start scale, and uses what it needs)."""
    if ti.static(_particles_outermost()):
        for i in range(d.active.shape[1]):
            for env in range(d.active.shape[0]):
                visit(d, env, i, dt, scale)
    else:
        for env, i in ti.ndrange(d.active.shape[0], d.active.shape[1]):
            visit(d, env, i, dt, scale)


@ti.func
def _stage(d: ti.template(), dt, warm_scale, stage: ti.template()):
    result = 0.0
    n_env, n = d.active.shape[0], d.active.shape[1]
    chunk = ti.static(_reduction_chunk())
    if ti.static(stage == SEARCH):
        for env in range(n_env):
            d.stats[env, L.N_ACTIVE] = 0.0
            d.stats[env, L.OVERFLOWING] = 0.0
            d.stats[env, L.NEEDED_ENTRIES] = 0.0
            S.lay_out_lists(d, env)
        for env, p in ti.ndrange(n_env, d.p_int.shape[1]):
            S.bin_particle(d, env, p)
        # The cells' starts: a scan of the cell counts, parallel over z columns but for the columns' own scan.
        n_columns = d.int_params[L.GRID_X] * d.int_params[L.GRID_Y]
        for env, column in ti.ndrange(n_env, n_columns):
            S.column_count(d, env, column)
        for env in range(n_env):
            S.column_starts(d, env)
        for env, column in ti.ndrange(n_env, n_columns):
            S.cell_starts(d, env, column)
        for env, p in ti.ndrange(n_env, d.p_int.shape[1]):
            S.scatter(d, env, p)
        _each_particle(d, _gather_neighbours_and_density, dt, warm_scale)
        for env, first in ti.ndrange(n_env, (n + chunk - 1) // chunk):
            overflowing, needed, active = 0, 0, 0
            for i in range(first * chunk, ti.min(first * chunk + chunk, n)):
                found = d.p_int[env, i, L.FOUND]
                overflowing += 1 if found > d.list_start[env, i + 1] - d.list_start[env, i] else 0
                needed += S.list_room(found)
                active += d.active[env, i]
            d.stats[env, L.OVERFLOWING] += overflowing * 1.0
            d.stats[env, L.NEEDED_ENTRIES] += needed * 1.0
            d.stats[env, L.N_ACTIVE] += active * 1.0
        result = _largest_over_envs(d, L.OVERFLOWING)
    if ti.static(stage == WARM_DIVERGENCE):
        # Start from the last substep's total stiffness (rescaled to this substep's length).
        for env, i in ti.ndrange(n_env, n):
            S.warm_stiffness(d, env, i, warm_scale, True)
        _apply_pressure(d, dt)
    if ti.static(stage == DIVERGENCE or stage == DENSITY):
        for env in range(n_env):
            d.stats[env, L.ERROR_SUM] = 0.0
        _each_particle(d, S.solve_divergence_stiffness if ti.static(stage == DIVERGENCE) else S.solve_density_stiffness,
                       dt, warm_scale)
        for env, first in ti.ndrange(n_env, (n + chunk - 1) // chunk):
            error = 0.0
            for i in range(first * chunk, ti.min(first * chunk + chunk, n)):
                error += d.p_work[env, i, L.ERROR]
            d.stats[env, L.ERROR_SUM] += error
        _apply_pressure(d, dt)
        result = _mean_error_over_envs(d)
    if ti.static(stage == FORCES_AND_WARM_DENSITY):
        # The non-pressure forces and the constant-density solve's warm start in one pass over the neighbour
        # lists: the warm start's pressure reads stiffnesses only, not the velocities the forces change.
        for env, i in ti.ndrange(n_env, n):
            S.warm_stiffness(d, env, i, warm_scale, False)
        _each_particle(d, S.forces_and_warm_density, dt, warm_scale)
        _add_velocity_changes(d)
    if ti.static(stage == ADVECT):
        for env, i in ti.ndrange(n_env, n):
            S.advect(d, env, i, dt)
    if ti.static(stage == HEALTH):
        # The first (env * n + particle) gone non-finite, in d.flag[0].
        d.flag[0] = L.NO_PARTICLE
        for env, i in ti.ndrange(n_env, n):
            if d.active[env, i] != 0 and not S.healthy(d, env, i):
                ti.atomic_min(d.flag[0], env * n + i)
    if ti.static(stage == MAX_SPEED):
        for env in range(n_env):
            d.stats[env, L.MAX_SPEED] = 0.0
        for env, i in ti.ndrange(n_env, n):
            if d.active[env, i] != 0:
                ti.atomic_max(d.stats[env, L.MAX_SPEED], S.velocity(d, env, i).norm())
        result = _largest_over_envs(d, L.MAX_SPEED)
    return result


@ti.func
def _apply_pressure(d: ti.template(), dt):
    """Every active particle's velocity changes by the pressure of the current stiffnesses (in place: the pass
    reads stiffnesses, not velocities)."""
    _each_particle(d, S.apply_pressure, dt, 1.0)


@ti.func
def _add_velocity_changes(d: ti.template()):
    """v += the velocity change a pass left in p_vec3 (a pass of its own: that pass read the velocities)."""
    for env, i in ti.ndrange(d.active.shape[0], d.active.shape[1]):
        if d.active[env, i] != 0:
            S.set_velocity(d, env, i, S.velocity(d, env, i) + d.p_vec3[env, i, L.DV])


@ti.kernel
def place_boundary_kernel(b_local: nd(vec3, 1), b_body: nd(ti.i32, 1), b_vec3: nd(vec3, 3),
                          body_vec3: nd(vec3, 3), body_quat: nd(vec4, 2), body_model_vec3: nd(vec3, 2)):
    """World position, velocity and arm (from the body's centre of mass) of every boundary particle."""
    for env, b in ti.ndrange(b_vec3.shape[0], b_vec3.shape[1]):
        body = b_body[b]
        rotation = quat_to_matrix(body_quat[env, body])
        arm = rotation @ (b_local[b] - body_model_vec3[body, RL.COM_LOCAL])
        com = body_vec3[env, body, RL.POS] + rotation @ body_model_vec3[body, RL.COM_LOCAL]
        b_vec3[env, b, L.B_POS] = com + arm
        b_vec3[env, b, L.B_VEL] = body_vec3[env, body, RL.LIN_VEL] + body_vec3[env, body, RL.ANG_VEL].cross(arm)
        b_vec3[env, b, L.B_ARM] = arm


@ti.kernel
def apply_impulses_kernel(body_impulse: nd(vec3, 3), body_vec3: nd(vec3, 3)):
    """Hand each rigid body the impulse the liquid's pressure put on it (to the rigid solver's accumulator: the
    next rigid step turns it into velocity, a link's through its tree), then clear the tally."""
    for env, body in ti.ndrange(body_impulse.shape[0], body_impulse.shape[1]):
        body_vec3[env, body, RL.EXTERNAL_IMPULSE] += body_impulse[env, body, L.LINEAR]
        body_vec3[env, body, RL.EXTERNAL_ANG_IMPULSE] += body_impulse[env, body, L.ANGULAR]
        body_impulse[env, body, L.LINEAR] = vec3(0.0)
        body_impulse[env, body, L.ANGULAR] = vec3(0.0)
