"""The rigid solver's host side: builds the model once, launches one kernel per step, moves state in and out.

A free body is a one-link tree on a 6-DoF free joint: its state is the joint's qpos (frame position,
orientation quaternion) and qvel (linear velocity of the centre of mass and angular velocity, world
frame). The step pipeline per substep and env, as MuJoCo spells it:

    kinematics -> collision -> velocities (gravity, gyroscopic) -> contact solve -> positions

All of it runs in one kernel launch per ``step`` (substeps loop inside), parallel over envs: on a CPU a
parallel loop costs tens of microseconds to dispatch, more than a small scene's whole substep. The one
exception: when the narrow phase lists polytope pairs for the edge pass (GJK/EPA, collision.py), the env's step
pauses after collision, the same kernel compiled as the edge pass runs over the lists, and the step resumes
where it paused. A scene that never needs the edge pass never compiles it, and steps in one launch.
"""


import warnings

import numpy as np
import taichi as ti

from physim.options import RigidOptions, SimOptions
from physim.solvers.rigid import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.rigid.articulation import (
    ArticulationPlacement,
    assemble_articulations,
    forward_kinematics,
)
from physim.solvers.rigid.articulation_dynamics import (
    articulation_kinematics,
    articulation_positions,
    articulation_velocities,
)
from physim.solvers.rigid.articulation_model import JointType
from physim.solvers.rigid.collision import MAX_EDGE_CONTACTS, detect_collisions, edge_pass
from physim.solvers.rigid.contact_solver import solve_contacts
from physim.solvers.rigid.dynamics import (
    check_finite,
    integrate_positions,
    integrate_velocities,
    start_step,
    update_kinematics,
)
from physim.solvers.rigid.model import RigidBodySpec, assemble
from physim.utils.arrays import host_view, read, scalar_type, upload, write
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
                 params: nd(None, 1), sweep_order: nd(ti.i32, 2), model_int: nd(ti.i32, 3), art_vec4: nd(vec4, 3),
                 q_state: nd(None, 3), dof_scalar: nd(None, 3), tree_vec3: nd(vec3, 4), contact_dof: nd(None, 4),
                 edge_pairs: nd(ti.i32, 3), body_island: nd(ti.i32, 3), n_substeps: ti.i32, resume: ti.i32,
                 serial: ti.template(), articulated: ti.template(), edges: ti.template()):
    """Advance every env (``edges`` False), starting the step (``resume`` 0) or resuming paused envs (1); or,
    compiled with ``edges`` True, run the edge pass of the paused envs."""
    ti.loop_config(serialize=serial)
    for env in range(body_vec3.shape[0]):
        # The bundle is a compile-time Python object: it must go straight into a ti.func call.
        _run_env(L.RigidArrays(body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                               geom_model_vec3, geom_model_quat, points, planes, body_vec3, body_quat,
                               body_inv_inertia_world, geom_vec3, geom_rot, geom_margin, contact_int, contact_vec3,
                               contact_scalar, warm_geom, warm_impulse, counters, params, sweep_order, model_int,
                               art_vec4, q_state, dof_scalar, tree_vec3, contact_dof, edge_pairs, body_island,
                               articulated),
                 env, n_substeps, resume, edges)


@ti.func
def _run_env(d: ti.template(), env, n_substeps, resume, edges: ti.template()):
    if ti.static(edges):
        edge_pass(d, env)
    else:
        _advance_env(d, env, n_substeps, resume)


