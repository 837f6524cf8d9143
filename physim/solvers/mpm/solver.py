"""The MPM solver's host side: builds the model once, launches the substep kernels, moves state in and out.

A substep is two kernel launches: the grid kernel (clear grid, stress, P2G, grid update, as consecutive
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

from physim.options import MPMOptions, SimOptions
from physim.scene.mpm_materials import MPMMaterial
from physim.solvers.mpm import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.mpm.stages import g2p, grid_update, p2g, particle_stress
from physim.solvers.particles import ParticleBodySpec
from physim.utils.arrays import read, scalar_type, upload, write
from physim.utils.launch import PreparedKernel

# Taichi warns that the array bundle is a plain Python call inside the kernel; that is the intent.
warnings.filterwarnings("ignore", message=r".*non-taichi function \"L.MPMArrays\"")

vec3, vec4, mat3 = ti.math.vec3, ti.math.vec4, ti.math.mat3
nd = L.nd


@ti.kernel
def _grid_kernel(p_mat: nd(ti.i32, 1), p_mass: nd(None, 1), p_vol: nd(None, 1), mat_param: nd(None, 2),
                 mat_int: nd(ti.i32, 2), x: nd(vec3, 2), v: nd(vec3, 2), C: nd(mat3, 2), F: nd(mat3, 2),  # noqa: N803
                 Jp: nd(None, 2), affine: nd(mat3, 2), grid: nd(vec4, 4), params: nd(None, 1),  # noqa: N803
                 int_params: nd(ti.i32, 1), serial_scatter: ti.template()):
    """A substep up to the grid's new velocities: clear, stress, P2G, grid update. The array bundle is a
    compile-time Python object: it must go straight into a ti.func call, hence one ``L.MPMArrays(...)`` per
    stage."""
    for env, i, j, k in ti.ndrange(grid.shape[0], grid.shape[1], grid.shape[2], grid.shape[3]):
        grid[env, i, j, k] = vec4(0.0)
    for env, p in ti.ndrange(x.shape[0], x.shape[1]):
        particle_stress(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, params,
                                    int_params), env, p)
    # Parallel scatter: atomic adds in a varying order. Serial (MPMOptions.deterministic): a fixed order.
    ti.loop_config(serialize=serial_scatter)
    for env, p in ti.ndrange(x.shape[0], x.shape[1]):
        p2g(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, params,
                        int_params), env, p)
    for env, i, j, k in ti.ndrange(grid.shape[0], grid.shape[1], grid.shape[2], grid.shape[3]):
        grid_update(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, params,
                                int_params), env, i, j, k)


@ti.kernel
def _g2p_kernel(p_mat: nd(ti.i32, 1), p_mass: nd(None, 1), p_vol: nd(None, 1), mat_param: nd(None, 2),
                mat_int: nd(ti.i32, 2), x: nd(vec3, 2), v: nd(vec3, 2), C: nd(mat3, 2), F: nd(mat3, 2),  # noqa: N803
                Jp: nd(None, 2), affine: nd(mat3, 2), grid: nd(vec4, 4), params: nd(None, 1),  # noqa: N803
                int_params: nd(ti.i32, 1)):
    """The rest of a substep: particles gather the grid's velocities and move."""
    for env, p in ti.ndrange(x.shape[0], x.shape[1]):
        g2p(L.MPMArrays(p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, params,
                        int_params), env, p)


@ti.kernel
def _health_kernel(x: nd(vec3, 2), v: nd(vec3, 2), F: nd(mat3, 2), flag: nd(ti.i32, 1)) -> ti.i32:  # noqa: N803
    """The first (env * n + particle) whose position, velocity or deformation is not finite, else NO_PARTICLE."""
    flag[0] = L.NO_PARTICLE
    for env, p in ti.ndrange(x.shape[0], x.shape[1]):
        size = x[env, p].norm_sqr() + v[env, p].norm_sqr() + F[env, p].norm_sqr()
        if not (size == size and size < 1e30):
            ti.atomic_min(flag[0], env * x.shape[1] + p)
    return flag[0]


class MPMSolver:
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
        from physim.backend import runtime

        f = runtime().np_float
        self.float_type = f
        self.bodies = list(bodies)
        self.n_envs, self.n_batch = n_envs, max(n_envs, 1)
        counts = [len(b.positions) for b in bodies]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.n_particles = n = int(self.starts[-1])
        materials = list(dict.fromkeys(b.material for b in bodies))
        body_mat = [materials.index(b.material) for b in bodies]
        self.particle_body = np.repeat(np.arange(len(bodies)), counts)
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
        int_params = np.array([L.BOUNDARY_CODES[opts.boundary]], np.int32)

        scalar = scalar_type(f)
        batch = self.n_batch

        self._model = dict(p_mat=upload(p_mat, ti.i32), p_mass=upload(p_mass.astype(f), scalar),
                           p_vol=upload(p_vol.astype(f), scalar), mat_param=upload(mat_param, scalar),
                           mat_int=upload(mat_int, ti.i32), params=upload(params, scalar),
                           int_params=upload(int_params, ti.i32))
        self._state = dict(x=ti.ndarray(vec3, (batch, n)), v=ti.ndarray(vec3, (batch, n)),
                           C=ti.ndarray(mat3, (batch, n)), F=ti.ndarray(mat3, (batch, n)),
                           Jp=ti.ndarray(scalar, (batch, n)))
        self._work = dict(affine=ti.ndarray(mat3, (batch, n)))
        self._grid = dict(grid=ti.ndarray(vec4, (batch, *self.grid_shape)))
        self._flag = ti.ndarray(ti.i32, (1,))
        self.initial_x = np.concatenate([b.positions for b in bodies]).astype(f) if bodies else np.zeros((0, 3), f)
        self._launch_grid = PreparedKernel(_grid_kernel, **self._model, **self._state, **self._work, **self._grid,
                                           serial_scatter=opts.deterministic)
        self._launch_g2p = PreparedKernel(_g2p_kernel, **self._model, **self._state, **self._work, **self._grid)
        self._health = PreparedKernel(_health_kernel, x=self._state["x"], v=self._state["v"], F=self._state["F"],
                                      flag=self._flag)
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
            self._launch_grid()
            for hook in self.grid_hooks:
                hook()
            self._launch_g2p()
        bad = int(self._health())
        if bad == L.NO_PARTICLE:
            return None
        return bad // self.n_particles, int(self.particle_body[bad % self.n_particles])

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

    def get_state(self) -> dict[str, np.ndarray]:
        return {key: read(array) for key, array in self._state.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for key, array in self._state.items():
            write(array, state[key])

    # ------------------------------------------------------------------ per-body access
    def get_particles(self, body: int, quantity: str, envs: np.ndarray) -> np.ndarray:
        """Positions (``"x"``) or velocities (``"v"``) of one body's particles, (len(envs), n, 3), float64."""
        start, stop = self.starts[body], self.starts[body + 1]
        return read(self._state[quantity])[envs, start:stop].astype(np.float64)

    def set_particles(self, body: int, quantity: str, values: np.ndarray, envs: np.ndarray) -> None:
        start, stop = self.starts[body], self.starts[body + 1]
        array = read(self._state[quantity])
        array[np.ix_(envs, np.arange(start, stop))] = values
        write(self._state[quantity], array)
