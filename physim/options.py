"""Scene-wide options: simulation, rigid solver, visualisation. Frozen, validated dataclasses."""

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
        Warm-started resting contacts meet it in a few sweeps; fresh impacts and tall stacks use more.
    position_iterations: iterations of the split-impulse pass that removes penetration without
        adding kinetic energy.
    contact_margin: distance, m, under which a contact is generated before surfaces touch; the solver
        lets a body close the gap but not cross it within one substep (speculative contact).
    penetration_slop: penetration depth, m, tolerated without correction, so resting contacts do not jitter.
    position_correction: fraction of the remaining penetration removed per substep (0 to 1).
    restitution_threshold: approach speed, m/s, under which impacts do not bounce, so bodies come to rest.
    """

    iterations: int = 60
    tolerance: float = 1e-4
    position_iterations: int = 4
    contact_margin: float = 0.01
    penetration_slop: float = 0.0005
    position_correction: float = 0.2
    restitution_threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("iterations", "position_iterations"):
            object.__setattr__(self, name, v.integer("RigidOptions", name, getattr(self, name)))
        for name in ("contact_margin", "penetration_slop", "restitution_threshold", "tolerance"):
            object.__setattr__(self, name, v.finite_scalar("RigidOptions", name, getattr(self, name), low=0.0))
        object.__setattr__(self, "position_correction", v.finite_scalar(
            "RigidOptions", "position_correction", self.position_correction, low=0.0, high=1.0))


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
