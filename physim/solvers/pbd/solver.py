"""The PBD solver's host side: builds the model once (masses, constraints and their colours), launches the
substep kernels, moves state in and out, pins particles.

A step: refresh the rigid geoms' poses (when the scene has rigid bodies), then per substep ``predict``, the
constraint colours (``iterations`` times), ``particle_contacts`` (when any body collides with particles),
``rigid_points_vs_triangles`` (when cloth meets rigid geoms with collider points) and ``finish_substep``;
last ``end_step`` hands the contact impulses to rigid bodies and checks health. Launches go through
``PreparedKernel``, so a launch costs microseconds.
"""

import numpy as np
import taichi as ti

from physim.errors import InvalidValueError
from physim.options import PBDOptions, SimOptions
from physim.scene import pbd_materials as pm
from physim.solvers.particles import ParticleBodySpec, ParticleStore
from physim.solvers.pbd import constraints as cons
from physim.solvers.pbd import kernels as K  # noqa: N812
from physim.solvers.pbd import layout as L  # noqa: N812
from physim.solvers.rigid_colliders import RigidColliders, placeholder_body_moves, placeholder_rigid_arrays
from physim.utils.arrays import read, scalar_type, upload, write
from physim.utils.launch import PreparedKernel

vec3 = ti.math.vec3


