"""Scene-wide options: simulation, rigid and MPM solvers, visualisation. Frozen, validated dataclasses."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from physim.utils import validate as v


@dataclass(frozen=True)
class SimOptions:
    """Time stepping shared by every solver.

    dt: time advanced by one ``scene.step()``, s.
    substeps: solver substeps per step (each advances ``dt / substeps``).
    gravity: acceleration of gravity, m/s^2 (z is up).
    """

    dt: float = 0.01
    substeps: int = 1
    gravity: tuple[float, float, float] = (0.0, 0.0, -9.81)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dt", v.positive("SimOptions", "dt", self.dt))
        object.__setattr__(self, "substeps", v.integer("SimOptions", "substeps", self.substeps, low=1))
        object.__setattr__(self, "gravity", v.finite_vector("SimOptions", "gravity", self.gravity, 3))

    @property
    def substep_dt(self) -> float:
        return self.dt / self.substeps


@dataclass(frozen=True)
class RigidOptions:
    """Knobs of the rigid contact solver (sequential impulses with warm starting).

    iterations: the most velocity sweeps of the projected Gauss-Seidel contact solve per substep.
    tolerance: the solve stops early once no sweep changes a contact's velocity by more than this, m/s.
        Warm-started resting contacts meet it in a few sweeps; fresh impacts and tall stacks use more. In
        scenes without articulations each island (bodies joined by contacts) stops on its own.
    position_iterations: iterations of the split-impulse pass that removes penetration without
        adding kinetic energy.
    contact_margin: distance, m, under which a contact is generated before surfaces touch; the solver
        lets a body close the gap but not cross it within one substep (speculative contact).
    penetration_slop: penetration depth, m, tolerated without correction, so resting contacts do not jitter.
    position_correction: fraction of the remaining penetration removed per substep (0 to 1).
    restitution_threshold: approach speed, m/s, under which impacts do not bounce, so bodies come to rest.
    self_collision: whether links of one articulation collide with each other (a link never collides with
        its parent or children: joined links overlap at the joint by design).
    neutral_collision: whether link pairs that already touch at the articulation's rest pose (qpos0) may
        collide; False (as Genesis's default) filters them, since such meshes overlap by design.
    """

    iterations: int = 60
    tolerance: float = 1e-4
    position_iterations: int = 4
    contact_margin: float = 0.01
    penetration_slop: float = 0.0005
    position_correction: float = 0.2
    restitution_threshold: float = 0.5
    self_collision: bool = True
    neutral_collision: bool = False

    def __post_init__(self) -> None:
        for name in ("self_collision", "neutral_collision"):
            v.one_of("RigidOptions", name, getattr(self, name), (True, False))
        for name in ("iterations", "position_iterations"):
            object.__setattr__(self, name, v.integer("RigidOptions", name, getattr(self, name)))
        for name in ("contact_margin", "penetration_slop", "restitution_threshold", "tolerance"):
            object.__setattr__(self, name, v.finite_scalar("RigidOptions", name, getattr(self, name), low=0.0))
        object.__setattr__(self, "position_correction", v.finite_scalar(
            "RigidOptions", "position_correction", self.position_correction, low=0.0, high=1.0))


@dataclass(frozen=True)
class MPMOptions:
    """The MPM solver's domain and resolution.

    lower_bound, upper_bound: the domain's walls, m. Material may start touching them; the grid's padding
        cells lie outside them.
    grid_density: grid cells per metre (the cell size is ``1 / grid_density``).
    particle_size: spacing of the lattice particles are sampled on, m; each particle stands for a cube of
        that edge, so it weighs ``rho * particle_size**3``. Default ``1 / (2 * grid_density)``: two particles
        per cell along each axis (8 per cell), the usual MPM choice.
    boundary: what the walls do to material reaching them: ``"sticky"`` (stops it), ``"slip"`` (removes the
        normal velocity, keeps the tangential one), ``"separate"`` (as slip, but material may leave the wall).
        Walls act on the grid nodes on or beyond them, so material resting on a wall settles within about one
        cell of it, as in every grid-based MPM; particles never cross a wall.
    auto_substeps: when True the solver takes ``max(SimOptions.substeps, n)`` substeps per step, where ``n``
        keeps each substep under ``cfl * dx / c`` (``c`` the fastest elastic wave speed of the scene's
        materials). When False it takes exactly ``SimOptions.substeps`` and too large a substep diverges
        (reported as SimulationDivergedError).
    cfl: the Courant number used by ``auto_substeps``.
    deterministic: on the CPU every run is bit-identical whatever this says (each thread scatters into its own
        copy of the grid and the copies are summed in a fixed order). On a GPU, False (default) scatters with
        atomic adds, whose order, and so the float rounding, varies run to run; True scatters in a fixed order,
        so runs are bit-identical (for replays and tests), at a cost in speed.
    """

    lower_bound: tuple[float, float, float] = (-1.0, -1.0, 0.0)
    upper_bound: tuple[float, float, float] = (1.0, 1.0, 1.0)
    grid_density: float = 64.0
    particle_size: float | None = None
    boundary: str = "sticky"
    auto_substeps: bool = False
    cfl: float = 0.4
    deterministic: bool = False

    def __post_init__(self) -> None:
        lower, upper = v.domain_bounds("MPMOptions", self.lower_bound, self.upper_bound)
        object.__setattr__(self, "lower_bound", lower)
        object.__setattr__(self, "upper_bound", upper)
        object.__setattr__(self, "grid_density", v.positive("MPMOptions", "grid_density", self.grid_density))
        cells = [(hi - lo) * self.grid_density for lo, hi in zip(lower, upper)]
        if any(c < 2 for c in cells) or cells[0] * cells[1] * cells[2] > 2**28:
            raise v.InvalidValueError(f"MPMOptions.grid_density: the domain must span between 2 and 2**28 cells, "
                                      f"got {cells} cells per axis")
        if self.particle_size is None:
            object.__setattr__(self, "particle_size", 0.5 / self.grid_density)
        object.__setattr__(self, "particle_size", v.positive("MPMOptions", "particle_size", self.particle_size))
        v.one_of("MPMOptions", "boundary", self.boundary, ("sticky", "slip", "separate"))
        for name in ("auto_substeps", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise v.InvalidValueError(f"MPMOptions.{name}: must be True or False, got {getattr(self, name)!r}")
        object.__setattr__(self, "cfl", v.finite_scalar("MPMOptions", "cfl", self.cfl, low=0.0, low_open=True,
                                                        high=1.0))

    @property
    def dx(self) -> float:
        return 1.0 / self.grid_density


@dataclass(frozen=True)
class Light:
    """A light. kind: ``"directional"`` (pos is only used for its direction towards lookat) or ``"point"``.

    intensity: W/m^2 for directional lights, candela-like units for point lights (pyrender's).
    """

    kind: str = "directional"
    pos: tuple[float, float, float] = (1.0, 1.0, 3.0)
    lookat: tuple[float, float, float] = (0.0, 0.0, 0.0)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 3.0

    def __post_init__(self) -> None:
        v.one_of("Light", "kind", self.kind, ("directional", "point"))
        object.__setattr__(self, "pos", v.finite_vector("Light", "pos", self.pos, 3))
        object.__setattr__(self, "lookat", v.finite_vector("Light", "lookat", self.lookat, 3))
        object.__setattr__(self, "color", v.unit_interval_vector("Light", "color", self.color, (3,)))
        object.__setattr__(self, "intensity", v.finite_scalar("Light", "intensity", self.intensity, low=0.0))


@dataclass(frozen=True)
class VisOptions:
    """How cameras see the scene.

    lights: the scene's lights; ambient_light: RGB ambient term in [0, 1]; shadow: cast shadows from
    directional lights; background_color: RGB in [0, 1] where nothing is hit.
    """

    lights: tuple[Light, ...] = field(default_factory=lambda: (
        Light(kind="directional", pos=(1.5, 1.0, 3.0), intensity=3.0),
        Light(kind="directional", pos=(-1.0, -1.5, 2.0), intensity=1.0),
    ))
    ambient_light: tuple[float, float, float] = (0.25, 0.25, 0.25)
    shadow: bool = True
    background_color: tuple[float, float, float] = (0.04, 0.08, 0.12)
    show_world_frame: bool = False

    def __post_init__(self) -> None:
        lights = tuple(self.lights)
        for index, light in enumerate(lights):
            if not isinstance(light, Light):
                raise v.InvalidValueError(f"VisOptions.lights[{index}]: must be an options.Light, got {light!r}")
        object.__setattr__(self, "lights", lights)
        object.__setattr__(self, "ambient_light",
                           v.unit_interval_vector("VisOptions", "ambient_light", self.ambient_light, (3,)))
        object.__setattr__(self, "background_color",
                           v.unit_interval_vector("VisOptions", "background_color", self.background_color, (3,)))


@dataclass(frozen=True)
class ViewerOptions:
    """Accepted for Genesis compatibility; physim has no on-screen viewer yet.

    ``max_FPS`` is Genesis's old name of ``refresh_rate`` and is accepted with a deprecation warning.
    """

    res: tuple[int, int] | None = None
    camera_pos: tuple[float, float, float] = (3.5, 0.5, 2.5)
    camera_lookat: tuple[float, float, float] = (0.0, 0.0, 0.5)
    camera_fov: float = 40.0
    refresh_rate: int = 60
    max_FPS: int | None = None  # noqa: N815 - Genesis's historical name

    def __post_init__(self) -> None:
        if self.max_FPS is not None:
            warnings.warn("ViewerOptions.max_FPS is deprecated; use refresh_rate", DeprecationWarning, stacklevel=3)
            object.__setattr__(self, "refresh_rate", int(self.max_FPS))


@dataclass(frozen=True)
class SPHOptions:
    """The SPH liquid solver's domain, resolution and pressure solve.

    lower_bound, upper_bound: the domain's walls, m. Liquid may start touching them (a dam-break column
        does): each wall acts as a half-space of boundary particles on the liquid's own lattice, so liquid
        sampled against a wall starts exactly at rest density. Rigid ground planes are not walls for the
        liquid: the domain's floor is.
    particle_size: spacing of the lattice particles are sampled on, m; each particle stands for a cube of
        that edge, so it weighs ``rho * particle_size**3`` (the particles add up to rho times the sampled
        volume). The cubic-spline kernel's support radius is ``support_ratio * particle_size``.
    pressure_solver: ``"dfsph"``, divergence-free SPH (Bender & Koschier 2017): a constant-density solve
        keeps the liquid incompressible, a divergence solve keeps it from compressing again.
    max_density_error: the constant-density solve iterates until the mean relative compression of the
        liquid is under this (0.0001 = 0.01 %, SPlisHSPlasH's default), or ``max_iterations`` pass. The
        error it leaves drives particle-level motion: at 0.001 a resting tank trembles at centimetres per
        second (measured).
    max_divergence_error: the divergence solve iterates until the mean compression rate times the substep,
        relative to the rest density, is under this.
    max_iterations: most iterations of each solve per substep.
    divergence_solve: whether to run the divergence solve (DFSPH's second half).
    auto_substeps: when True each step takes ``max(SimOptions.substeps, n)`` substeps, ``n`` keeping the
        fastest particle's travel per substep under ``cfl * particle_size`` (CFL condition); when False it
        takes exactly ``SimOptions.substeps``.
    cfl: the Courant number used by ``auto_substeps``.
    support_ratio: kernel support radius over particle_size (2: about 30 neighbours per particle).
    max_neighbours: room each particle's neighbour list (wall images included) has at the first search,
        and so the lists' first size. Each later search gives a list the room its particle needed the last
        time plus a few entries; where a particle finds more, the lists are laid out again (enlarged if
        need be) and the search repeats (up to 512 neighbours, past which the first-found are kept), so
        this only spares the first step a repeated search.
    velocity_smoothing: the XSPH coefficient (Monaghan 1989), 0 to 0.5: each substep a particle's velocity
        moves this fraction towards the kernel average of its neighbours'. It damps particle-scale noise
        that SPH's resolution cannot carry as flow (a lattice-sampled liquid under pressure rearranges its
        packing, releasing energy that would otherwise tremble on for seconds); the bulk flow is hardly
        touched.
    """

    lower_bound: tuple[float, float, float] = (-1.0, -1.0, 0.0)
    upper_bound: tuple[float, float, float] = (1.0, 1.0, 1.0)
    particle_size: float = 0.02
    pressure_solver: str = "dfsph"
    max_density_error: float = 0.0001
    max_divergence_error: float = 0.001
    max_iterations: int = 100
    divergence_solve: bool = True
    auto_substeps: bool = False
    cfl: float = 0.4
    support_ratio: float = 2.0
    max_neighbours: int = 64
    velocity_smoothing: float = 0.1

    def __post_init__(self) -> None:
        lower, upper = v.domain_bounds("SPHOptions", self.lower_bound, self.upper_bound)
        object.__setattr__(self, "lower_bound", lower)
        object.__setattr__(self, "upper_bound", upper)
        object.__setattr__(self, "particle_size", v.positive("SPHOptions", "particle_size", self.particle_size))
        object.__setattr__(self, "support_ratio", v.finite_scalar("SPHOptions", "support_ratio", self.support_ratio,
                                                                  low=1.5, high=4.0))
        from physim.solvers.sph.layout import Z_CELLS_PER_SUPPORT  # the search grid's shape is the solver's

        per_support = (1, 1, Z_CELLS_PER_SUPPORT)
        cells = [(hi - lo) / self.support_radius * k + 2 * k for lo, hi, k in zip(lower, upper, per_support)]
        if cells[0] * cells[1] * cells[2] > 2**27:
            raise v.InvalidValueError(f"SPHOptions.particle_size: the domain would need {[int(c) for c in cells]} "
                                      f"neighbour-search cells per axis (more than 2**27 in all); enlarge "
                                      f"particle_size or shrink the domain, got {self.particle_size!r}")
        v.one_of("SPHOptions", "pressure_solver", self.pressure_solver, ("dfsph",))
        for name in ("max_density_error", "max_divergence_error"):
            object.__setattr__(self, name, v.finite_scalar("SPHOptions", name, getattr(self, name), low=0.0,
                                                           low_open=True, high=0.1))
        object.__setattr__(self, "max_iterations", v.integer("SPHOptions", "max_iterations", self.max_iterations,
                                                             low=1, high=10_000))
        object.__setattr__(self, "max_neighbours", v.integer("SPHOptions", "max_neighbours", self.max_neighbours,
                                                             low=8, high=1024))
        for name in ("divergence_solve", "auto_substeps"):
            if not isinstance(getattr(self, name), bool):
                raise v.InvalidValueError(f"SPHOptions.{name}: must be True or False, got {getattr(self, name)!r}")
        object.__setattr__(self, "cfl", v.finite_scalar("SPHOptions", "cfl", self.cfl, low=0.0, low_open=True,
                                                        high=1.0))
        object.__setattr__(self, "velocity_smoothing", v.finite_scalar("SPHOptions", "velocity_smoothing",
                                                                       self.velocity_smoothing, low=0.0, high=0.5))

    @property
    def support_radius(self) -> float:
        """Radius of the smoothing kernel's support, m."""
        return self.support_ratio * self.particle_size


@dataclass(frozen=True)
class PBDOptions:
    """The XPBD particle solver's domain, particle size and time stepping (cloth, granular, soft bodies).

    lower_bound, upper_bound: the domain's walls, m. Particles may start touching them and never cross them;
        the walls rub with each body's own friction coefficient (they have none of their own).
    particle_size: particle diameter, m: the spacing granular and soft bodies are sampled at, and the
        distance colliding particles keep (a cloth's thickness against itself and other particles). A cloth's
        particles are its mesh vertices; they meet rigid bodies at ``particle_size / 2`` from their surface.
    substeps: solver substeps per ``scene.step()``. None: ``SimOptions.substeps``, raised to keep each
        substep at most ``max_substep_dt`` long. XPBD converges best with many short substeps of one
        iteration each (Macklin et al. 2019, "Small steps in physics simulation").
    max_substep_dt: the longest substep ``substeps=None`` allows, s.
    iterations: constraint iterations per substep (1 is usually best: spend the work on substeps).
    deterministic: True sums contact impulses on rigid bodies in a fixed order on one core, so runs are
        bit-identical (for replays and tests), at some cost in speed.
    """

    lower_bound: tuple[float, float, float] = (-1.0, -1.0, 0.0)
    upper_bound: tuple[float, float, float] = (1.0, 1.0, 1.0)
    particle_size: float = 0.01
    substeps: int | None = None
    max_substep_dt: float = 2e-3
    iterations: int = 1
    deterministic: bool = False

    def __post_init__(self) -> None:
        lower, upper = v.domain_bounds("PBDOptions", self.lower_bound, self.upper_bound)
        object.__setattr__(self, "lower_bound", lower)
        object.__setattr__(self, "upper_bound", upper)
        object.__setattr__(self, "particle_size", v.positive("PBDOptions", "particle_size", self.particle_size))
        if self.substeps is not None:
            object.__setattr__(self, "substeps", v.integer("PBDOptions", "substeps", self.substeps, low=1))
        object.__setattr__(self, "max_substep_dt", v.positive("PBDOptions", "max_substep_dt", self.max_substep_dt))
        object.__setattr__(self, "iterations", v.integer("PBDOptions", "iterations", self.iterations, low=1,
                                                         high=100))
        if not isinstance(self.deterministic, bool):
            raise v.InvalidValueError(f"PBDOptions.deterministic: must be True or False, got {self.deterministic!r}")

    def substeps_for(self, sim_options: SimOptions) -> int:
        """Substeps per step under ``sim_options``."""
        if self.substeps is not None:
            return self.substeps
        import math

        return max(sim_options.substeps, math.ceil(sim_options.dt / self.max_substep_dt - 1e-9))
