"""The MPM solver's host side: builds the model once, launches the substep kernels, moves state in and out.

A substep is two kernel launches: the grid kernel (stress and P2G, then the grid update, as consecutive
parallel loops) and the G2P kernel. Taichi parallelises only a kernel's outermost loops and a substep needs
a barrier between stages, so the substep loop cannot move inside a kernel without making the particle loops
serial. Between the two, ``grid_hooks`` run: two-way coupling (``physim/solvers/coupling.py``) acts on the
grid's velocities there, as moving boundaries act in MLS-MPM. Launches go through ``PreparedKernel``, so a
launch costs microseconds. After the last substep of a step one small kernel reduces the state's health
(the first particle gone non-finite).
"""

import math
import warnings
from collections.abc import Callable

import numpy as np
import taichi as ti

from physim.backend import runtime
from physim.errors import InvalidValueError
from physim.options import MPMOptions, SimOptions
from physim.scene.mpm_materials import MPMMaterial
from physim.solvers.mpm import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.mpm.stages import g2p, gather_grid_update, grid_update, p2g, p2g_private, particle_stress
from physim.solvers.particles import ParticleBodySpec, ParticleStore
from physim.utils.arrays import scalar_type, upload
from physim.utils.launch import PreparedKernel
from physim.utils.launch import optimizing_compiler as _optimizing_compiler
from physim.utils.tmath import is_finite

# Taichi warns that the array bundle is a plain Python call inside the kernel; that is the intent.
warnings.filterwarnings("ignore", message=r".*non-taichi function \"L.MPMArrays\"")

vec3, vec4, mat3 = ti.math.vec3, ti.math.vec4, ti.math.mat3
nd = L.nd