@ti.func
def _advance_env(d: ti.template(), env, n_substeps, resume):
    substep = 0
    if resume:
        substep = d.counters[env, L.PAUSED_AT]  # NOT_PAUSED: this env finished its step at the first launch
    else:
        start_step(d, env)
    d.counters[env, L.PAUSED_AT] = L.NOT_PAUSED
    collided = resume != 0  # resuming: this substep's contacts are complete, edge crossings included
    # Forward kinematics opens every substep and, once more, closes the step so that links stand where
    # their final qpos puts them (one call site: it is compiled once).
    # A scene without articulations compiles none of their code (``articulated`` is a compile-time flag).
    while substep >= 0:
        if ti.static(d.articulated):
            if not collided:
                articulation_kinematics(d, env)
        if substep == n_substeps:
            check_finite(d, env)
            break
        if not collided:
            update_kinematics(d, env)
            detect_collisions(d, env)
            if d.counters[env, L.EDGE_PAIRS] > 0:  # pause for the edge pass; resume here
                d.counters[env, L.PAUSED_AT] = substep
                break
        collided = False
        integrate_velocities(d, env)
        if ti.static(d.articulated):
            articulation_velocities(d, env)
        solve_contacts(d, env)
        integrate_positions(d, env)
        if ti.static(d.articulated):
            articulation_positions(d, env)
        substep += 1


