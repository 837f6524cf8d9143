"""The SPH solver's host side: builds the model once, runs the DFSPH substeps, moves state in and out.

A substep (Bender & Koschier 2017, Algorithm 1, started at its neighbour search):

    place the rigid boundary particles; neighbour search, densities, DFSPH factors
    divergence solve (warm-started), until the mean compression rate is under the tolerance
    gravity, viscosity, cohesion
    constant-density solve (warm-started), until the mean compression is under the tolerance
    advect; give the rigid bodies the impulse the liquid put on them

Each stage is one prepared launch of ``kernels.stage_kernel``; a solve iteration returns its error, so the
host decides when to stop. Rigid bodies couple two ways: the liquid sees them through boundary particles
placed from their pose and velocity each substep, and they receive the pressure impulses on those particles
(see ``attach_rigid``).

A liquid sampled at rest density on its lattice holds still from the first step (the walls mirror it, so
hydrostatic pressure needs no settling); the lattice is not SPH's stable packing under pressure, though,
and after about a second it rearranges, the XSPH smoothing damping what that releases (tests/test_sph.py).

Known limits (measured, see tests/test_sph.py): the solve's iterations grow with the liquid's depth in
particles (about 7 per substep for a resting column 8 deep at the default tolerance); a resting liquid
trembles at a few mm/s, where its warm-started pressure was a little too high. The liquid sees a rigid body
where the rigid solver's step left it and as immovable within a substep: a heavy box striking the floor at
2 m/s through a layer two particles deep throws the trapped particles at 16 m/s (8 times its speed; 13 m/s
with one substep a step, 7 m/s with a step a quarter as long). Tried, each worse or no cure (measured):
placing the body along its path over the substeps (the layer then held the box and burst at 60 m/s); moving
the boundary with the body's velocity as the solve's impulses change it (21-38 m/s); taking back the
compression a substep starts with at a bounded speed (6.6 m/s at two substeps a step, 22 at one: the burst
is the box's speed into the closing gap, not the compression). Strong coupling, the rigid bodies stepped
with the liquid's substeps and solved with its pressure (Gissler et al. 2019), is what is left.
"""

import math

import numpy as np
import taichi as ti

from physim.errors import InvalidValueError
from physim.options import SimOptions, SPHOptions
from physim.solvers.particles import ParticleBodySpec, ParticleStore
from physim.solvers.sph import boundary
from physim.solvers.sph import kernels as K  # noqa: N812
from physim.solvers.sph import layout as L  # noqa: N812
from physim.utils.arrays import component_arguments, component_arrays, read, scalar_type, upload, write
from physim.utils.launch import PreparedKernel

vec3 = ti.math.vec3
# Boundary particles sit this fraction of particle_size apart on rigid surfaces: dense enough that liquid
# cannot slip between them, sparse enough to keep neighbour lists short.
BOUNDARY_SPACING = 0.75
# The pressure solve runs at least this many iterations (as SPlisHSPlasH does): one iteration's error is
# measured before its correction, so two make sure the correction was looked at.
MIN_DENSITY_ITERATIONS = 2
# The constant-density solve starts from this fraction of the last substep's stiffness (SPlisHSPlasH's DFSPH
# warm start takes half). Its iterations only add pressure, so the start must come in from below: the whole of
# it cannot be taken back where the liquid moved on (it piles up and the liquid blows apart, measured). 0.8
# takes 6.3 iterations per substep on a dam break and 7 in a resting tank (0.5: 17 and 13), and holds that
# tank at 2.6 mm/s RMS at 0.4 s against 0.9 mm/s with 0.5 (measured, tests/test_sph.py's tank).
DENSITY_WARM_START = 0.8
# When the packed neighbour lists need more entries than they have, they grow to this many times the need.
LIST_GROWTH = 1.25


