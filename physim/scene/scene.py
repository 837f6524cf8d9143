"""The Scene: where entities are added, the one moment they are compiled (``build``), and the step loop."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from physim import backend
from physim.errors import InvalidValueError, SceneStateError, SimulationDivergedError
from physim.options import MPMOptions, RigidOptions, SimOptions, ViewerOptions, VisOptions
from physim.scene import materials as mat
from physim.scene import morphs as mor
from physim.scene import surfaces as sur
from physim.scene.entity import Entity, ParticleEntity, RigidEntity
from physim.scene.geometry import rigid_geometry
from physim.scene.particle_kinds import PARTICLE_KINDS, ParticleKind, kind_of
from physim.scene.render_view import ParticleItem, RenderItem, RenderView
from physim.scene.robot_entity import RobotEntity
from physim.solvers.particles import ParticleBodySpec
from physim.solvers.rigid import RigidBodySpec, RigidSolver
from physim.solvers.rigid.articulation import ArticulationPlacement
from physim.utils.rotations import pose_matrix

logger = logging.getLogger("physim")


class Scene:
    """A simulated world: entities, solvers, cameras.

    Add entities and cameras, ``build(n_envs)`` once, then ``step()``. ``n_envs=0`` simulates one world
    and getters return unbatched arrays; ``n_envs=B`` simulates B independent copies in parallel.
    ``show_viewer`` is accepted for Genesis scripts; physim has no on-screen viewer yet.
    ``mpm_options`` (and ``sph_options``, ``pbd_options``) set a particle solver's domain and resolution; each
    particle solver is built only when an entity has one of its materials (see ``scene/particle_kinds.py``).
    """

    def __init__(self, sim_options: SimOptions | None = None, rigid_options: RigidOptions | None = None,
                 vis_options: VisOptions | None = None, viewer_options: ViewerOptions | None = None,
                 show_viewer: bool = False, show_FPS: bool = False, renderer: Any = None,  # noqa: N803
                 mpm_options: MPMOptions | None = None, sph_options: Any = None, pbd_options: Any = None) -> None:
        for name, value, kind in (("sim_options", sim_options, SimOptions),
                                  ("rigid_options", rigid_options, RigidOptions),
                                  ("vis_options", vis_options, VisOptions),
                                  ("viewer_options", viewer_options, ViewerOptions)):
            if value is not None and not isinstance(value, kind):
                raise InvalidValueError(f"Scene.{name}: must be a ps.options.{kind.__name__}, got {value!r}")
        particle_options = {"mpm_options": mpm_options, "sph_options": sph_options, "pbd_options": pbd_options}
        kinds = {kind.options_attr: kind for kind in PARTICLE_KINDS}
        for name, value in particle_options.items():
            if name not in kinds:
                if value is not None:
                    raise InvalidValueError(f"Scene.{name}: physim has no such particle solver yet")
                continue
            options_type = kinds[name].options_type
            if value is not None and not isinstance(value, options_type):
                raise InvalidValueError(f"Scene.{name}: must be a ps.options.{options_type.__name__}, got {value!r}")
            setattr(self, name, value if value is not None else options_type())
        if show_viewer:
            raise SceneStateError("Scene.show_viewer: physim has no on-screen viewer yet; use show_viewer=False and "
                                  "scene.add_camera(...) to render images and videos offscreen")
        backend.runtime()
        self.sim_options = sim_options or SimOptions()
        self.rigid_options = rigid_options or RigidOptions()
        self.vis_options = vis_options or VisOptions()
        self.viewer_options = viewer_options or ViewerOptions()
        self.entities: list[Entity] = []
        self.cameras: list = []
        self.is_built = False
        self.n_envs = 0
        self.cur_step = 0
        self._rigid_specs: dict[int, RigidBodySpec] = {}
        self._visuals: dict[int, Any] = {}
        self._rigid_solver = RigidSolver(self.sim_options, self.rigid_options)
        self._particle_solvers: dict[str, Any] = {}  # label -> solver, made by build() for kinds in use
        self._particle_entities: dict[str, list[ParticleEntity]] = {}  # label -> its entities, in body order

    # ------------------------------------------------------------------ composing
    def add_entity(self, morph: mor.Morph, material: mat.Material | None = None, surface: sur.Surface | None = None,
                   name: str | None = None) -> Entity:
        """Add an entity made of a morph (what and where), a material (how it behaves) and a surface (looks)."""
        if self.is_built:
            raise SceneStateError("Scene.add_entity: the scene is already built; add every entity before build()")
        if not isinstance(morph, mor.Morph):
            raise InvalidValueError(f"Scene.add_entity.morph: must be a ps.morphs.* morph, got {morph!r}")
        material = mat.Rigid() if material is None else material
        surface = sur.Default() if surface is None else surface
        if not isinstance(material, mat.Material):
            raise InvalidValueError(f"Scene.add_entity.material: must be a ps.materials.* material, got {material!r}")
        if not isinstance(surface, sur.Surface):
            raise InvalidValueError(f"Scene.add_entity.surface: must be a ps.surfaces.* surface, got {surface!r}")
        index = len(self.entities)
        name = name or f"{type(morph).__name__.lower()}_{index}"
        if any(entity.name == name for entity in self.entities):
            raise InvalidValueError(f"Scene.add_entity.name: an entity named {name!r} already exists")
        kind = kind_of(material)
        if kind is not None:
            sample = kind.sample(morph, material, getattr(self, kind.options_attr), name)
            entity = kind.entity_type(self, index, name, morph, material, surface, sample, kind)
            if surface.vis_mode == "recon" and entity.faces is not None:
                raise InvalidValueError(f"Scene.add_entity.surface: entity {name!r} is a surface (cloth) already; "
                                        f"vis_mode='recon' rebuilds the surface of particle bodies")
            self.entities.append(entity)
            return entity
        if not isinstance(material, mat.Rigid):
            raise InvalidValueError(f"Scene.add_entity.material: no solver for {type(material).__name__} yet")
        if surface.vis_mode is not None:
            raise InvalidValueError(f"Scene.add_entity.surface: entity {name!r} is a rigid body, drawn as its mesh; "
                                    f"vis_mode={surface.vis_mode!r} is for particle bodies")
        if isinstance(morph, (mor.URDF, mor.MJCF)):
            return self._add_robot(morph, material, surface, index, name)
        geoms, visual = rigid_geometry(morph)
        entity = RigidEntity(self, index, name, morph, material, surface)
        self._rigid_specs[index] = RigidBodySpec(
            name=name, geoms=tuple(geoms), pos=np.array(morph.pos), quat=np.array(morph.quat), fixed=morph.fixed,
            rho=material.rho, friction=material.friction, restitution=material.restitution, collides=morph.collision,
            contype=material.contype, conaffinity=material.conaffinity)
        if morph.visualization:
            self._visuals[index] = visual
        self.entities.append(entity)
        return entity

    def _add_robot(self, morph: mor.Morph, material: mat.Rigid, surface: sur.Surface, index: int,
                   name: str) -> RobotEntity:
        """A URDF/MJCF robot: the loader turns the file into an articulation the rigid solver simulates."""
        from physim.scene.loaders import load_mjcf, load_urdf

        spec = load_urdf(morph) if isinstance(morph, mor.URDF) else load_mjcf(morph)
        entity = RobotEntity(self, index, name, morph, material, surface, spec)
        self.entities.append(entity)
        return entity

    def add_camera(self, res=(320, 240), pos=(3.5, 0.0, 2.5), lookat=(0.0, 0.0, 0.5), up=(0.0, 0.0, 1.0),
                   fov: float = 30.0, near: float = 0.05, far: float = 100.0, GUI: bool = False, **kwargs: Any):  # noqa: N803
        """Add an offscreen camera (res is (width, height) in pixels; fov is vertical, degrees)."""
        from physim.render.camera import Camera

        camera = Camera(res=res, pos=pos, lookat=lookat, up=up, fov=fov, near=near, far=far, GUI=GUI, **kwargs)
        self.cameras.append(camera)
        if self.is_built:
            camera._attach(self._render_view, self.vis_options)
        return camera

    # ------------------------------------------------------------------ build
    def build(self, n_envs: int = 0, env_spacing=None, **_genesis_kwargs: Any) -> None:
        """Compile the scene: hand each solver its entities and allocate state for ``n_envs`` envs."""
        if self.is_built:
            raise SceneStateError("Scene.build: the scene is already built")
        if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 0:
            raise InvalidValueError(f"Scene.build.n_envs: must be an integer >= 0, got {n_envs!r}")
        self.n_envs = int(n_envs)
        rigid_entities = [e for e in self.entities if isinstance(e, RigidEntity)]
        for body_index, entity in enumerate(rigid_entities):
            entity.body_index = body_index
        self._entity_of_body = [entity.name for entity in rigid_entities]
        # Robots: one articulation each; their links are bodies numbered after the free ones.
        robots = [e for e in self.entities if isinstance(e, RobotEntity)]
        placements = [ArticulationPlacement(e.name, e.spec, np.array(e.morph.pos), np.array(e.morph.quat),
                                            e.morph.collision) for e in robots]
        self._entity_of_body += [e.name for e in robots for _ in e.spec.links]
        self._rigid_solver.build([self._rigid_specs[e.idx] for e in rigid_entities], self.n_envs, placements)
        for tree_index, robot in enumerate(robots):
            robot._on_build(tree_index)
        for kind in PARTICLE_KINDS:
            entities = [e for e in self.entities if isinstance(e, ParticleEntity) and e.kind is kind]
            if entities:
                self._build_particles(kind, entities)
        self._render_view = self._make_render_view()
        self.is_built = True
        for camera in self.cameras:
            camera._attach(self._render_view, self.vis_options)

    def _build_particles(self, kind: ParticleKind, entities: list[ParticleEntity]) -> None:
        options = getattr(self, kind.options_attr)
        lower, upper = np.array(options.lower_bound), np.array(options.upper_bound)
        for body_index, entity in enumerate(entities):
            entity.body_index = body_index
            outside = np.any((entity.init_positions < lower - 1e-9) | (entity.init_positions > upper + 1e-9), axis=1)
            if np.any(outside):
                raise InvalidValueError(
                    f"Scene.build: {kind.label} entity {entity.name!r} has {int(outside.sum())} of its "
                    f"{entity.n_particles} particles outside the {kind.label} domain "
                    f"({type(options).__name__}.lower_bound={tuple(lower)}, upper_bound={tuple(upper)}); move the "
                    f"entity or enlarge the domain")
        if kind.displaced_by_rigid and self._rigid_solver.n_bodies > 0:
            self._leave_out_particles_in_rigid_bodies(kind, entities, 0.5 * options.particle_size)
        solver = kind.make_solver(self.sim_options, options)
        solver.build([ParticleBodySpec(e.name, e.material, e.init_positions, e.sample.particle_volume,
                                       e.sample.particle_mass, e.sample.faces, e.sample.active) for e in entities],
                     self.n_envs)
        self._particle_solvers[kind.label] = solver
        if kind.couple_rigid is not None and self._rigid_solver.n_bodies > 0:
            kind.couple_rigid(self._rigid_solver, solver)
        self._particle_entities[kind.label] = entities

    def _leave_out_particles_in_rigid_bodies(self, kind: ParticleKind, entities: list[ParticleEntity],
                                             margin: float) -> None:
        """Drop each entity's particles nearer a rigid body's surface than ``margin`` (m), or inside one (where
        the bodies stand at build). An emitter's particles wait at its nozzle: they are left alone."""
        from dataclasses import replace

        from physim.solvers.rigid_colliders import RigidColliders

        colliders = RigidColliders(self._rigid_solver)
        for entity in entities:
            if entity.sample.active is not None:
                continue
            # A lattice sampled against a body lies a margin off it: single precision may put that a hair less.
            kept = colliders.clearance(entity.init_positions) >= margin * (1.0 - 1e-3)
            if kept.all():
                continue
            if not kept.any():
                raise InvalidValueError(f"Scene.build: {kind.label} entity {entity.name!r} lies entirely inside "
                                        "rigid bodies; move it or them (a Mesh collides by its convex hull unless "
                                        "decompose=True: a cup's hull is solid)")
            logger.info("physim: %s entity %r: %d of its %d particles lie in rigid bodies and are left out",
                        kind.label, entity.name, int((~kept).sum()), entity.n_particles)
            entity.sample = replace(entity.sample, positions=entity.init_positions[kept])

    @property
    def _mpm_solver(self) -> Any:
        """The MPM solver, or None when the scene has no MPM entity."""
        return self._particle_solvers.get("MPM")

    def _make_render_view(self) -> RenderView:
        drawn = [e for e in self.entities if e.idx in self._visuals]
        items = [RenderItem(entity_index=e.idx, name=e.name, mesh=self._visuals[e.idx], surface=e.surface,
                            double_sided=isinstance(e.morph, mor.Plane)) for e in drawn]
        bodies = [e.body_index for e in drawn]
        for robot in (e for e in self.entities if isinstance(e, RobotEntity) and e.morph.visualization):
            for link_index, link in enumerate(robot.spec.links):  # each link visual, posed by its link
                for visual_index, visual in enumerate(link.visuals):
                    look = robot.surface
                    if look.color is None and visual.rgba is not None:
                        look = sur.Default(color=tuple(visual.rgba))
                    items.append(RenderItem(entity_index=robot.idx, name=f"{robot.name}/{link.name}/{visual_index}",
                                            mesh=visual.mesh, surface=look))
                    bodies.append(robot._tree.body_start + link_index)
        bodies = np.array(bodies, dtype=np.int64)

        def poses(env_idx: int) -> np.ndarray:
            pos, quat = self._rigid_solver.body_pose()
            return pose_matrix(pos[env_idx, bodies], quat[env_idx, bodies])

        particle_entities = [e for e in self.entities if isinstance(e, ParticleEntity)]
        particle_items = [ParticleItem(entity_index=e.idx, name=e.name, surface=e.surface, n_particles=e.n_particles,
                                       radius=e.sample.render_radius,
                                       faces=None if e.surface.vis_mode == "particle" else e.faces,
                                       reconstruct=e.surface.vis_mode == "recon")
                          for e in particle_entities if e.morph.visualization]
        drawn_particles = [e for e in particle_entities if e.morph.visualization]

        def particles(env_idx: int) -> list[np.ndarray]:
            return [e._drawn_positions(env_idx) for e in drawn_particles]

        return RenderView(items, poses, len(self.entities), particle_items, particles)

    # ------------------------------------------------------------------ running
    @property
    def dt(self) -> float:
        return self.sim_options.dt

    @property
    def t(self) -> float:
        """Simulated time since build or the last full reset, s."""
        return self.cur_step * self.sim_options.dt

    def step(self) -> None:
        """Advance every env by ``sim_options.dt``."""
        if not self.is_built:
            raise SceneStateError("Scene.step: build the scene first (scene.build())")
        rigid_diverged = self._rigid_solver.step(self.sim_options.substeps)
        particles_diverged = {label: solver.step() for label, solver in self._particle_solvers.items()}
        self.cur_step += 1
        if rigid_diverged is not None:
            self._report_divergence("entity", self._entity_of_body, rigid_diverged,
                                    "position or velocity; reduce dt, raise substeps, or check masses, velocities and "
                                    "initial overlaps")
        for label, diverged in particles_diverged.items():
            if diverged is not None:
                entities = self._particle_entities[label]
                self._report_divergence(f"{label} entity", [e.name for e in entities], diverged,
                                        entities[0].kind.divergence_advice)
        for camera in self.cameras:
            camera._after_step()

    def _report_divergence(self, kind: str, names: list[str], where: tuple[int, int], advice: str) -> None:
        env, body = where
        in_env = f" in env {env}" if self.n_envs > 0 else ""
        raise SimulationDivergedError(f"the simulation diverged at step {self.cur_step}: {kind} {names[body]!r}"
                                      f"{in_env} has a non-finite (NaN or infinite) {advice}")

    def reset(self, envs_idx=None) -> None:
        """Put the chosen envs (all by default) back to their initial state."""
        self._require_built("reset")
        envs = self._envs_index(envs_idx, "Scene.reset")
        self._rigid_solver.reset(envs)
        for solver in self._particle_solvers.values():
            solver.reset(envs)
        if envs_idx is None:
            self.cur_step = 0

    def get_state(self) -> dict[str, Any]:
        """A snapshot of everything that changes: restore it with ``set_state`` to replay exactly."""
        self._require_built("get_state")
        state = {"cur_step": self.cur_step, "rigid": self._rigid_solver.get_state()}
        for label, solver in self._particle_solvers.items():
            state[label.lower()] = solver.get_state()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        self._require_built("set_state")
        if not isinstance(state, dict) or "rigid" not in state:
            raise InvalidValueError("Scene.set_state.state: expected a dict returned by scene.get_state()")
        for label in self._particle_solvers:
            if label.lower() not in state:
                raise InvalidValueError(f"Scene.set_state.state: the state has no {label} part; expected a dict "
                                        "returned by this scene's get_state()")
        self._rigid_solver.set_state(state["rigid"])
        for label, solver in self._particle_solvers.items():
            solver.set_state(state[label.lower()])
        self.cur_step = int(state["cur_step"])

    # ------------------------------------------------------------------ helpers
    def _require_built(self, what: str) -> None:
        if not self.is_built:
            raise SceneStateError(f"Scene.{what}: build the scene first (scene.build())")

    def _envs_index(self, envs_idx, where: str) -> np.ndarray:
        self._require_built(where.split(".")[-1])
        if envs_idx is None:
            return np.arange(max(self.n_envs, 1))
        if self.n_envs == 0:
            raise InvalidValueError(f"{where}: envs_idx is only valid in a batched scene (build(n_envs > 0))")
        envs = np.atleast_1d(np.asarray(envs_idx))
        if envs.dtype.kind not in "iu" or envs.ndim != 1 or np.any(envs < 0) or np.any(envs >= self.n_envs):
            raise InvalidValueError(f"{where}: envs_idx must be env indices in [0, {self.n_envs}), got {envs_idx!r}")
        return envs.astype(np.int64)

    def __del__(self) -> None:
        for camera in getattr(self, "cameras", []):
            try:
                getattr(camera, "_detach", lambda: None)()
            except Exception:  # noqa: BLE001 - never raise from a finaliser
                warnings.warn("physim: a camera could not release its renderer", RuntimeWarning, stacklevel=1)
