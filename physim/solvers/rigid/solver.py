"""The rigid solver's host side: builds the model once, launches one kernel per step, moves state in and out.

A free body is a one-link tree on a 6-DoF free joint: its state is the joint's qpos (frame position,
orientation quaternion) and qvel (linear velocity of the centre of mass and angular velocity, world
frame). The step pipeline per substep and env, as MuJoCo spells it:

    kinematics -> collision -> velocities (gravity, gyroscopic) -> contact solve -> positions

All of it runs in one kernel launch per ``step`` (substeps loop inside), parallel over envs: on a CPU a
parallel loop costs tens of microseconds to dispatch, more than a small scene's whole substep.
"""


import warnings

import numpy as np
import taichi as ti

from physim.options import RigidOptions, SimOptions
from physim.solvers.rigid import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.rigid.collision import detect_collisions
from physim.solvers.rigid.contact_solver import solve_contacts
from physim.solvers.rigid.dynamics import (
    check_finite,
    integrate_positions,
    integrate_velocities,
    start_step,
    update_kinematics,
)
from physim.solvers.rigid.model import RigidBodySpec, assemble
from physim.utils.arrays import read, scalar_type, upload, write
from physim.utils.launch import PreparedKernel
from physim.utils.rotations import quat_to_matrix

# Taichi warns that the array bundle is a plain Python call inside the kernel; that is the intent.
warnings.filterwarnings("ignore", message=r".*non-taichi function \"L.RigidArrays\"")

vec3, vec4, mat3 = ti.math.vec3, ti.math.vec4, ti.math.mat3
nd = L.nd


@ti.kernel
def _step_kernel(body_inv_mass: nd(None, 1), body_model_vec3: nd(vec3, 2), body_model_mat3: nd(mat3, 2),
                 geom_model_int: nd(ti.i32, 2), geom_model_scalar: nd(None, 2), geom_model_vec3: nd(vec3, 2),
                 geom_model_quat: nd(vec4, 1), points: nd(vec3, 1), planes: nd(vec4, 1),
                 body_vec3: nd(vec3, 3), body_quat: nd(vec4, 2), body_inv_inertia_world: nd(mat3, 2),
                 geom_vec3: nd(vec3, 3), geom_rot: nd(mat3, 2), geom_margin: nd(None, 2),
                 contact_int: nd(ti.i32, 3), contact_vec3: nd(vec3, 3), contact_scalar: nd(None, 3),
                 warm_geom: nd(ti.i32, 3), warm_impulse: nd(vec3, 3), counters: nd(ti.i32, 2),
                 params: nd(None, 1), int_params: nd(ti.i32, 1), broadphase_geoms: nd(ti.i32, 1),
                 sweep_order: nd(ti.i32, 2), n_substeps: ti.i32,
                 serial: ti.template()) -> ti.types.vector(3, ti.i32):
    ti.loop_config(serialize=serial)
    for env in range(body_vec3.shape[0]):
        # The bundle is a compile-time Python object: it must go straight into a ti.func call.
        _advance_env(L.RigidArrays(body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                                   geom_model_vec3, geom_model_quat, points, planes, body_vec3, body_quat,
                                   body_inv_inertia_world, geom_vec3, geom_rot, geom_margin, contact_int,
                                   contact_vec3, contact_scalar, warm_geom, warm_impulse, counters, params,
                                   int_params, broadphase_geoms, sweep_order), env, n_substeps)
    # Health of the step, reduced over envs: (most contacts any env wanted, first env and body gone non-finite).
    health = ti.Vector([0, -1, -1])
    ti.loop_config(serialize=True)
    for env in range(body_vec3.shape[0]):
        health[0] = ti.max(health[0], counters[env, L.MAX_CONTACTS_WANTED])
        if health[1] < 0 and counters[env, L.FIRST_NONFINITE_BODY] != L.NO_BODY:
            health[1] = env
            health[2] = counters[env, L.FIRST_NONFINITE_BODY]
    return health