class SPHSolver(ParticleStore):
    """Owns every SPH particle of a scene. ``build`` once, then ``step``; getters and setters move numpy data."""

    def __init__(self, sim_options: SimOptions, options: SPHOptions) -> None:
        self.sim_options = sim_options
        self.options = options
        self.bodies: list[ParticleBodySpec] = []
        self.n_particles = 0
        self.n_boundary = 0
        self._rigid = None
        self.last_iterations = (0, 0)  # (divergence, density) iterations of the last substep
        self.last_density_error = 0.0
        self.search_repeats = 0  # searches run again because a list lacked room (a diagnostic)

    # ------------------------------------------------------------------ build
    def build(self, bodies: list[ParticleBodySpec], n_envs: int) -> None:
        counts = self._lay_out_bodies(bodies, n_envs)
        f = self.float_type
        self.particle_mass = np.repeat([b.particle_mass for b in bodies], counts).astype(f)

        opts = self.options
        size, h = opts.particle_size, opts.support_radius
        self.kernel_scale = boundary.lattice_kernel_scale(size, h)
        lower, upper = np.array(opts.lower_bound), np.array(opts.upper_bound)
        # A support radius of cells all round: the cells within reach of a liquid particle stay inside the grid.
        cells_per_support = np.array([1, 1, L.Z_CELLS_PER_SUPPORT])
        grid = np.ceil((upper - lower) / h * cells_per_support - 1e-9).astype(int) + 2 * cells_per_support
        self.grid_shape = tuple(int(g) for g in grid)
        params = np.zeros(L.N_PARAMS)
        params[L.LOWER_X:L.LOWER_Z + 1] = lower
        params[L.UPPER_X:L.UPPER_Z + 1] = upper
        params[L.ORIGIN_X:L.ORIGIN_Z + 1] = lower - h
        params[[L.CELL_SIZE, L.SUPPORT, L.KERNEL_SCALE, L.PARTICLE_SIZE]] = (h, h, self.kernel_scale, size)
        params[L.GRAVITY_X:L.GRAVITY_Z + 1] = self.sim_options.gravity
        params[L.XSPH] = opts.velocity_smoothing
        self.initial_x = np.concatenate([b.positions for b in bodies]).astype(f) if bodies else np.zeros((0, 3), f)
        self.initial_active = np.concatenate(
            [np.ones(len(b.positions), np.int32) if b.active is None else np.asarray(b.active, np.int32)
             for b in bodies]) if bodies else np.zeros(0, np.int32)
        self._params_host = params
        self._allocate_boundary(np.zeros((0, 3)), np.zeros(0, np.int32), np.zeros(0), n_rigid=1)

    def _allocate_boundary(self, local: np.ndarray, owner: np.ndarray, volume: np.ndarray, n_rigid: int) -> None:
        """(Re)allocate every array; the boundary particles' count sets the search arrays' size."""
        f, scalar = self.float_type, scalar_type(self.float_type)
        n, batch, nb = self.n_particles, self.n_batch, len(local)
        self.n_boundary = nb
        if (n + nb) * L.N_IMAGE_CODES >= 2**31:
            raise InvalidValueError(f"SPHOptions.particle_size: {n} liquid and {nb} boundary particles are more than "
                                    f"the neighbour lists can index ({2**31 // L.N_IMAGE_CODES} in all); enlarge "
                                    f"particle_size, got {self.options.particle_size!r}")
        int_params = np.array([*self.grid_shape, n, nb], np.int32)
        n_cells = int(np.prod(self.grid_shape))
        nb_alloc = max(nb, 1)
        self._model = dict(
            p_param=upload(np.zeros((max(n, 1), L.N_P_PARAMS), f) if n == 0 else self._p_param_host(), scalar),
            b_local=upload(np.zeros((nb_alloc, 3), f) if nb == 0 else local.astype(f), vec3, 1),
            b_body=upload(np.zeros(nb_alloc, np.int32) if nb == 0 else owner.astype(np.int32), ti.i32),
            b_volume=upload(np.zeros(nb_alloc, f) if nb == 0 else volume.astype(f), scalar),
            params=upload(self._params_host.astype(f), scalar),
            int_params=upload(int_params, ti.i32),
        )
        old_state = getattr(self, "_state", None)
        rows = (batch, max(n, 1))
        self._state = dict(x=component_arrays(scalar, rows), v=component_arrays(scalar, rows),
                           active=ti.ndarray(ti.i32, rows))
        self._work = dict(
            density=ti.ndarray(scalar, (batch, max(n, 1))), stiffness=ti.ndarray(scalar, (batch, max(n, 1))),
            p_work=ti.ndarray(scalar, (batch, max(n, 1), L.N_P_WORK)),
            p_vec3=ti.ndarray(vec3, (batch, max(n, 1), L.N_P_VEC3)),
            b_vec3=ti.ndarray(vec3, (batch, nb_alloc, L.N_B_VEC3)),
            p_int=ti.ndarray(ti.i32, (batch, max(n, 1) + nb, L.N_P_INT)),
            cells=ti.ndarray(ti.i32, (batch, n_cells + 1, 2)), sorted_ids=ti.ndarray(ti.i32, batch * (max(n, 1) + nb)),
            sorted_points=ti.ndarray(ti.math.vec4, batch * (max(n, 1) + nb)),
            **self._neighbour_lists(),
            body_impulse=ti.ndarray(vec3, (batch, n_rigid, 2)), stats=ti.ndarray(scalar, (batch, L.N_STATS)),
            flag=ti.ndarray(ti.i32, (1,)))
        p_int = np.zeros((batch, max(n, 1) + nb, L.N_P_INT), np.int32)
        # The first search lays each list out with SPHOptions.max_neighbours entries.
        p_int[:, :, L.FOUND] = max(self.options.max_neighbours - L.LIST_SLACK, 0)
        write(self._work["p_int"], p_int)
        write(self._work["cells"], 0)  # each search leaves the counts at zero for the next (stages.cell_starts)
        write(self._work["density"], 0.0)
        write(self._work["b_vec3"], 0.0)
        write(self._work["body_impulse"], 0.0)
        self._prepare_stages()
        if old_state is None:
            self.reset()
        else:
            for key, array in self._state.items():
                write(array, read(old_state[key]))
        self._place = self._apply = None

    @property
    def list_capacity(self) -> int:
        """Entries of each env's packed neighbour lists (they grow when a search needs more)."""
        work = getattr(self, "_work", None)
        return work["neighbours"].shape[0] // self.n_batch if work else 0

    def _neighbour_lists(self, capacity: int | None = None) -> dict[str, ti.Ndarray]:
        """The packed lists, with ``capacity`` entries per env (at first max_neighbours per particle), all envs'
        in one run (``layout``)."""
        n, batch = max(self.n_particles, 1), self.n_batch
        capacity = capacity or max(self.list_capacity, n * self.options.max_neighbours)
        if batch * capacity >= 2**31:
            raise InvalidValueError(f"SPHOptions.particle_size: {batch} envs of {n} particles need {batch * capacity} "
                                    f"neighbour entries, more than the lists can index (2**31); use fewer envs or "
                                    f"enlarge particle_size, got {self.options.particle_size!r}")
        scalar = scalar_type(self.float_type)
        lists = {name: ti.ndarray(scalar, batch * capacity)
                 for name in ("neighbour_w", "neighbour_grad_x", "neighbour_grad_y", "neighbour_grad_z")}
        return dict(list_start=ti.ndarray(ti.i32, (batch, n + 1)), neighbours=ti.ndarray(ti.i32, batch * capacity),
                    **lists)

    def stage_arrays(self) -> dict[str, ti.Ndarray]:
        """Every array the stage kernel takes, by its argument name."""
        return component_arguments({**{k: self._model[k] for k in ("p_param", "b_local", "b_body", "b_volume")},
                                    **self._state, **self._work, "params": self._model["params"],
                                    "int_params": self._model["int_params"]})

    def _prepare_stages(self) -> None:
        arrays = self.stage_arrays()
        self._stages = {stage: PreparedKernel(K.stage_kernel, optimize=True, **arrays, stage=stage)
                        for stage in range(K.N_STAGES)}

    def _search(self, dt: float) -> None:
        """The neighbour search. Each particle's list is laid out with room for what it found the last time;
        where one found more (a liquid pressed past rest density, packed against a dense boundary, or a
        particle an emitter just released), the lists are laid out again from this search's counts, enlarged
        if they must be, and the search runs once more, so no pair is silently dropped (up to
        ``layout.MAX_LIST_ROOM`` per particle)."""
        if self._stages[K.SEARCH](dt=dt, warm_scale=1.0) == 0:
            return
        self.search_repeats += 1
        needed = int(read(self._work["stats"])[:, L.NEEDED_ENTRIES].max())
        if needed > self.list_capacity:
            self._work.update(self._neighbour_lists(int(LIST_GROWTH * needed)))
            self._prepare_stages()
        self._stages[K.SEARCH](dt=dt, warm_scale=1.0)

    def _p_param_host(self) -> np.ndarray:
        p_param = np.zeros((self.n_particles, L.N_P_PARAMS), self.float_type)
        for body, start, stop in zip(self.bodies, self.starts[:-1], self.starts[1:]):
            p_param[start:stop, L.MASS] = body.particle_mass
            p_param[start:stop, L.REST_DENSITY] = body.material.rho
            p_param[start:stop, L.KIN_VISCOSITY] = body.material.kinematic_viscosity
            p_param[start:stop, L.COHESION] = body.material.surface_tension
        return p_param

    def attach_rigid(self, rigid_solver) -> None:
        """Couple with the scene's rigid solver: sample boundary particles on its bodies' and robot links'
        surfaces; every substep they are placed from the bodies' poses and velocities, and the bodies take the
        liquid's pressure impulses through the rigid solver's accumulator (a link's through its tree; fixed
        bodies only push)."""
        # Free bodies, then the robots' links: the rigid solver numbers its bodies in this order.
        bodies = list(getattr(rigid_solver, "bodies", ())) + list(getattr(getattr(rigid_solver, "art", None),
                                                                          "link_bodies", ()))
        if self.n_particles == 0 or not bodies:
            return
        opts = self.options
        local, owner, volume = boundary.sample_rigid_boundary(
            bodies, BOUNDARY_SPACING * opts.particle_size, opts.particle_size, opts.support_radius,
            self.kernel_scale)
        if len(local) == 0:
            return
        self._rigid = rigid_solver
        self._allocate_boundary(local, owner, volume, n_rigid=rigid_solver._state["body_quat"].shape[1])
        rigid_state, rigid_model = rigid_solver._state, rigid_solver._model
        self._place = PreparedKernel(K.place_boundary_kernel, b_local=self._model["b_local"],
                                     b_body=self._model["b_body"], b_vec3=self._work["b_vec3"],
                                     body_vec3=rigid_state["body_vec3"], body_quat=rigid_state["body_quat"],
                                     body_model_vec3=rigid_model["body_model_vec3"])
        self._apply = PreparedKernel(K.apply_impulses_kernel, body_impulse=self._work["body_impulse"],
                                     body_vec3=rigid_state["body_vec3"])

    # ------------------------------------------------------------------ step
    def substeps(self) -> int:
        """SimOptions.substeps, or with ``auto_substeps`` enough to keep the fastest particle's travel per
        substep under ``cfl * particle_size`` (gravity's gain over the step counted in)."""
        count = self.sim_options.substeps
        if self.options.auto_substeps:
            dt = self.sim_options.dt
            gain = float(np.linalg.norm(self.sim_options.gravity)) * dt
            speed = self._stages[K.MAX_SPEED](dt=dt, warm_scale=1.0) + gain
            count = max(count, math.ceil(dt * speed / (self.options.cfl * self.options.particle_size)))
        return count

    def step(self) -> tuple[int, int] | None:
        """Advance every env by one step. Returns ``(env, body)`` of the first particle gone non-finite, or None."""
        if self.n_particles == 0:
            return None
        n_substeps = self.substeps()
        dt = self.sim_options.dt / n_substeps
        for _ in range(n_substeps):
            self._substep(dt)
        self._stages[K.HEALTH](dt=dt, warm_scale=1.0)
        bad = int(read(self._work["flag"])[0])
        if bad == L.NO_PARTICLE:
            return None
        return bad // self.n_particles, int(self.particle_body[bad % self.n_particles])

    def _substep(self, dt: float) -> None:
        previous = getattr(self, "_previous_dt", dt)
        self._previous_dt = dt
        if self._place is not None:
            self._place()
        self._search(dt)
        opts, stages = self.options, self._stages  # after the search: growing the lists prepares new stages
        divergence_iterations = 0
        if opts.divergence_solve:
            stages[K.WARM_DIVERGENCE](dt=dt, warm_scale=0.5 * previous / dt)
            while divergence_iterations < opts.max_iterations:
                divergence_iterations += 1
                if stages[K.DIVERGENCE](dt=dt, warm_scale=1.0) <= opts.max_divergence_error:
                    break
        stages[K.FORCES_AND_WARM_DENSITY](dt=dt, warm_scale=DENSITY_WARM_START * (previous / dt) ** 2)
        density_iterations = 0
        while density_iterations < opts.max_iterations:
            density_iterations += 1
            error = stages[K.DENSITY](dt=dt, warm_scale=1.0)
            if error <= opts.max_density_error and density_iterations >= MIN_DENSITY_ITERATIONS:
                break
        self.last_iterations = (divergence_iterations, density_iterations)
        self.last_density_error = float(error)
        stages[K.ADVECT](dt=dt, warm_scale=1.0)
        if self._apply is not None:
            self._apply()

    # ------------------------------------------------------------------ emitters
    def active_counts(self, body: int, envs: np.ndarray) -> np.ndarray:
        start, stop = self.starts[body], self.starts[body + 1]
        return read(self._state["active"])[envs, start:stop].sum(axis=1).astype(np.int64)

    def activate(self, body: int, positions: np.ndarray, velocity: np.ndarray, envs: np.ndarray) -> int:
        """Release the next inactive particles of ``body`` at ``positions`` (k, 3) with ``velocity`` (3,) in
        each env of ``envs``; returns how many were released (fewer than k once the reserve runs out)."""
        start, stop = self.starts[body], self.starts[body + 1]
        state = {key: read(self._state[key]) for key in ("x", "v", "active")}
        released = len(positions)
        for env in envs:
            first = start + int(state["active"][env, start:stop].sum())
            count = min(len(positions), stop - first)
            released = min(released, count)
            state["x"][env, first:first + count] = positions[:count]
            state["v"][env, first:first + count] = velocity
            state["active"][env, first:first + count] = 1
        for key, values in state.items():
            write(self._state[key], values)
        return released

    # ------------------------------------------------------------------ diagnostics
    def densities(self) -> np.ndarray:
        """Each particle's density at the last neighbour search, (B, n), kg/m^3 (inactive particles: 0)."""
        density = read(self._work["density"])[:, : self.n_particles]
        return np.where(read(self._state["active"])[:, : self.n_particles] != 0, density, 0.0)

    # ------------------------------------------------------------------ state
    def reset(self, envs_idx: np.ndarray | None = None) -> None:
        """Put the chosen envs (all by default) back to the initial positions, at rest."""
        envs = np.arange(self.n_batch) if envs_idx is None else np.asarray(envs_idx, np.int64)
        n = self.n_particles
        for key, value in (("x", self.initial_x), ("v", 0.0), ("active", self.initial_active)):
            array = read(self._state[key])
            array[envs, :n] = value
            write(self._state[key], array)
        for key in ("p_work", "density"):
            work = read(self._work[key])
            work[envs] = 0.0
            write(self._work[key], work)

    def get_state(self) -> dict[str, np.ndarray]:
        n = self.n_particles
        state = {key: read(array)[:, :n] for key, array in self._state.items()}
        # The solves' warm starts: part of the state, so a restored run replays exactly.
        state["kappa"] = read(self._work["p_work"])[:, :n, L.DENSITY_KAPPA:L.DIVERGENCE_KAPPA + 1]
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        n = self.n_particles
        for key, array in self._state.items():
            values = read(array)
            values[:, :n] = state[key]
            write(array, values)
        work = read(self._work["p_work"])
        work[:, :n, L.DENSITY_KAPPA:L.DIVERGENCE_KAPPA + 1] = state["kappa"]
        write(self._work["p_work"], work)