class RigidSolver:
    """Owns every rigid body of a scene. ``build`` once, then ``step``; getters and setters move numpy data."""

    def __init__(self, sim_options: SimOptions, options: RigidOptions) -> None:
        self.sim_options = sim_options
        self.options = options
        self.bodies: list[RigidBodySpec] = []
        self.n_envs = 0
        self.n_batch = 1

    # ------------------------------------------------------------------ build
    def build(self, bodies: list[RigidBodySpec], n_envs: int,
              articulations: list[ArticulationPlacement] = ()) -> None:
        """Upload the model and allocate state for ``max(n_envs, 1)`` copies of the scene. Links of the
        articulations become bodies numbered after the free ones (see ``self.trees`` for where each sits)."""
        from physim.backend import runtime

        self.float_type = runtime().np_float
        self.bodies = list(bodies)
        self.n_envs = n_envs
        self.n_batch = max(n_envs, 1)
        f = self.float_type
        self.art = assemble_articulations(list(articulations), len(bodies), f, self.options.self_collision,
                                          self.options.neutral_collision)
        self.trees = self.art.trees
        self.n_free_bodies = len(bodies)
        self.n_bodies = len(bodies) + self.art.n_links
        batch, n_bodies = self.n_batch, max(self.n_bodies, 1)

        model = assemble(self.bodies, f, self.art.link_bodies)
        self.model = model
        self.n_points = model.n_points
        self.n_geoms = model.n_geoms

        art, opts = self.art, self.options
        # Broad phase lists: geoms with bounds (swept along x) first, then unbounded ones (planes).
        self._bounded, unbounded = model.bounded_geoms, model.unbounded_geoms
        int_params = np.zeros(L.N_INT_PARAMS, np.int32)
        int_params[[L.VELOCITY_ITERATIONS, L.POSITION_ITERATIONS, L.N_BOUNDED_GEOMS, L.N_UNBOUNDED_GEOMS, L.N_TREES,
                    L.N_LINKS]] = (opts.iterations, opts.position_iterations, len(self._bounded), len(unbounded),
                                   len(self.trees), art.n_links)
        broadphase = np.array([*self._bounded, *unbounded, 0], np.int32)
        int_tables = {L.BODY_INT_S: model.body_model_int, L.TREE_INT_S: art.tree_int, L.LINK_INT_S: art.link_int,
                      L.JOINT_INT_S: art.joint_int, L.DOF_INT_S: art.dof_int, L.LINK_DOFS_S: art.link_dofs,
                      L.INT_PARAMS_S: int_params[None], L.BROADPHASE_S: broadphase[:, None]}
        vec4_tables = {L.LINK_S: art.link_model_vec4,
                       L.JOINT_S: np.concatenate([art.joint_vec3, np.zeros(art.joint_vec3.shape[:2] + (1,))], -1),
                       L.DOF_S: np.stack([art.dof_model, art.dof_model_ext], 1)}
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
            model_int=upload(_pack(int_tables, np.int32), ti.i32),
            art_vec4=upload(_pack(vec4_tables, f, element=(4,)), vec4, 1),
        )
        n_qpos, n_dofs, n_links = max(art.n_qpos, 1), max(art.n_dofs, 1), max(art.n_links, 1)

        self.initial_pos = np.array([b.pos for b in bodies], np.float64).reshape(-1, 3)
        self.initial_quat = np.array([b.quat for b in bodies], np.float64).reshape(-1, 4)
        self._state = dict(
            body_vec3=ti.ndarray(vec3, (batch, n_bodies, L.BODY_VEC3_SLOTS)),
            body_quat=ti.ndarray(vec4, (batch, n_bodies)),
            q_state=ti.ndarray(scalar_type(f), (batch, 3, max(n_qpos, n_dofs, art.matrix_size))),
        )
        # Per-dof control (the user's commands), work and M^-1 columns share one array.
        self._work = dict(dof_scalar=ti.ndarray(scalar_type(f), (
            batch, n_dofs, L.DOF_COLUMN_OFFSET + art.max_tree_dofs)))
        control = np.zeros((batch, n_dofs, L.DOF_COLUMN_OFFSET + art.max_tree_dofs))
        # A finite stand-in for "no limit" keeps single precision clean.
        effort = np.minimum(np.r_[art.effort_limit, np.inf][:n_dofs], 1e30)
        control[:, :, L.FORCE_LO], control[:, :, L.FORCE_HI] = -effort, effort
        write(self._work["dof_scalar"], control)
        self._work.update(
            tree_vec3=ti.ndarray(vec3, (batch, 2, max(n_links, n_dofs), L.LINK_VEC3_SLOTS)),
            body_inv_inertia_world=ti.ndarray(mat3, (batch, n_bodies)),
            body_island=ti.ndarray(ti.i32, (batch, n_bodies, L.ISLAND_SLOTS)),
            geom_vec3=ti.ndarray(vec3, (batch, self.n_geoms, 3)),
            geom_rot=ti.ndarray(mat3, (batch, self.n_geoms)),
            geom_margin=ti.ndarray(scalar_type(f), (batch, self.n_geoms)),
            sweep_order=ti.ndarray(ti.i32, (batch, len(self._bounded) + 1)),
        )
        self._allocate_contacts(self._initial_contact_capacity())
        params = np.zeros(L.N_PARAMS, f)
        params[[L.DT, L.GRAVITY_X, L.GRAVITY_Y, L.GRAVITY_Z, L.MARGIN, L.SLOP, L.BETA, L.RESTITUTION_THRESHOLD,
                L.TOLERANCE]] = (self.sim_options.substep_dt, *self.sim_options.gravity, opts.contact_margin,
                                 opts.penetration_slop, opts.position_correction, opts.restitution_threshold,
                                 opts.tolerance)
        self._params = upload(params, scalar_type(f))
        self.reset()

    def _initial_contact_capacity(self) -> int:
        """Room for every collider point touching two surfaces at once, which resting scenes never exceed;
        the buffer grows if a step ever wants more."""
        return 2 * self.n_points + 4 * self.n_geoms + 16

    def _allocate_contacts(self, capacity: int) -> None:
        batch, f = self.n_batch, scalar_type(self.float_type)
        self.contact_capacity = capacity
        self._launch = self._edge_launch = None  # the arrays change: the prepared launches are rebuilt
        # See layout: points, capsule crossings, edge crossings, axis hints.
        n_slots = self.n_points + (2 + MAX_EDGE_CONTACTS) * self.n_geoms
        old = getattr(self, "_contacts", None)
        self._contacts = dict(
            contact_int=ti.ndarray(ti.i32, (batch, capacity, L.CONTACT_INT_SLOTS)),
            contact_dof=ti.ndarray(f, (batch, capacity, L.CONTACT_DOF_ROWS, self.art.max_tree_dofs)),
            contact_vec3=ti.ndarray(vec3, (batch, capacity, L.CONTACT_VEC3_SLOTS)),
            contact_scalar=ti.ndarray(f, (batch, capacity, L.CONTACT_SCALAR_SLOTS)),
            warm_geom=old["warm_geom"] if old else ti.ndarray(ti.i32, (batch, n_slots, L.WARM_WAYS)),
            warm_impulse=old["warm_impulse"] if old else ti.ndarray(vec3, (batch, n_slots, L.WARM_WAYS)),
            counters=ti.ndarray(ti.i32, (batch, L.N_COUNTERS)),
            edge_pairs=ti.ndarray(ti.i32, (batch, capacity, 2)),
        )
        if old is None:
            write(self._contacts["warm_geom"], -1)
        write(self._contacts["counters"], 0)
        # Read every step: on the CPU a numpy view made once (it lives exactly as long as the array it shows)
        # instead of one made per step, which costs several microseconds.
        self._counters_view = host_view(self._contacts["counters"])

    # ------------------------------------------------------------------ step
    def step(self, n_substeps: int) -> tuple[int, int] | None:
        """Advance every env by ``n_substeps`` substeps in one kernel launch.

        Returns ``(env, body)`` of the first body whose state became non-finite, or None. If an env wanted
        more contacts than the buffer holds, the buffer grows for the next step (this step kept the first ones).
        """
        if self.n_bodies == 0:
            return None
        if self._launch is None:
            arrays = dict(**self._model, **self._state, **self._work, **self._contacts, params=self._params,
                          serial=self.n_batch == 1, articulated=bool(self.trees))
            self._launch = PreparedKernel(_step_kernel, **arrays, edges=False)
            self._edge_launch = PreparedKernel(_step_kernel, **arrays, edges=True)  # compiled on its first launch
        self._launch(n_substeps=n_substeps, resume=0)
        counters = self._read_counters()
        # Envs paused for the edge pass: run it, resume them; again while any pauses at a later substep.
        while (counters[:, L.PAUSED_AT] != L.NOT_PAUSED).any():
            self._edge_launch(n_substeps=n_substeps, resume=0)
            self._launch(n_substeps=n_substeps, resume=1)
            counters = self._read_counters()
        # Health of the step, from the per-env counters: the most contacts any env wanted, and the first env
        # and body gone non-finite. (Read on the host: a kernel return value costs more than the whole read.)
        wanted = int(counters[:, L.MAX_CONTACTS_WANTED].max())
        if wanted > self.contact_capacity:
            self._allocate_contacts(2 * wanted)
        bad = np.flatnonzero(counters[:, L.FIRST_NONFINITE_BODY] != L.NO_BODY)
        return None if len(bad) == 0 else (int(bad[0]), int(counters[bad[0], L.FIRST_NONFINITE_BODY]))

    def _read_counters(self) -> np.ndarray:
        ti.sync()
        view = self._counters_view
        return view.copy() if view is not None else read(self._contacts["counters"])

    # ------------------------------------------------------------------ state
    def reset(self, envs_idx: np.ndarray | None = None) -> None:
        """Put the chosen envs (all by default) back to the initial poses (articulations at qpos0), at rest.
        Gains and control targets are kept: they are the user's commands, not state."""
        envs = self._envs(envs_idx)
        body_vec3 = read(self._state["body_vec3"])
        quat = read(self._state["body_quat"])
        body_vec3[envs] = 0.0
        free = np.arange(self.n_free_bodies)
        body_vec3[np.ix_(envs, free, [L.POS])] = self.initial_pos[None, :, None, :]
        quat[np.ix_(envs, free)] = self.initial_quat[None]
        if self.n_bodies == 0:
            quat[:] = (1.0, 0.0, 0.0, 0.0)
        write(self._state["body_vec3"], body_vec3)
        write(self._state["body_quat"], quat)
        if self.trees:
            q_state = read(self._state["q_state"])
            q_state[envs, L.QPOS_S, : self.art.n_qpos] = self.art.qpos0
            q_state[envs, L.QVEL_S] = 0.0
            write(self._state["q_state"], q_state)
            self._place_links(envs)
        order = read(self._work["sweep_order"])
        order[envs, : len(self._bounded)] = self._bounded
        write(self._work["sweep_order"], order)
        self._forget_contacts(envs)

    def _place_links(self, envs: np.ndarray) -> None:
        """Write link bodies' poses and velocities from qpos/qvel (host kinematics, as the kernel's)."""
        q_state = read(self._state["q_state"])
        qpos = q_state[envs, L.QPOS_S, : self.art.n_qpos]
        qvel = q_state[envs, L.QVEL_S, : self.art.n_dofs]
        pos, quat, _, omega, origin_vel = forward_kinematics(self.art, qpos, qvel)
        links = np.arange(self.n_free_bodies, self.n_bodies)
        com_local = self.model.body_center_of_mass[links]
        com_arm = np.einsum("blij,lj->bli", quat_to_matrix(quat), com_local)
        body_vec3 = read(self._state["body_vec3"])
        body_quat = read(self._state["body_quat"])
        body_vec3[np.ix_(envs, links, [L.POS])] = pos[:, :, None]
        body_vec3[np.ix_(envs, links, [L.ANG_VEL])] = omega[:, :, None]
        body_vec3[np.ix_(envs, links, [L.LIN_VEL])] = (origin_vel + np.cross(omega, com_arm))[:, :, None]
        body_quat[np.ix_(envs, links)] = quat
        write(self._state["body_vec3"], body_vec3)
        write(self._state["body_quat"], body_quat)

    def _forget_contacts(self, envs: np.ndarray) -> None:
        """Drop warm-start impulses: after a teleport they no longer describe the contacts."""
        warm = read(self._contacts["warm_geom"])
        warm[envs] = -1
        write(self._contacts["warm_geom"], warm)

    def get_state(self) -> dict[str, np.ndarray]:
        """A copy of every env's state: pose and velocity per body (links included), the articulations'
        qpos/qvel and their actuator commands."""
        body_vec3 = read(self._state["body_vec3"])
        return dict(pos=body_vec3[:, :, L.POS].copy(), quat=read(self._state["body_quat"]),
                    q_state=read(self._state["q_state"]), dof_scalar=read(self._work["dof_scalar"]),
                    lin_vel=body_vec3[:, :, L.LIN_VEL].copy(), ang_vel=body_vec3[:, :, L.ANG_VEL].copy(),
                    external_impulse=body_vec3[:, :, [L.EXTERNAL_IMPULSE, L.EXTERNAL_ANG_IMPULSE]].copy(),
                    warm_geom=read(self._contacts["warm_geom"]),
                    warm_impulse=read(self._contacts["warm_impulse"]),
                    sweep_order=read(self._work["sweep_order"]))

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        body_vec3 = read(self._state["body_vec3"])
        body_vec3[:, :, L.POS], body_vec3[:, :, L.LIN_VEL], body_vec3[:, :, L.ANG_VEL] = (
            state["pos"], state["lin_vel"], state["ang_vel"])
        body_vec3[:, :, [L.EXTERNAL_IMPULSE, L.EXTERNAL_ANG_IMPULSE]] = state.get("external_impulse", 0.0)
        write(self._state["body_vec3"], body_vec3)
        write(self._state["body_quat"], np.asarray(state["quat"], self.float_type))
        for name, array in (("q_state", self._state["q_state"]), ("dof_scalar", self._work["dof_scalar"])):
            write(array, np.asarray(state[name], self.float_type))
        write(self._contacts["warm_geom"], np.asarray(state["warm_geom"], np.int32))
        write(self._contacts["warm_impulse"], np.asarray(state["warm_impulse"], self.float_type))
        write(self._work["sweep_order"], np.asarray(state["sweep_order"], np.int32))

    # ------------------------------------------------------------------ articulations
    def get_tree_array(self, tree: int, name: str, envs: np.ndarray) -> np.ndarray:
        """One articulation's ``qpos`` (len(envs), n_qpos) or ``qvel`` (len(envs), n_dofs), float64."""
        info = self.trees[tree]
        start, count = (info.qpos_start, info.n_qpos) if name == "qpos" else (info.dof_start, info.n_dofs)
        section = L.QPOS_S if name == "qpos" else L.QVEL_S
        return read(self._state["q_state"])[envs, section, start:start + count].astype(np.float64)

    def set_tree_array(self, tree: int, name: str, values: np.ndarray, envs: np.ndarray) -> None:
        """Set ``qpos`` or ``qvel`` of one articulation in the chosen envs; links are re-placed at once."""
        info = self.trees[tree]
        start, count = (info.qpos_start, info.n_qpos) if name == "qpos" else (info.dof_start, info.n_dofs)
        section = L.QPOS_S if name == "qpos" else L.QVEL_S
        q_state = read(self._state["q_state"])
        q_state[envs, section, start:start + count] = values
        write(self._state["q_state"], q_state)
        self._place_links(envs)
        self._forget_contacts(envs)

    def get_dofs_position(self, tree: int, envs: np.ndarray) -> np.ndarray:
        """Per-dof positions (len(envs), n_dofs): a one-dof joint's coordinate; a free joint's translation;
        the rotation vector (axis times angle, rad) of ball joints and of a free joint's orientation."""
        info = self.trees[tree]
        qpos = self.get_tree_array(tree, "qpos", envs)
        out = np.zeros((len(envs), info.n_dofs))
        for joint_type, qs, ds in self._tree_joints(tree):
            qs, ds = qs - info.qpos_start, ds - info.dof_start
            if joint_type in (JointType.REVOLUTE, JointType.PRISMATIC):
                out[:, ds] = qpos[:, qs]
                continue
            if joint_type == JointType.FREE:
                out[:, ds:ds + 3] = qpos[:, qs:qs + 3]
                qs, ds = qs + 3, ds + 3
            out[:, ds:ds + 3] = _rotation_vector(qpos[:, qs:qs + 4])
        return out

    def set_dofs_position(self, tree: int, values: np.ndarray, dofs: np.ndarray, envs: np.ndarray) -> None:
        """Set the chosen dofs' positions (len(envs), len(dofs)), in ``get_dofs_position``'s terms."""
        info = self.trees[tree]
        positions = self.get_dofs_position(tree, envs)
        positions[:, dofs] = values
        qpos = self.get_tree_array(tree, "qpos", envs)
        for joint_type, qs, ds in self._tree_joints(tree):
            qs, ds = qs - info.qpos_start, ds - info.dof_start
            if joint_type in (JointType.REVOLUTE, JointType.PRISMATIC):
                qpos[:, qs] = positions[:, ds]
                continue
            if joint_type == JointType.FREE:
                qpos[:, qs:qs + 3] = positions[:, ds:ds + 3]
                qs, ds = qs + 3, ds + 3
            qpos[:, qs:qs + 4] = _quat_from_rotation_vector(positions[:, ds:ds + 3])
        self.set_tree_array(tree, "qpos", qpos, envs)

    def _tree_joints(self, tree: int) -> np.ndarray:
        info = self.trees[tree]
        first = self.art.link_int[info.link_start, L.JOINT_START]
        last = first + int(self.art.link_int[info.link_start:info.link_start + info.n_links, L.JOINT_COUNT].sum())
        return self.art.joint_int[first:last]

    def get_dof_control(self, tree: int, slot: int, envs: np.ndarray) -> np.ndarray:
        """One slot of ``dof_control`` (layout names: KP, KV, ..., APPLIED_FORCE) for a tree: (len(envs), n_dofs)."""
        info = self.trees[tree]
        control = read(self._work["dof_scalar"])
        return control[envs, info.dof_start:info.dof_start + info.n_dofs, slot].astype(np.float64)

    def set_dof_control(self, tree: int, slots: dict[int, np.ndarray], dofs: np.ndarray, envs: np.ndarray) -> None:
        """Write control slots (each (len(envs), len(dofs)) or broadcastable) for the chosen dofs of a tree."""
        info = self.trees[tree]
        control = read(self._work["dof_scalar"])
        columns = info.dof_start + np.asarray(dofs, np.int64)
        for slot, values in slots.items():
            control[np.ix_(envs, columns, [slot])] = np.broadcast_to(values, (len(envs), len(columns)))[..., None]
        write(self._work["dof_scalar"], control)

    def tree_kinematics(self, tree: int, envs: np.ndarray, qpos: np.ndarray | None = None):
        """Host forward kinematics of the whole scene's links for the chosen envs: (pos, quat, axes), with one
        tree's qpos replaced by ``qpos`` (len(envs), n_qpos) when given."""
        full = read(self._state["q_state"])[envs, L.QPOS_S, : self.art.n_qpos].astype(np.float64)
        if qpos is not None:
            info = self.trees[tree]
            full[:, info.qpos_start:info.qpos_start + info.n_qpos] = qpos
        return forward_kinematics(self.art, full)

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

    def add_body_impulse(self, body: int, impulse: np.ndarray, angular_impulse: np.ndarray,
                         envs: np.ndarray) -> None:
        """Hand one body a world-frame impulse through its centre of mass (N s) and an angular impulse about
        it (N m s), (len(envs), 3) each, as particle solvers do: the next step turns them into velocity (for a
        link, through its tree). Static bodies take nothing."""
        body_vec3 = read(self._state["body_vec3"])
        body_vec3[envs, body, L.EXTERNAL_IMPULSE] += impulse
        body_vec3[envs, body, L.EXTERNAL_ANG_IMPULSE] += angular_impulse
        write(self._state["body_vec3"], body_vec3)

    def body_moves(self) -> np.ndarray:
        """Per body, how the rigid solver moves it: ``MOVES_STATIC`` (never: impulses on it are dropped),
        ``MOVES_FREE`` (a free body) or ``MOVES_LINK`` (a link moved by joints), int32."""
        moves = np.full(max(self.n_bodies, 1), L.MOVES_STATIC, np.int32)
        moves[: self.n_free_bodies][self.model.body_inv_mass[: self.n_free_bodies] > 0] = L.MOVES_FREE
        for index, link in enumerate(self.art.link_bodies):
            if link.movable:
                moves[self.n_free_bodies + index] = L.MOVES_LINK
        return moves

    def _origin_arm(self, body: int, envs: np.ndarray) -> np.ndarray:
        """Vector from the centre of mass to the body frame origin, world frame, (len(envs), 3)."""
        quat = read(self._state["body_quat"])[envs, body].astype(np.float64)
        return -quat_to_matrix(quat) @ self.model.body_center_of_mass[body]

    def _envs(self, envs_idx: np.ndarray | None) -> np.ndarray:
        return np.arange(self.n_batch) if envs_idx is None else np.asarray(envs_idx, dtype=np.int64)



