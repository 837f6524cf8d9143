"""Domain randomization: a seeded sampler whose every draw is logged into the episode's metadata.

An episode function receives a :class:`Randomizer`. Each helper takes a ``name`` under which the values it
drew are recorded (``episode.json`` -> ``randomization``), so a dataset says exactly what every episode
contained: object poses, colours, textures, lights, camera poses, physical parameters.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from physim.data.textures import PATTERNS, texture_file, texture_key
from physim.errors import InvalidValueError
from physim.options import Light, VisOptions
from physim.scene import materials
from physim.utils.rotations import quat_from_euler_deg


class Randomizer:
    """Draws from ``rng`` (a numpy Generator seeded from (dataset seed, episode index)) and logs what it drew.

    ``rng`` is also available for draws that need not be logged. ``log`` maps names to drawn values (plain
    JSON: floats, lists, strings).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.log: dict[str, Any] = {}

    def _record(self, name: str, value: Any) -> Any:
        if not isinstance(name, str) or not name:
            raise InvalidValueError(f"Randomizer: a draw needs a non-empty name, got {name!r}")
        if name in self.log:
            raise InvalidValueError(f"Randomizer: the name {name!r} was already used in this episode; names key the "
                                    "episode's randomization log, so each draw needs its own")
        self.log[name] = _loggable(value)
        return value

    # --- scalars and choices ----------------------------------------------------------------------------

    def uniform(self, name: str, low: float, high: float) -> float:
        """A float uniform in [low, high)."""
        return self._record(name, float(self.rng.uniform(low, high)))

    def log_uniform(self, name: str, low: float, high: float) -> float:
        """A float whose logarithm is uniform in [log low, log high) (for stiffness, mass scales: low > 0)."""
        if not 0 < low <= high:
            raise InvalidValueError(f"Randomizer.log_uniform({name!r}): need 0 < low <= high, got {low}, {high}")
        return self._record(name, float(math.exp(self.rng.uniform(math.log(low), math.log(high)))))

    def integer(self, name: str, low: int, high: int) -> int:
        """An integer uniform in [low, high] (both included)."""
        return self._record(name, int(self.rng.integers(low, high + 1)))

    def chance(self, name: str, probability: float) -> bool:
        """True with the given probability (logged as a bool)."""
        if not 0.0 <= probability <= 1.0:
            raise InvalidValueError(f"Randomizer.chance({name!r}): probability must be in [0, 1], got {probability}")
        return self._record(name, bool(self.rng.uniform(0.0, 1.0) < probability))

    def choice(self, name: str, options: Sequence[Any]) -> Any:
        """One of ``options``, uniformly; the log records the chosen option's index and value."""
        if len(options) == 0:
            raise InvalidValueError(f"Randomizer.choice({name!r}): options must not be empty")
        index = int(self.rng.integers(len(options)))
        self._record(name, {"index": index, "value": _loggable(options[index])})
        return options[index]

    # --- looks ----------------------------------------------------------------------------------------------

    def color(self, name: str, saturation: tuple[float, float] = (0.4, 0.9),
              value: tuple[float, float] = (0.35, 0.95)) -> tuple[float, float, float]:
        """An RGB colour in [0, 1]: hue uniform, saturation and value uniform in the given ranges."""
        hue = self.rng.uniform(0.0, 1.0)
        rgb = colorsys.hsv_to_rgb(hue, self.rng.uniform(*saturation), self.rng.uniform(*value))
        return self._record(name, tuple(round(float(c), 6) for c in rgb))

    def texture(self, name: str, patterns: Sequence[str] = PATTERNS, size: int = 256,
                repeats: tuple[int, int] = (2, 8)) -> str:
        """A procedural texture image (random pattern, colours and scale): returns the path of its PNG.

        patterns: drawn from (see :mod:`physim.data.textures`): "checker", "stripes", "dots", "marble".
        size: the image's side, pixels. repeats: range of periods across the image (cells, stripes or noise
        lattice). A dark and a light colour (hues independent) keep the pattern visible. The log holds every
        parameter and the image's file name (the SHA-256 of the parameters), so the image can be redrawn
        from the metadata alone; the file lives in the texture cache (``$PHYSIM_CACHE/textures``), not in the
        dataset. Use it as ``ps.surfaces.Default(texture=path)`` on a mesh with UVs (the tabletop meshes,
        ``Box``, ``Plane``).
        """
        unknown = [p for p in patterns if p not in PATTERNS]
        if not patterns or unknown:
            raise InvalidValueError(f"Randomizer.texture({name!r}): patterns must be some of {PATTERNS}, got "
                                    f"{tuple(patterns)!r}")
        if not 1 <= repeats[0] <= repeats[1]:
            raise InvalidValueError(f"Randomizer.texture({name!r}): need 1 <= repeats[0] <= repeats[1], got {repeats}")
        pattern = str(patterns[int(self.rng.integers(len(patterns)))])
        dark = colorsys.hsv_to_rgb(self.rng.uniform(0.0, 1.0), self.rng.uniform(0.3, 0.9), self.rng.uniform(0.15, 0.45))
        light = colorsys.hsv_to_rgb(self.rng.uniform(0.0, 1.0), self.rng.uniform(0.2, 0.8), self.rng.uniform(0.7, 1.0))
        colors = [dark, light] if self.rng.uniform() < 0.5 else [light, dark]
        count = int(self.rng.integers(repeats[0], repeats[1] + 1))
        params: dict[str, Any] = {"pattern": pattern, "size": int(size),
                                  "colors": [[round(float(c), 6) for c in rgb] for rgb in colors]}
        if pattern == "checker":
            params["repeats"] = 2 * max(1, count // 2)  # even: the last cell meets the first with opposite colour
        else:
            params["repeats"] = count
        if pattern in ("stripes", "marble"):
            # whole periods along u and v keep the image seamless; not both zero
            wave = [0, 0]
            while wave == [0, 0]:
                wave = [int(k) for k in self.rng.integers(-count, count + 1, 2)]
            params["wave"] = wave
        if pattern == "stripes":
            params["duty"] = round(float(self.rng.uniform(0.2, 0.6)), 6)
        elif pattern == "dots":
            params["dot_radius"] = round(float(self.rng.uniform(0.15, 0.42)), 6)
        elif pattern == "marble":
            params["noise_seed"] = int(self.rng.integers(2**31))
            params["turbulence"] = round(float(self.rng.uniform(0.3, 1.5)), 6)
        self._record(name, {**params, "file": f"{texture_key(params)}.png"})
        return str(texture_file(params))

    def lights(self, name: str, count: tuple[int, int] = (1, 3), intensity: tuple[float, float] = (1.5, 4.0),
               elevation_deg: tuple[float, float] = (35.0, 80.0), ambient: tuple[float, float] = (0.15, 0.35),
               shadow: bool = True, background: tuple[float, float, float] | None = None) -> VisOptions:
        """VisOptions with 1..3 white-ish directional lights from random directions above the scene."""
        lights, drawn = [], []
        for _ in range(int(self.rng.integers(count[0], count[1] + 1))):
            azimuth = self.rng.uniform(0.0, 2.0 * math.pi)
            elevation = math.radians(self.rng.uniform(*elevation_deg))
            direction = (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                         math.sin(elevation))
            tint = self.rng.uniform(0.85, 1.0, 3)
            power = float(self.rng.uniform(*intensity))
            lights.append(Light(kind="directional", pos=tuple(3.0 * c for c in direction), lookat=(0.0, 0.0, 0.0),
                                color=tuple(float(c) for c in tint), intensity=power))
            drawn.append({"direction": direction, "color": tint, "intensity": power})
        ambient_level = float(self.rng.uniform(*ambient))
        self._record(name, {"lights": drawn, "ambient": ambient_level})
        kwargs: dict[str, Any] = {"lights": tuple(lights), "ambient_light": (ambient_level,) * 3, "shadow": shadow}
        if background is not None:
            kwargs["background_color"] = background
        return VisOptions(**kwargs)

    # --- placement -------------------------------------------------------------------------------------------

    def yaw_quat(self, name: str) -> tuple[float, float, float, float]:
        """A rotation about world z, uniform in angle, as a (w, x, y, z) quaternion."""
        yaw = float(self.rng.uniform(0.0, 360.0))
        self._record(name, {"yaw_deg": yaw})
        return tuple(float(q) for q in quat_from_euler_deg(np.array([0.0, 0.0, yaw])))

    def random_quat(self, name: str) -> tuple[float, float, float, float]:
        """A uniformly random rotation (w, x, y, z) (Shoemake's method)."""
        u1, u2, u3 = self.rng.uniform(0.0, 1.0, 3)
        a, b = math.sqrt(1.0 - u1), math.sqrt(u1)
        quat = (b * math.cos(2 * math.pi * u3), a * math.sin(2 * math.pi * u2), a * math.cos(2 * math.pi * u2),
                b * math.sin(2 * math.pi * u3))
        return self._record(name, tuple(float(q) for q in quat))

    def positions_on_surface(self, name: str, radii: Sequence[float], center: Sequence[float],
                             half_extents: Sequence[float], height: float, max_tries: int = 200) -> list[tuple]:
        """Non-overlapping positions for objects of bounding radii ``radii`` (m) on a horizontal rectangle.

        center: (x, y) of the rectangle; half_extents: its half sizes (m); height: z of the returned points.
        Each object's disc of radius ``radii[i]`` lies inside the rectangle and overlaps no other's. When a
        disc finds no free spot after ``max_tries`` draws, it is placed one layer higher (its height plus
        the largest diameter), so that objects dropped from there start apart.
        """
        placed: list[tuple[float, float, float, float]] = []  # x, y, z, radius
        out = []
        largest = 2.0 * max(radii, default=0.0)
        for radius in radii:
            span = np.maximum(np.asarray(half_extents, dtype=np.float64) - radius, 0.0)
            layer = 0
            while True:
                z = height + layer * largest
                for _ in range(max_tries):
                    x, y = np.asarray(center[:2], dtype=np.float64) + self.rng.uniform(-span, span)
                    if all(abs(z - pz) > 1e-9 or math.hypot(x - px, y - py) >= radius + pr
                           for px, py, pz, pr in placed):
                        break
                else:
                    layer += 1
                    continue
                break
            placed.append((float(x), float(y), float(z), float(radius)))
            out.append((float(x), float(y), float(z)))
        self._record(name, out)
        return out

    def camera_on_sphere(self, name: str, center: Sequence[float], radius: tuple[float, float],
                         elevation_deg: tuple[float, float], azimuth_deg: tuple[float, float] = (0.0, 360.0),
                         lookat_jitter: float = 0.0) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """A camera pose looking at ``center`` from a sphere around it: returns (pos, lookat), m.

        radius: distance range, m; elevation above the horizontal and azimuth about z, degrees;
        lookat_jitter: the look-at point moves by up to this much along each axis, m.
        """
        distance = float(self.rng.uniform(*radius))
        elevation = math.radians(self.rng.uniform(*elevation_deg))
        azimuth = math.radians(self.rng.uniform(*azimuth_deg))
        c = np.asarray(center, dtype=np.float64)
        lookat = c + self.rng.uniform(-lookat_jitter, lookat_jitter, 3)
        pos = c + distance * np.array([math.cos(elevation) * math.cos(azimuth),
                                       math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])
        pose = (tuple(float(p) for p in pos), tuple(float(p) for p in lookat))
        self._record(name, {"pos": pose[0], "lookat": pose[1]})
        return pose

    # --- physical parameters ------------------------------------------------------------------------------

    def rigid_material(self, name: str, rho: tuple[float, float] = (300.0, 1200.0),
                       friction: tuple[float, float] = (0.3, 1.0),
                       restitution: tuple[float, float] = (0.0, 0.3)) -> materials.Rigid:
        """A rigid material: density (kg/m^3), friction coefficient and restitution, each uniform in its range."""
        values = {"rho": float(self.rng.uniform(*rho)), "friction": float(self.rng.uniform(*friction)),
                  "restitution": float(self.rng.uniform(*restitution))}
        self._record(name, values)
        return materials.Rigid(**values)

    def mpm_elastic(self, name: str, E: tuple[float, float] = (1e4, 1e6),  # noqa: N803 - Young's modulus
                    nu: tuple[float, float] = (0.2, 0.4), rho: tuple[float, float] = (500.0, 1500.0)) -> Any:
        """An MPM elastic material: Young's modulus E (Pa, log-uniform), Poisson ratio nu, density rho (kg/m^3)."""
        values = {"E": float(math.exp(self.rng.uniform(math.log(E[0]), math.log(E[1])))),
                  "nu": float(self.rng.uniform(*nu)), "rho": float(self.rng.uniform(*rho))}
        self._record(name, values)
        return materials.MPM.Elastic(**values)


    def material(self, name: str, kind: Any, **ranges: Any) -> Any:
        """Any material (``ps.materials.Rigid``, ``ps.materials.MPM.Sand``, SPH or PBD ones...) with each keyword
        drawn uniformly from a ``(low, high)`` range, or taken as given when it is a single value.

        e.g. ``rng.material("sand", ps.materials.MPM.Sand, friction_angle=(25, 40), rho=(1400, 1800))``.
        """
        values = {key: float(self.rng.uniform(*value)) if isinstance(value, tuple) and len(value) == 2 else value
                  for key, value in sorted(ranges.items())}
        self._record(name, {"kind": getattr(kind, "__qualname__", repr(kind)), **values})
        return kind(**values)


def _loggable(value: Any) -> Any:
    """``value`` as plain JSON-able data (tuples become lists, numpy scalars become Python numbers)."""
    if isinstance(value, dict):
        return {str(key): _loggable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_loggable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _loggable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, bool)) or value is None:
        return value
    return repr(value)