@ti.kernel
def _grid_kernel(p_mat: nd(ti.i32, 1), p_mass: nd(None, 1), p_vol: nd(None, 1), mat_param: nd(None, 2),
                 mat_int: nd(ti.i32, 2), x: nd(vec3, 2), v: nd(vec3, 2), C: nd(mat3, 2), F: nd(mat3, 2),  # noqa: N803
                 Jp: nd(None, 2), affine: nd(mat3, 2), grid: nd(vec4, 4), copies: nd(vec4, 1),  # noqa: N803
                 params: nd(None, 1), int_params: nd(ti.i32, 1), region: nd(ti.i32, 2),
                 private_grids: ti.template(), serial_scatter: ti.template()):
    """A substep up to the grid's new velocities: stress, P2G, grid update. The array bundle is a
    compile-time Python object: it must go straight into a ti.func call, hence one ``L.MPMArrays(...)`` per
    stage."""
    if ti.static(private_grids):
        # CPU: copy c of env e takes the c-th slice of e's particles, in order, on one worker. Each copy was
        # left cleared by the previous substep's grid update. Each slice also records the box of nodes it
        # touched, so that the grid update visits only the occupied region.
        # Taichi 1.7 hands a CPU loop to its threads in static blocks of at least 512 iterations, so a loop
        # over a couple of slices would run on one thread: the loop runs SLICE_STRIDE (512 when there are
        # few slices) iterations a slice, and only the first of each does the slice's work. Which thread runs
        # an iteration never matters for correctness: each slice is one iteration.
        n_copies = copies.shape[0] // grid.shape[0] // grid.shape[1] // grid.shape[2] // grid.shape[3]
        n_slices = n_copies * x.shape[0]
        stride = int_params[L.SLICE_STRIDE]
        for task in range(n_slices * stride):
            if task % stride == 0:
                env, copy = task // stride // n_copies, task // stride % n_copies
                lo, hi = ti.Vector([L.NO_PARTICLE] * 3), ti.Vector([-1] * 3)
                # Runs of SLICE_RUN particles dealt out in turn, so that every slice gets its share of each
                # body (bodies of costly materials would otherwise load one worker), in runs contiguous in
                # memory.
                n_runs = (x.shape[1] + L.SLICE_RUN - 1) // L.SLICE_RUN
                for turn in range((n_runs - copy + n_copies - 1) // n_copies):
                    run = copy + turn * n_copies
                    for p in range(run * L.SLICE_RUN, ti.min((run + 1) * L.SLICE_RUN, x.shape[1])):
                        base = p2g_private(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp,
                                                       affine, grid, copies, params, int_params), copy, env, p)
                        lo, hi = ti.min(lo, base), ti.max(hi, base + 2)
                for a in ti.static(range(3)):
                    region[env * n_copies + copy, a] = lo[a]
                    region[env * n_copies + copy, 3 + a] = hi[a]
        # The update visits this substep's box and the last one's: nodes the particles left get mass 0 there
        # (outside both, every node already holds zero mass).
        ti.loop_config(serialize=True)
        for _ in range(1):
            for a in ti.static(range(3)):
                lo_now, hi_now = L.NO_PARTICLE, -1
                for slice_ in range(n_slices):
                    lo_now, hi_now = ti.min(lo_now, region[slice_, a]), ti.max(hi_now, region[slice_, 3 + a])
                region[n_slices + 1, a] = ti.min(lo_now, region[n_slices, a])
                region[n_slices + 1, 3 + a] = ti.max(hi_now, region[n_slices, 3 + a]) + 1
                region[n_slices, a], region[n_slices, 3 + a] = lo_now, hi_now
        for env, i, j, k in ti.ndrange(grid.shape[0], (region[n_slices + 1, 0], region[n_slices + 1, 3]),
                                       (region[n_slices + 1, 1], region[n_slices + 1, 4]),
                                       (region[n_slices + 1, 2], region[n_slices + 1, 5])):
            gather_grid_update(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid,
                                           copies, params, int_params), env, i, j, k)
    else:
        for env, i, j, k in ti.ndrange(grid.shape[0], grid.shape[1], grid.shape[2], grid.shape[3]):
            grid[env, i, j, k] = vec4(0.0)
        for env, p in ti.ndrange(x.shape[0], x.shape[1]):
            particle_stress(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid,
                                        copies, params, int_params), env, p)
        # Parallel scatter: atomic adds in a varying order. Serial (MPMOptions.deterministic): a fixed order.
        ti.loop_config(serialize=serial_scatter)
        for env, p in ti.ndrange(x.shape[0], x.shape[1]):
            p2g(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, copies, params,
                            int_params), env, p)
        for env, i, j, k in ti.ndrange(grid.shape[0], grid.shape[1], grid.shape[2], grid.shape[3]):
            grid_update(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, copies,
                                    params, int_params), env, i, j, k)


@ti.kernel
def _g2p_kernel(p_mat: nd(ti.i32, 1), p_mass: nd(None, 1), p_vol: nd(None, 1), mat_param: nd(None, 2),
                mat_int: nd(ti.i32, 2), x: nd(vec3, 2), v: nd(vec3, 2), C: nd(mat3, 2), F: nd(mat3, 2),  # noqa: N803
                Jp: nd(None, 2), affine: nd(mat3, 2), grid: nd(vec4, 4), copies: nd(vec4, 1),  # noqa: N803
                params: nd(None, 1), int_params: nd(ti.i32, 1)):
    """The rest of a substep: particles gather the grid's velocities and move."""
    for env, p in ti.ndrange(x.shape[0], x.shape[1]):
        g2p(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, copies, params,
                        int_params), env, p)


@ti.kernel
def _health_kernel(x: nd(vec3, 2), v: nd(vec3, 2), F: nd(mat3, 2), flag: nd(ti.i32, 1)) -> ti.i32:  # noqa: N803
    """The first (env * n + particle) whose position, velocity or deformation is not finite, else NO_PARTICLE."""
    flag[0] = L.NO_PARTICLE
    for env, p in ti.ndrange(x.shape[0], x.shape[1]):
        size = x[env, p].norm_sqr() + v[env, p].norm_sqr() + F[env, p].norm_sqr()
        if not (is_finite(size) and size < 1e30):
            ti.atomic_min(flag[0], env * x.shape[1] + p)
    return flag[0]


