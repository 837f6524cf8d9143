"""Surfaces say how an entity looks: base colour, opacity, roughness, metallic, and textures.

Colours are RGB or RGBA in [0, 1]. ``color=None`` keeps the colours a mesh file carries (a texture
or vertex colours), falling back to light grey for primitives and uncoloured meshes.
"""

from __future__ import annotations

from dataclasses import dataclass

from physim.scene.morphs import resolve_asset_path
from physim.utils import validate as v

VIS_MODES = (None, "particle", "recon")


@dataclass(frozen=True)
class Surface:
    """Physically based looks (metallic-roughness, as glTF and pyrender).

    color: base colour, RGB or RGBA in [0, 1], or None for the mesh file's own colours.
    opacity: 1 is opaque, 0 invisible. roughness: 0 mirror-like to 1 matte. metallic: 0 dielectric, 1 metal.
    texture: an image file mapped through the mesh's UV coordinates (meshes only), or None.
    vis_mode: how a particle body (MPM, SPH, PBD particles) is drawn: "particle", a sphere per particle, or
        "recon", the surface reconstructed from its particles each frame (``render/surface_reconstruction.py``).
        None draws each entity its own way: rigid bodies and cloth as their meshes, particle bodies as spheres.
    """

    color: tuple[float, ...] | None = None
    opacity: float = 1.0
    roughness: float = 0.6
    metallic: float = 0.0
    texture: str | None = None
    vis_mode: str | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.color is not None:
            object.__setattr__(self, "color", v.unit_interval_vector(owner, "color", self.color, (3, 4)))
        object.__setattr__(self, "opacity", v.finite_scalar(owner, "opacity", self.opacity, low=0.0, high=1.0))
        object.__setattr__(self, "roughness", v.finite_scalar(owner, "roughness", self.roughness, low=0.0, high=1.0))
        object.__setattr__(self, "metallic", v.finite_scalar(owner, "metallic", self.metallic, low=0.0, high=1.0))
        if self.texture is not None:
            object.__setattr__(self, "texture", str(resolve_asset_path(owner, "texture", self.texture)))
        if self.vis_mode not in VIS_MODES:
            raise v.InvalidValueError(f"{owner}.vis_mode: must be one of {VIS_MODES}, got {self.vis_mode!r}")

    @property
    def rgba(self) -> tuple[float, float, float, float] | None:
        """The base colour as RGBA with ``opacity`` folded in, or None to keep the mesh's colours."""
        if self.color is None:
            return None
        alpha = self.color[3] if len(self.color) == 4 else 1.0
        return (*self.color[:3], alpha * self.opacity)


@dataclass(frozen=True)
class Default(Surface):
    """The default look: a moderately rough dielectric."""


@dataclass(frozen=True)
class Rough(Surface):
    """A matte surface."""

    roughness: float = 1.0


@dataclass(frozen=True)
class Smooth(Surface):
    """A glossy plastic-like surface."""

    roughness: float = 0.15


@dataclass(frozen=True)
class Metal(Surface):
    """A brushed metal."""

    color: tuple[float, ...] | None = (0.75, 0.75, 0.78)
    roughness: float = 0.3
    metallic: float = 1.0


@dataclass(frozen=True)
class Glass(Surface):
    """A clear, smooth, see-through surface (alpha-blended; no refraction)."""

    color: tuple[float, ...] | None = (0.85, 0.92, 1.0)
    opacity: float = 0.3
    roughness: float = 0.05
