"""Turning a scene's RenderItems (trimesh + Surface) into pyrender meshes, once, at build.

Choices made here, and why:

- Shading: untextured meshes are split at sharp edges (trimesh's ``smooth_shaded``), so a box has flat,
  exact face normals while a sphere or a cylinder's side stays smooth. Textured meshes keep their
  vertices (a mesh file's UV seams already split them).
- ``double_sided`` items get a second copy of every triangle, wound the other way with flipped normals,
  instead of pyrender's "disable culling": then the back side is lit, shadowed, segmented and given
  normals correctly in every pass (pyrender's segmentation pass always culls back faces).
- Colours: ``surface.rgba`` (opacity folded in) sets the base colour; ``None`` keeps the mesh's texture
  or vertex/face colours, or light grey (0.7) when it has none. Opacity < 1 blends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from trimesh.visual import ColorVisuals, TextureVisuals

from physim.errors import AssetError, InvalidValueError
from physim.scene.render_view import RenderItem

DEFAULT_GREY = (0.7, 0.7, 0.7)


def to_pyrender_mesh(pyrender: Any, item: RenderItem) -> Any:
    """The pyrender.Mesh drawing ``item`` in its entity's frame (metres)."""
    mesh = item.mesh
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InvalidValueError(f"RenderItem {item.name!r}: mesh must be a non-empty trimesh.Trimesh, got {mesh!r}")
    if not np.all(np.isfinite(mesh.vertices)):
        raise InvalidValueError(f"RenderItem {item.name!r}: mesh vertices must be finite (no NaN or inf)")
    surface = item.surface
    kind = mesh.visual.kind if mesh.visual is not None else None
    has_uv = (kind == "texture" and isinstance(mesh.visual, TextureVisuals) and mesh.visual.uv is not None
              and len(mesh.visual.uv) == len(mesh.vertices))
    if has_uv and surface.texture is None and _is_placeholder(mesh.visual.material):
        kind = None  # UVs without an image of their own (a bare OBJ's "vt"): the mesh carries no colours

    texture = None
    if surface.texture is not None:
        if not has_uv:
            raise InvalidValueError(
                f"RenderItem {item.name!r}: Surface.texture={surface.texture!r} needs a mesh with UV coordinates, "
                "and this mesh has none")
        texture = _load_texture(pyrender, surface.texture)

    smooth = kind != "face"  # pyrender draws face colours only un-indexed (flat)
    if kind != "texture" and kind != "face":
        mesh = mesh.smooth_shaded
    if item.double_sided:
        mesh = _two_sided(mesh)

    if surface.rgba is not None or texture is not None:
        rgba = surface.rgba if surface.rgba is not None else (1.0, 1.0, 1.0, surface.opacity)
        material = _material(pyrender, rgba, surface, base_color_texture=texture)
        return pyrender.Mesh.from_trimesh(mesh, material=material, smooth=smooth)
    if kind in ("vertex", "face", "texture"):
        # pyrender converts the mesh's own colours; physim's roughness, metallic and opacity still apply
        # to colour meshes (a textured file's material keeps its own factors).
        pm = pyrender.Mesh.from_trimesh(mesh, smooth=smooth)
        for primitive in pm.primitives:
            material = primitive.material
            if kind != "texture":
                material.roughnessFactor = surface.roughness
                material.metallicFactor = surface.metallic
                material.baseColorFactor = np.array([1.0, 1.0, 1.0, surface.opacity])
            if surface.opacity < 1.0 and hasattr(material, "baseColorFactor"):
                factor = np.array(material.baseColorFactor, dtype=np.float64)
                factor[3] = min(factor[3], surface.opacity)
                material.baseColorFactor = factor
            material.alphaMode = "BLEND"
        return pm
    material = _material(pyrender, (*DEFAULT_GREY, surface.opacity), surface)
    return pyrender.Mesh.from_trimesh(mesh, material=material, smooth=True)


def _material(pyrender: Any, rgba: tuple[float, ...], surface: Any, base_color_texture: Any = None) -> Any:
    return pyrender.MetallicRoughnessMaterial(
        baseColorFactor=np.asarray(rgba, dtype=np.float64),
        metallicFactor=surface.metallic,
        roughnessFactor=surface.roughness,
        alphaMode="BLEND" if rgba[3] < 1.0 else "OPAQUE",
        baseColorTexture=base_color_texture,
    )


def _load_texture(pyrender: Any, path: str) -> Any:
    """An RGBA pyrender texture from an image file (RGBA so rows are always 4-byte aligned on upload)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(Path(path)) as image:
            pixels = np.asarray(image.convert("RGBA"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise AssetError(f"Surface.texture: cannot read image {path!r}: {exc}") from None
    sampler = pyrender.Sampler(magFilter=pyrender.GLTF.LINEAR, minFilter=pyrender.GLTF.LINEAR_MIPMAP_LINEAR,
                               wrapS=pyrender.GLTF.REPEAT, wrapT=pyrender.GLTF.REPEAT)
    return pyrender.Texture(source=pixels, source_channels="RGBA", sampler=sampler)


def _is_placeholder(material: Any) -> bool:
    """Whether ``material`` is the one-colour stand-in trimesh gives UV-mapped meshes that name no material."""
    image = getattr(material, "image", None)
    if image is None or getattr(material, "kwargs", None) or max(image.size) > 4:
        return False
    pixels = np.asarray(image)
    return bool((pixels == pixels.reshape(-1, pixels.shape[-1])[0]).all()) if pixels.ndim == 3 else False


def _two_sided(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """``mesh`` plus a copy of each triangle wound the other way, with negated normals."""
    count = len(mesh.vertices)
    vertices = np.vstack([mesh.vertices, mesh.vertices])
    faces = np.vstack([mesh.faces, mesh.faces[:, ::-1] + count])
    normals = np.vstack([mesh.vertex_normals, -mesh.vertex_normals])
    visual = mesh.visual
    if isinstance(visual, TextureVisuals) and visual.uv is not None:
        doubled_visual: Any = TextureVisuals(uv=np.vstack([visual.uv, visual.uv]), material=visual.material)
    elif isinstance(visual, ColorVisuals) and visual.kind == "vertex":
        doubled_visual = ColorVisuals(vertex_colors=np.vstack([visual.vertex_colors, visual.vertex_colors]))
    elif isinstance(visual, ColorVisuals) and visual.kind == "face":
        doubled_visual = ColorVisuals(face_colors=np.vstack([visual.face_colors, visual.face_colors]))
    else:
        doubled_visual = None
    return trimesh.Trimesh(vertices=vertices, faces=faces, vertex_normals=normals, visual=doubled_visual,
                           process=False)