class MPMSolver(ParticleStore):
    """Owns every MPM particle of a scene. ``build`` once, then ``step``; getters and setters move numpy data."""

    def __init__(self, sim_options: SimOptions, options: MPMOptions) -> None:
        self.sim_options = sim_options
        self.options = options
        self.bodies: list[ParticleBodySpec] = []
        self.n_particles = 0
        self.step_hooks: list[Callable[[], None]] = []  # run once at the start of every step
        self.grid_hooks: list[Callable[[], None]] = []  # run every substep, on the grid's new velocities

    # ------------------------------------------------------------------ build
    def build(self, bodies: list[ParticleBodySpec], n_envs: int) -> None:
        counts = self._lay_out_bodies(bodies, n_envs)
        f = self.float_type
        n = self.n_particles
        materials = list(dict.fromkeys(b.material for b in bodies))
        body_mat = [materials.index(b.material) for b in bodies]
        p_mat = np.repeat(np.array(body_mat, np.int32), counts)
        p_vol = np.repeat(np.array([b.particle_volume for b in bodies]), counts)
        p_mass = np.repeat(np.array([b.particle_mass for b in bodies]), counts)
        self.particle_mass = p_mass.astype(f)
        mat_param = np.array([m.solver_params() for m in materials], f).reshape(-1, L.N_MAT_PARAMS)
        mat_int = np.array([(m.kind, m.solver_model()) for m in materials], np.int32).reshape(-1, L.N_MAT_INTS)

        opts = self.options
        dx = opts.dx
        lower, upper = np.array(opts.lower_bound), np.array(opts.upper_bound)
        cells = np.ceil((upper - lower) / dx - 1e-6).astype(int)
        self.grid_shape = tuple(int(c) + 1 + 2 * L.PAD for c in cells)
        origin = lower - L.PAD * dx
        self.n_substeps = self._substeps(materials)
        self.substep_dt = self.sim_options.dt / self.n_substeps
        params = np.zeros(L.N_PARAMS, f)
        params[[L.DT, L.GRAVITY_X, L.GRAVITY_Y, L.GRAVITY_Z]] = (self.substep_dt,
                                                                 *self.sim_options.gravity)
        params[L.ORIGIN_X:L.ORIGIN_Z + 1] = origin
        params[L.LOWER_X:L.LOWER_Z + 1] = lower
        params[L.UPPER_X:L.UPPER_Z + 1] = upper
        params[L.DX] = dx
        scalar = scalar_type(f)
        batch = self.n_batch
        # CPU: one private P2G grid per worker slice (``n_copies`` slices of each env's particles; with at
        # least as many envs as threads, an env is a slice). GPU: atomics into ``grid``; ``affine`` carries the
        # stress between the two particle loops there.
        self.private_grids = runtime().arch == "cpu"
        threads = max(1, int(ti.lang.impl.current_cfg().cpu_max_num_threads))
        self.n_copies = max(1, threads // batch) if self.private_grids else 0
        slices = self.n_copies * batch
        int_params = np.zeros(L.N_INT_PARAMS, np.int32)
        int_params[L.BOUNDARY] = L.BOUNDARY_CODES[opts.boundary]
        int_params[L.SLICE_STRIDE] = L.CPU_MIN_BLOCK if slices < L.CPU_MIN_BLOCK * threads else 1

        self._model = dict(p_mat=upload(p_mat, ti.i32), p_mass=upload(p_mass.astype(f), scalar),
                           p_vol=upload(p_vol.astype(f), scalar), mat_param=upload(mat_param, scalar),
                           mat_int=upload(mat_int, ti.i32), params=upload(params, scalar),
                           int_params=upload(int_params, ti.i32))
        self._state = dict(x=ti.ndarray(vec3, (batch, n)), v=ti.ndarray(vec3, (batch, n)),
                           C=ti.ndarray(mat3, (batch, n)), F=ti.ndarray(mat3, (batch, n)),
                           Jp=ti.ndarray(scalar, (batch, n)))
        copies_shape = (self.n_copies * batch * int(np.prod(self.grid_shape)) if self.private_grids else 1,)
        if max(copies_shape[0], batch * int(np.prod(self.grid_shape))) >= 2**31:  # node indices are 32-bit
            raise InvalidValueError(f"MPMOptions: {batch} env(s) of a {' x '.join(map(str, self.grid_shape))}-node "
                                    "grid exceed 2^31 grid nodes; use fewer envs, a smaller domain or a lower "
                                    "grid_density")
        self._work = dict(affine=ti.ndarray(mat3, (1, 1) if self.private_grids else (batch, n)),
                          copies=ti.ndarray(vec4, copies_shape))
        self._work["copies"].fill(0.0)
        # region: rows 0..K*B-1 each slice's node box (lo xyz, hi xyz, inclusive), then the last substep's box,
        # then the box the grid update visits (hi exclusive). Empty boxes to start: the grid is all zero.
        self._work["region"] = upload(np.tile(np.array([L.NO_PARTICLE] * 3 + [-1] * 3, np.int32), (slices + 2, 1)),
                                      ti.i32)
        self._grid = dict(grid=ti.ndarray(vec4, (batch, *self.grid_shape)))
        self._flag = ti.ndarray(ti.i32, (1,))
        self.initial_x = np.concatenate([b.positions for b in bodies]).astype(f) if bodies else np.zeros((0, 3), f)
        self._launch_grid = PreparedKernel(_grid_kernel, **self._model, **self._state, **self._work, **self._grid,
                                           private_grids=self.private_grids,
                                           # the CPU's scatter always sums in a fixed order: one kernel for both
                                           serial_scatter=opts.deterministic and not self.private_grids)
        self._launch_g2p = PreparedKernel(_g2p_kernel, **self._model, **self._state, affine=self._work["affine"],
                                          copies=self._work["copies"], **self._grid)
        self._health = PreparedKernel(_health_kernel, x=self._state["x"], v=self._state["v"], F=self._state["F"],
                                      flag=self._flag)
        self._compiled = dict(grid=False, g2p=False, health=False)  # launched once (so compiled) yet?
        self.reset()

    def _substeps(self, materials: list[MPMMaterial]) -> int:
        """SimOptions.substeps, or with ``auto_substeps`` at least enough to keep the elastic waves'
        Courant number under ``cfl`` (dt_sub <= cfl * dx / c)."""
        substeps = self.sim_options.substeps
        if self.options.auto_substeps and materials:
            speed = max(m.wave_speed() for m in materials)
            stable_dt = self.options.cfl * self.options.dx / speed
            substeps = max(substeps, math.ceil(self.sim_options.dt / stable_dt))
        return substeps

    # ------------------------------------------------------------------ step
    def step(self) -> tuple[int, int] | None:
        """Advance every env by one step. Returns ``(env, body)`` of the first particle gone non-finite, or None."""
        if self.n_particles == 0:
            return None
        for hook in self.step_hooks:
            hook()
        for _ in range(self.n_substeps):
            self._substep()
        with _optimizing_compiler(not self._compiled["health"]):
            bad = int(self._health())
        self._compiled["health"] = True
        if bad == L.NO_PARTICLE:
            return None
        return bad // self.n_particles, int(self.particle_body[bad % self.n_particles])

    def _substep(self) -> None:
        with _optimizing_compiler(not self._compiled["grid"]):
            self._launch_grid()
        self._compiled["grid"] = True
        for hook in self.grid_hooks:
            hook()
        with _optimizing_compiler(not self._compiled["g2p"]):
            self._launch_g2p()
        self._compiled["g2p"] = True

    # ------------------------------------------------------------------ state
    def reset(self, envs_idx: np.ndarray | None = None) -> None:
        """Put the chosen envs (all by default) back to the initial positions, at rest and undeformed."""
        envs = np.arange(self.n_batch) if envs_idx is None else np.asarray(envs_idx, np.int64)
        state = self.get_state()
        state["x"][envs] = self.initial_x
        for key in ("v", "C"):
            state[key][envs] = 0.0
        state["F"][envs] = np.eye(3, dtype=self.float_type)
        state["Jp"][envs] = 1.0
        self.set_state(state)