def _rotation_vector(quat: np.ndarray) -> np.ndarray:
    """Axis times angle (rad) of unit quaternions (..., 4), angle in [0, pi]."""
    quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    quat = np.where(quat[..., :1] < 0, -quat, quat)
    sine = np.linalg.norm(quat[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sine, quat[..., :1])
    scale = np.where(sine > 1e-12, angle / np.maximum(sine, 1e-12), 2.0)
    return quat[..., 1:] * scale


def _quat_from_rotation_vector(vector: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(vector, axis=-1, keepdims=True)
    axis = np.where(angle > 1e-12, vector / np.maximum(angle, 1e-12), 0.0)
    return np.concatenate([np.cos(angle / 2), np.sin(angle / 2) * axis], -1)


def _pack(tables: dict[int, np.ndarray], dtype, element: tuple[int, ...] = ()) -> np.ndarray:
    """Stack 2-D tables (rows, slots, *element) as sections of one zero-padded (sections, rows, slots, *element)
    array (see ``layout``: views read each section under its own name)."""
    rows = max(len(table) for table in tables.values())
    width = max(table.shape[1] for table in tables.values())
    packed = np.zeros((max(tables) + 1, rows, width) + element, dtype)
    for section, table in tables.items():
        packed[section, : table.shape[0], : table.shape[1]] = table
    return packed