def vertex_masses(positions: np.ndarray, faces: np.ndarray, rho: float) -> np.ndarray:
    """Lumped masses of a cloth's vertices, kg: rho times a third of the area of each triangle they touch.
    A vertex on no triangle gets the mean, so nothing is weightless."""
    a, b, c = (positions[faces[:, k]] for k in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    masses = np.zeros(len(positions))
    np.add.at(masses, faces.reshape(-1), np.repeat(rho * area / 3.0, 3))
    masses[masses <= 0] = masses[masses > 0].mean() if np.any(masses > 0) else 1.0
    return masses


class PBDSolver(ParticleStore):
    """Owns every PBD particle of a scene. ``build`` once, then ``step``; getters and setters move numpy data."""

    def __init__(self, sim_options: SimOptions, options: PBDOptions) -> None:
        self.sim_options = sim_options
        self.options = options
        self.bodies: list[ParticleBodySpec] = []
        self.n_particles = 0
        self.rigid: RigidColliders | None = None

    # ------------------------------------------------------------------ build
    def build(self, bodies: list[ParticleBodySpec], n_envs: int) -> None:
        self._lay_out_bodies(bodies, n_envs)
        f = self.float_type
        n = self.n_particles
        rest = np.concatenate([b.positions for b in bodies]) if bodies else np.zeros((0, 3))
        self.initial_x = rest.astype(f)

        masses, members, rest_values, compliance, geodesics, triangles = [], [], [], [], [], []
        self.tethered = np.zeros(n, bool)

        def add_distances(pairs: np.ndarray, pair_compliance: float) -> None:
            members.append(np.concatenate([pairs, np.full((len(pairs), 2), -1)], axis=1))
            rest_values.append(np.linalg.norm(rest[pairs[:, 0]] - rest[pairs[:, 1]], axis=1))
            compliance.append(np.full(len(pairs), pair_compliance))

        for body, start in zip(bodies, self.starts):
            material = body.material
            if material.kind == pm.CLOTH:
                masses.append(vertex_masses(body.positions, body.faces, material.rho))
                triangles.append(body.faces + start)
                if material.tethers:
                    self.tethered[start:start + len(body.positions)] = True
                    geodesics.append((start, body.positions, body.faces))
                add_distances(cons.mesh_edges(body.faces) + start, material.stretch_compliance)
                hinges = cons.bending_hinges(body.faces)
                members.append(hinges + start)
                rest_values.append(cons.hinge_angles(body.positions, hinges))
                compliance.append(material.bending_compliance / cons.hinge_stiffness_factors(body.positions, hinges))
            else:
                masses.append(np.full(len(body.positions), body.particle_mass))
                if material.kind == pm.ELASTIC:
                    lattice = cons.lattice_pairs(body.positions, self.options.particle_size)
                    add_distances(lattice + start, material.stretch_compliance)
        mass = np.concatenate(masses) if masses else np.zeros(0)
        self.particle_mass = mass
        self._geodesic_meshes, self._geodesic = geodesics, None  # the graph is made at the first pin
        self._tether_cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.triangles = np.concatenate(triangles).astype(np.int32) if triangles else np.zeros((0, 3), np.int32)
        members_all = np.concatenate(members).astype(np.int64) if members else np.zeros((0, 4), np.int64)
        rest_all = np.concatenate(rest_values) if rest_values else np.zeros(0)
        compliance_all = np.concatenate(compliance) if compliance else np.zeros(0)
        colors = cons.color(members_all, n)
        order = np.argsort(colors, kind="stable")
        members_all, rest_all, compliance_all, colors = (members_all[order], rest_all[order], compliance_all[order],
                                                         colors[order])
        n_colors = int(colors.max()) + 1 if len(colors) else 0
        self.n_colors = n_colors
        self.color_launches = list(range(0, n_colors, L.COLORS_PER_LAUNCH))
        # Colour c is [bounds[c], bounds[c + 1]); padded with empty colours to whole launches.
        padded = max(len(self.color_launches), 1) * L.COLORS_PER_LAUNCH
        color_bounds = np.searchsorted(colors, np.arange(padded + 1)).astype(np.int32)
        self.n_constraints = m = len(members_all)

        p_scalar = np.zeros((max(n, 1), L.P_SCALAR_SLOTS), f)
        p_scalar[:n, L.MASS] = mass
        p_scalar[:n, L.INV_MASS] = 1.0 / np.maximum(mass, 1e-30)
        body_collides = np.array([b.material.collides_with_particles for b in bodies], bool)
        p_int = np.zeros((max(n, 1), L.P_INT_SLOTS), np.int32)
        p_int[:n, L.BODY] = self.particle_body
        p_int[:n, L.COLLIDES] = body_collides[self.particle_body] if n else 0
        self.any_particle_contacts = bool(n and np.any(p_int[:n, L.COLLIDES]))
        body_scalar = np.zeros((max(len(bodies), 1), L.BODY_SCALAR_SLOTS), f)
        for index, body in enumerate(bodies):
            body_scalar[index, [L.FRICTION, L.DAMPING]] = body.material.friction, body.material.damping
        con_int = np.full((max(m, 1), L.CON_INT_SLOTS), -1, np.int32)
        con_int[:m] = members_all
        con_scalar = np.zeros((max(m, 1), L.CON_SCALAR_SLOTS), f)
        con_scalar[:m, L.REST], con_scalar[:m, L.COMPLIANCE] = rest_all, compliance_all

        opts = self.options
        self.n_substeps = opts.substeps_for(self.sim_options)
        self.substep_dt = self.sim_options.dt / self.n_substeps
        params = np.zeros(L.N_PARAMS, f)
        params[[L.DT, L.GRAVITY_X, L.GRAVITY_Y, L.GRAVITY_Z, L.RADIUS]] = (
            self.substep_dt, *self.sim_options.gravity, 0.5 * opts.particle_size)
        params[L.LOWER_X:L.LOWER_Z + 1] = opts.lower_bound
        params[L.UPPER_X:L.UPPER_Z + 1] = opts.upper_bound
        self._params_host = params

        scalar, batch, rows = scalar_type(f), self.n_batch, max(n, 1)
        buckets = 1 << max(4, int(np.ceil(np.log2(max(2 * n, 1)))))
        self._model = dict(p_scalar=upload(p_scalar, scalar), p_int=upload(p_int, ti.i32),
                           body_scalar=upload(body_scalar, scalar),
                           rest=upload(np.zeros((rows, 3), f) if n == 0 else rest.astype(f), vec3, 1),
                           con_int=upload(con_int, ti.i32), con_scalar=upload(con_scalar, scalar),
                           color_bounds=upload(color_bounds, ti.i32))
        self._state = dict(x=ti.ndarray(vec3, (batch, rows)), v=ti.ndarray(vec3, (batch, rows)),
                           pin_body=ti.ndarray(ti.i32, (batch, rows)),
                           pin_vec3=ti.ndarray(vec3, (batch, rows, L.PIN_SLOTS)),
                           tether_anchor=ti.ndarray(ti.i32, (batch, rows, L.TETHER_SLOTS)),
                           tether_length=ti.ndarray(scalar, (batch, rows, L.TETHER_SLOTS)))
        self._work = dict(x_prev=ti.ndarray(vec3, (batch, rows)), lam=ti.ndarray(scalar, (batch, max(m, 1))),
                          delta=ti.ndarray(vec3, (batch, rows)), contact_count=ti.ndarray(ti.i32, (batch, rows)),
                          contacts=ti.ndarray(ti.i32, (batch, rows, L.CONTACT_SLOTS)),
                          hash_count=ti.ndarray(ti.i32, (batch, buckets)),
                          hash_start=ti.ndarray(ti.i32, (batch, buckets + 1)),
                          hash_sorted=ti.ndarray(ti.i32, (batch, rows)))
        self._flag = ti.ndarray(ti.i32, (1,))
        write(self._state["pin_body"], L.FREE)
        write(self._state["pin_vec3"], 0.0)
        write(self._state["tether_anchor"], -1)
        write(self._state["tether_length"], 0.0)
        self._launches = None
        self.reset()

    def bind_rigid(self, rigid_solver) -> None:
        """Collide with (and push on) the rigid bodies of ``rigid_solver``, which must be built."""
        self.rigid = RigidColliders(rigid_solver)
        self._launches = None

    def _prepare(self) -> None:
        """The prepared launches (made at the first step, once the rigid solver is bound or known absent)."""
        f = self.float_type
        if self.rigid is not None and len(self.rigid.colliders):
            rigid_arrays, colliders = self.rigid.arrays, self.rigid.colliders
            n_rigid_bodies, body_moves = self.rigid.n_bodies, self.rigid.body_moves
        else:
            rigid_arrays, colliders, n_rigid_bodies = placeholder_rigid_arrays(self.n_batch, f), np.zeros(0), 0
            body_moves = placeholder_body_moves()
        int_params = np.zeros(L.N_INT_PARAMS, np.int32)
        n_bounded = self.rigid.n_bounded if len(colliders) else 0
        int_params[[L.N_COLLIDERS, L.N_RIGID_BODIES, L.N_BOUNDED_COLLIDERS]] = len(colliders), n_rigid_bodies, n_bounded
        self._params = upload(self._params_host, scalar_type(f))
        self._int_params = upload(int_params, ti.i32)
        self._colliders = upload(np.append(colliders, 0).astype(np.int32), ti.i32)
        self._impulse = ti.ndarray(vec3, (self.n_batch, rigid_arrays["body_vec3"].shape[1], 2))
        self._impulse.fill(0.0)
        model, state, work, rigid = self._model, self._state, self._work, rigid_arrays
        common = dict(p_scalar=model["p_scalar"], x=state["x"], pin_body=state["pin_body"], params=self._params)
        self._predict = PreparedKernel(
            K.predict, **common, p_int=model["p_int"], body_scalar=model["body_scalar"], v=state["v"],
            x_prev=work["x_prev"], pin_vec3=state["pin_vec3"], lam=work["lam"], body_vec3=rigid["body_vec3"],
            body_quat=rigid["body_quat"])
        self._constraints = PreparedKernel(K.solve_constraints, **common, con_int=model["con_int"],
                                           con_scalar=model["con_scalar"], lam=work["lam"],
                                           color_bounds=model["color_bounds"])
        self._contacts = PreparedKernel(
            K.particle_contacts, **common, p_int=model["p_int"], body_scalar=model["body_scalar"], rest=model["rest"],
            x_prev=work["x_prev"], delta=work["delta"], contact_count=work["contact_count"],
            contacts=work["contacts"], hash_count=work["hash_count"], hash_start=work["hash_start"],
            hash_sorted=work["hash_sorted"])
        self._finish = PreparedKernel(
            K.finish_substep, **common, p_int=model["p_int"], body_scalar=model["body_scalar"], v=state["v"],
            x_prev=work["x_prev"], tether_anchor=state["tether_anchor"], tether_length=state["tether_length"],
            colliders=self._colliders, impulse=self._impulse,
            **{name: rigid[name] for name in ("geom_model_int", "geom_model_scalar", "geom_model_vec3", "planes",
                                              "geom_vec3", "geom_rot", "body_vec3")},
            body_moves=body_moves, int_params=self._int_params, serial=self.options.deterministic)
        self._end = PreparedKernel(K.end_step, x=state["x"], v=state["v"], impulse=self._impulse,
                                   body_vec3=rigid["body_vec3"], int_params=self._int_params, flag=self._flag)
        self._rigid_points = None
        if len(self.triangles) and n_bounded:
            self._rigid_points = PreparedKernel(
                K.rigid_points_vs_triangles, **common, p_int=model["p_int"], body_scalar=model["body_scalar"],
                x_prev=work["x_prev"], delta=work["delta"], triangles=upload(self.triangles, ti.i32),
                colliders=self._colliders, points=self.rigid.points, int_params=self._int_params,
                impulse=self._impulse, **{name: rigid[name] for name in ("geom_model_int", "geom_model_scalar",
                                                                         "geom_vec3", "geom_rot", "body_vec3")},
                body_moves=body_moves, serial=self.options.deterministic)
        self._refresh = self.rigid.refresh if self.rigid is not None and n_rigid_bodies else None
        self._launches = True

    # ------------------------------------------------------------------ step
    def step(self) -> tuple[int, int] | None:
        """Advance every env by one step. Returns ``(env, body)`` of the first particle gone non-finite, or None."""
        if self.n_particles == 0:
            return None
        if self._launches is None:
            self._prepare()
        if self._refresh is not None:
            self._refresh()
        for substep in range(self.n_substeps):
            self._predict(blend=(substep + 1) / self.n_substeps)
            for _ in range(self.options.iterations):
                for first_color in self.color_launches:
                    self._constraints(first_color=first_color)
            if self.any_particle_contacts:
                self._contacts()
            if self._rigid_points is not None:
                self._rigid_points()
            self._finish()
        bad = int(self._end())
        if bad == L.NO_PARTICLE:
            return None
        return bad // self.n_particles, int(self.particle_body[bad % self.n_particles])

    # ------------------------------------------------------------------ state
    def reset(self, envs_idx: np.ndarray | None = None) -> None:
        """Put the chosen envs (all by default) back to the initial positions, at rest. Pins stay; pins on
        rigid bodies restart from where their bodies are now."""
        envs = np.arange(self.n_batch) if envs_idx is None else np.asarray(envs_idx, np.int64)
        for key, value in (("x", self.initial_x), ("v", 0.0)):
            array = read(self._state[key])
            array[envs, : self.n_particles] = value
            write(self._state[key], array)
        self._restart_attached_pins(envs)

    # ------------------------------------------------------------------ pins
    def pin(self, body: int, particles: np.ndarray, envs: np.ndarray, rigid_body: int | None,
            targets: np.ndarray | None = None) -> None:
        """Hold particles (body-local indices) where they are now (or at ``targets``, (len(envs), k, 3), m):
        fixed in the world when ``rigid_body`` is None, else moving with that rigid body."""
        index = self.starts[body] + np.asarray(particles, np.int64)
        x = read(self._state["x"])
        if targets is not None:
            x[np.ix_(envs, index)] = targets
            write(self._state["x"], x)
        here = x[np.ix_(envs, index)].astype(np.float64)
        pin_body, pin_vec3 = read(self._state["pin_body"]), read(self._state["pin_vec3"])
        if rigid_body is None:
            pin_body[np.ix_(envs, index)] = L.FIXED
            pin_vec3[np.ix_(envs, index, [L.TARGET, L.PREVIOUS])] = here[:, :, None, :]
        else:
            if self.rigid is None:
                raise InvalidValueError("PBD attach: the scene's rigid bodies are not coupled to the PBD solver")
            origin, rotation = self.rigid.body_pose(rigid_body, envs)
            local = np.einsum("eji,ekj->eki", rotation, here - origin[:, None, :])
            pin_body[np.ix_(envs, index)] = rigid_body
            pin_vec3[np.ix_(envs, index, [L.TARGET])] = local[:, :, None, :]
            pin_vec3[np.ix_(envs, index, [L.PREVIOUS])] = here[:, :, None, :]
        write(self._state["pin_body"], pin_body)
        write(self._state["pin_vec3"], pin_vec3)
        self._update_tethers(envs, pin_body)

    def release(self, body: int, particles: np.ndarray, envs: np.ndarray) -> None:
        index = self.starts[body] + np.asarray(particles, np.int64)
        pin_body = read(self._state["pin_body"])
        pin_body[np.ix_(envs, index)] = L.FREE
        write(self._state["pin_body"], pin_body)
        self._update_tethers(envs, pin_body)

    def pinned(self, body: int, envs: np.ndarray) -> np.ndarray:
        """(len(envs), n) bool: which of a body's particles are pinned."""
        start, stop = self.starts[body], self.starts[body + 1]
        return read(self._state["pin_body"])[envs, start:stop] != L.FREE

    def _geodesic_graph(self):
        """The tethered bodies' geodesic graphs as one block-diagonal (n, n) graph (bodies are not connected)."""
        from scipy.sparse import coo_matrix

        rows, cols, lengths = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
        for start, positions, faces in self._geodesic_meshes:
            part = cons.geodesic_graph(positions, faces).tocoo()
            rows.append(part.row + start)
            cols.append(part.col + start)
            lengths.append(part.data)
        return coo_matrix((np.concatenate(lengths), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(self.n_particles,) * 2).tocsr()

    def _update_tethers(self, envs: np.ndarray, pin_body: np.ndarray) -> None:
        """Tether the free cloth particles of the chosen envs to their nearest pins (``constraints.tethers``).
        Envs pinned alike share one computation."""
        if not self.tethered.any():
            return
        if self._geodesic is None:
            self._geodesic = self._geodesic_graph()
        anchors, lengths = read(self._state["tether_anchor"]), read(self._state["tether_length"])
        for env in envs:
            pinned = pin_body[env, : self.n_particles] != L.FREE
            key = np.packbits(pinned).tobytes()
            if key not in self._tether_cache:
                self._tether_cache[key] = cons.tethers(self._geodesic, self.initial_x.astype(np.float64), pinned,
                                                           self.tethered, L.TETHER_SLOTS)
            anchors[env, : self.n_particles], lengths[env, : self.n_particles] = self._tether_cache[key]
        write(self._state["tether_anchor"], anchors)
        write(self._state["tether_length"], lengths)

    def _restart_attached_pins(self, envs: np.ndarray) -> None:
        if self.rigid is None or self.n_particles == 0:
            return
        pin_body, pin_vec3 = read(self._state["pin_body"]), read(self._state["pin_vec3"])
        pos, quat = self.rigid.solver.body_pose()
        from physim.utils.rotations import quat_to_matrix

        for env in envs:
            attached = np.flatnonzero(pin_body[env] >= 0)
            if len(attached):
                bodies = pin_body[env, attached]
                world = pos[env, bodies] + np.einsum("kij,kj->ki", quat_to_matrix(quat[env, bodies]),
                                                      pin_vec3[env, attached, L.TARGET])
                pin_vec3[env, attached, L.PREVIOUS] = world
        write(self._state["pin_vec3"], pin_vec3)