@ti.func
def _advance_env(d: ti.template(), env, n_substeps):
    start_step(d, env)
    for _ in range(n_substeps):
        update_kinematics(d, env)
        detect_collisions(d, env)
        integrate_velocities(d, env)
        solve_contacts(d, env)
        integrate_positions(d, env)
    check_finite(d, env)


class RigidSolver:
    """Owns every rigid body of a scene. ``build`` once, then ``step``; getters and setters move numpy data."""

    def __init__(self, sim_options: SimOptions, options: RigidOptions) -> None:
        self.sim_options = sim_options
        self.options = options
        self.bodies: list[RigidBodySpec] = []
        self.n_envs = 0
        self.n_batch = 1

    # ------------------------------------------------------------------ build
    def build(self, bodies: list[RigidBodySpec], n_envs: int) -> None:
        """Upload the model and allocate state for ``max(n_envs, 1)`` copies of the scene."""
        from physim.backend import runtime

        self.float_type = runtime().np_float
        self.bodies = list(bodies)
        self.n_envs = n_envs
        self.n_batch = max(n_envs, 1)
        self.n_bodies = len(bodies)
        batch, n_bodies = self.n_batch, max(self.n_bodies, 1)
        f = self.float_type

        model = assemble(self.bodies, f)
        self.model = model
        self.n_points = model.n_points
        self.n_geoms = model.n_geoms

        self._model = dict(
            body_inv_mass=upload(model.body_inv_mass, scalar_type(f)),
            body_model_vec3=upload(model.body_model_vec3, vec3, 1),
            body_model_mat3=upload(model.body_model_mat3, mat3, 2),
            geom_model_int=upload(model.geom_model_int, ti.i32),
            geom_model_scalar=upload(model.geom_model_scalar, scalar_type(f)),
            geom_model_vec3=upload(model.geom_model_vec3, vec3, 1),
            geom_model_quat=upload(model.geom_model_quat, vec4, 1),
            points=upload(model.points, vec3, 1),
            planes=upload(model.planes, vec4, 1),
        )

        self.initial_pos = np.array([b.pos for b in bodies], np.float64).reshape(-1, 3)
        self.initial_quat = np.array([b.quat for b in bodies], np.float64).reshape(-1, 4)
        self._state = dict(
            body_vec3=ti.ndarray(vec3, (batch, n_bodies, L.BODY_VEC3_SLOTS)),
            body_quat=ti.ndarray(vec4, (batch, n_bodies)),
        )
        self._work = dict(
            body_inv_inertia_world=ti.ndarray(mat3, (batch, n_bodies)),
            geom_vec3=ti.ndarray(vec3, (batch, self.n_geoms, 3)),
            geom_rot=ti.ndarray(mat3, (batch, self.n_geoms)),
            geom_margin=ti.ndarray(scalar_type(f), (batch, self.n_geoms)),
        )
        self._allocate_contacts(self._initial_contact_capacity())
        params = np.zeros(L.N_PARAMS, f)
        opts = self.options
        params[[L.DT, L.GRAVITY_X, L.GRAVITY_Y, L.GRAVITY_Z, L.MARGIN, L.SLOP, L.BETA, L.RESTITUTION_THRESHOLD,
                L.TOLERANCE]] = (self.sim_options.substep_dt, *self.sim_options.gravity, opts.contact_margin,
                                 opts.penetration_slop, opts.position_correction, opts.restitution_threshold,
                                 opts.tolerance)
        self._params = upload(params, scalar_type(f))
        # Broad phase lists: geoms with bounds (swept along x) first, then unbounded ones (planes).
        self._bounded, unbounded = model.bounded_geoms, model.unbounded_geoms
        int_params = np.zeros(L.N_INT_PARAMS, np.int32)
        int_params[[L.VELOCITY_ITERATIONS, L.POSITION_ITERATIONS, L.N_BOUNDED_GEOMS, L.N_UNBOUNDED_GEOMS]] = (
            opts.iterations, opts.position_iterations, len(self._bounded), len(unbounded))
        self._int_params = upload(int_params, ti.i32)
        self._broadphase_geoms = upload(np.array([*self._bounded, *unbounded, 0], np.int32), ti.i32)
        self._work["sweep_order"] = ti.ndarray(ti.i32, (batch, len(self._bounded) + 1))
        self.reset()

    def _initial_contact_capacity(self) -> int:
        """Room for every collider point touching two surfaces at once, which resting scenes never exceed;
        the buffer grows if a step ever wants more."""
        return 2 * self.n_points + 4 * self.n_geoms + 16

    def _allocate_contacts(self, capacity: int) -> None:
        batch, f = self.n_batch, scalar_type(self.float_type)
        self.contact_capacity = capacity
        self._launch = None  # the arrays change: the prepared launch is rebuilt on the next step
        n_slots = self.n_points + self.n_geoms
        old = getattr(self, "_contacts", None)
        self._contacts = dict(
            contact_int=ti.ndarray(ti.i32, (batch, capacity, 3)),
            contact_vec3=ti.ndarray(vec3, (batch, capacity, L.CONTACT_VEC3_SLOTS)),
            contact_scalar=ti.ndarray(f, (batch, capacity, L.CONTACT_SCALAR_SLOTS)),
            warm_geom=old["warm_geom"] if old else ti.ndarray(ti.i32, (batch, n_slots, L.WARM_WAYS)),
            warm_impulse=old["warm_impulse"] if old else ti.ndarray(vec3, (batch, n_slots, L.WARM_WAYS)),
            counters=ti.ndarray(ti.i32, (batch, L.N_COUNTERS)),
        )
        if old is None:
            write(self._contacts["warm_geom"], -1)
        write(self._contacts["counters"], 0)

    # ------------------------------------------------------------------ step
    def step(self, n_substeps: int) -> tuple[int, int] | None:
        """Advance every env by ``n_substeps`` substeps in one kernel launch.

        Returns ``(env, body)`` of the first body whose state became non-finite, or None. If an env wanted
        more contacts than the buffer holds, the buffer grows for the next step (this step kept the first ones).
        """
        if self.n_bodies == 0:
            return None
        if self._launch is None:
            self._launch = PreparedKernel(
                _step_kernel, **self._model, **self._state, **self._work, **self._contacts, params=self._params,
                int_params=self._int_params, broadphase_geoms=self._broadphase_geoms, serial=self.n_batch == 1)
        wanted, bad_env, bad_body = self._launch(n_substeps=n_substeps)
        if wanted > self.contact_capacity:
            self._allocate_contacts(2 * wanted)
        return None if bad_env < 0 else (int(bad_env), int(bad_body))

    # ------------------------------------------------------------------ state
    def reset(self, envs_idx: np.ndarray | None = None) -> None:
        """Put the chosen envs (all by default) back to the initial poses, at rest."""
        envs = self._envs(envs_idx)
        body_vec3 = read(self._state["body_vec3"])
        quat = read(self._state["body_quat"])
        body_vec3[envs] = 0.0
        body_vec3[np.ix_(envs, np.arange(self.n_bodies), [L.POS])] = self.initial_pos[None, :, None, :]
        quat[np.ix_(envs, np.arange(self.n_bodies))] = self.initial_quat[None]
        if self.n_bodies == 0:
            quat[:] = (1.0, 0.0, 0.0, 0.0)
        write(self._state["body_vec3"], body_vec3)
        write(self._state["body_quat"], quat)
        order = read(self._work["sweep_order"])
        order[envs, : len(self._bounded)] = self._bounded
        write(self._work["sweep_order"], order)
        self._forget_contacts(envs)

    def _forget_contacts(self, envs: np.ndarray) -> None:
        """Drop warm-start impulses: after a teleport they no longer describe the contacts."""
        warm = read(self._contacts["warm_geom"])
        warm[envs] = -1
        write(self._contacts["warm_geom"], warm)

    def get_state(self) -> dict[str, np.ndarray]:
        """A copy of every env's state: qpos (pos, quat) and qvel (linear, angular velocity) per body."""
        body_vec3 = read(self._state["body_vec3"])
        return dict(pos=body_vec3[:, :, L.POS].copy(), quat=read(self._state["body_quat"]),
                    lin_vel=body_vec3[:, :, L.LIN_VEL].copy(), ang_vel=body_vec3[:, :, L.ANG_VEL].copy(),
                    warm_geom=read(self._contacts["warm_geom"]),
                    warm_impulse=read(self._contacts["warm_impulse"]),
                    sweep_order=read(self._work["sweep_order"]))

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        body_vec3 = read(self._state["body_vec3"])
        body_vec3[:, :, L.POS], body_vec3[:, :, L.LIN_VEL], body_vec3[:, :, L.ANG_VEL] = (
            state["pos"], state["lin_vel"], state["ang_vel"])
        write(self._state["body_vec3"], body_vec3)
        write(self._state["body_quat"], np.asarray(state["quat"], self.float_type))
        write(self._contacts["warm_geom"], np.asarray(state["warm_geom"], np.int32))
        write(self._contacts["warm_impulse"], np.asarray(state["warm_impulse"], self.float_type))
        write(self._work["sweep_order"], np.asarray(state["sweep_order"], np.int32))

    # ------------------------------------------------------------------ per-body access
    def body_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Frame positions (B, n, 3) and orientations (B, n, 4) of every body, float64."""
        pos = read(self._state["body_vec3"])[:, : self.n_bodies, L.POS]
        quat = read(self._state["body_quat"])[:, : self.n_bodies]
        return pos.astype(np.float64), quat.astype(np.float64)

    def get_body(self, body: int, quantity: str, envs: np.ndarray) -> np.ndarray:
        """One body's ``pos``, ``quat``, ``vel`` (velocity of its frame origin) or ``ang``, shape (len(envs), k)."""
        if quantity == "quat":
            return read(self._state["body_quat"])[envs, body].astype(np.float64)
        body_vec3 = read(self._state["body_vec3"])[envs, body].astype(np.float64)
        if quantity == "pos":
            return body_vec3[:, L.POS]
        if quantity == "ang":
            return body_vec3[:, L.ANG_VEL]
        # The frame origin moves with the centre of mass plus the rotation about it.
        arm = self._origin_arm(body, envs)
        return body_vec3[:, L.LIN_VEL] + np.cross(body_vec3[:, L.ANG_VEL], arm)

    def set_body(self, body: int, quantity: str, values: np.ndarray, envs: np.ndarray) -> None:
        """Set ``pos``, ``quat``, ``vel`` or ``ang`` of one body in the chosen envs (values (len(envs), k))."""
        if quantity == "quat":
            quat = read(self._state["body_quat"])
            quat[envs, body] = values
            write(self._state["body_quat"], quat)
        else:
            body_vec3 = read(self._state["body_vec3"])
            if quantity == "pos":
                body_vec3[envs, body, L.POS] = values
            elif quantity == "ang":
                body_vec3[envs, body, L.ANG_VEL] = values
            else:
                arm = self._origin_arm(body, envs)
                body_vec3[envs, body, L.LIN_VEL] = values - np.cross(body_vec3[envs, body, L.ANG_VEL], arm)
            write(self._state["body_vec3"], body_vec3)
        self._forget_contacts(envs)

    def _origin_arm(self, body: int, envs: np.ndarray) -> np.ndarray:
        """Vector from the centre of mass to the body frame origin, world frame, (len(envs), 3)."""
        quat = read(self._state["body_quat"])[envs, body].astype(np.float64)
        return -quat_to_matrix(quat) @ self.model.body_center_of_mass[body]

    def _envs(self, envs_idx: np.ndarray | None) -> np.ndarray:
        return np.arange(self.n_batch) if envs_idx is None else np.asarray(envs_idx, dtype=np.int64)

