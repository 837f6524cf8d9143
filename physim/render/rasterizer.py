"""One scene's pyrender scene, built once from its RenderView, drawn for any number of cameras.

At construction the rasteriser turns every RenderItem into a pyrender mesh node, every ParticleItem into
instanced spheres or a deforming surface (see particles.py), and VisOptions into lights, ambient light and
background. Per frame it only copies the items' world poses and the particles' positions (one
:class:`DrawState`, read by ``read_state(env_idx)``) into the nodes and buffers, points the scene at the
camera's node, and draws the passes asked for:

- colour (anti-aliased, lit, shadowed): RGB;
- depth only (single-sample), when depth is asked and no segmentation/normal pass provides it;
- segmentation: each node drawn in a flat colour encoding ``entity_index + 1`` in 24 bits, without
  anti-aliasing, so decoding is exact (-1 for background);
- normals: the world normal, written as float32 by physim's shader (see shaders/normals/) into a float
  colour buffer, single-sample: exact per pixel, zero for background.

Depth is z-depth in metres (along the optical axis), 0 where nothing is hit.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from physim.errors import InvalidValueError, PhysimError, RenderError
from physim.options import Light, VisOptions
from physim.render import gl
from physim.render.meshes import to_pyrender_mesh
from physim.render.particles import ParticleDrawable
from physim.scene.render_view import RenderView

logger = logging.getLogger("physim")

MAX_SEGMENTATION_ID = (1 << 24) - 2  # ids are stored as id + 1 in 24 bits of colour


@dataclass(frozen=True)
class CameraSlot:
    """A camera's node in the rasteriser's scene, with its image size in pixels."""

    node: Any
    width: int
    height: int
    near: float  # m
    far: float  # m


@dataclass
class DrawState:
    """What moves between frames, for one env: item poses (n_items, 4, 4) and particle positions, m."""

    poses: np.ndarray
    particles: list[np.ndarray]

    def copy(self) -> DrawState:
        return DrawState(self.poses.copy(), [p.copy() for p in self.particles])

    def same_as(self, other: DrawState) -> bool:
        return np.array_equal(self.poses, other.poses) and len(self.particles) == len(other.particles) and \
            all(np.array_equal(a, b) for a, b in zip(self.particles, other.particles))


@dataclass
class Frame:
    """The images of one render; None for what was not asked."""

    rgb: np.ndarray | None = None  # (H, W, 3) uint8
    depth: np.ndarray | None = None  # (H, W) float32, m
    segmentation: np.ndarray | None = None  # (H, W) int32
    normal: np.ndarray | None = None  # (H, W, 3) float32, unit, world frame


class Rasterizer:
    """Draws one RenderView with pyrender; shared by all cameras of a scene.

    antialias_samples: multisamples of the colour pass (1 disables anti-aliasing).
    shadow_map_size: width of the key light's shadow map, pixels.
    """

    def __init__(self, view: RenderView, vis_options: VisOptions, *, antialias_samples: int = 4,
                 shadow_map_size: int = 1024) -> None:
        if not isinstance(view, RenderView):
            raise InvalidValueError(f"Rasterizer.view: must be a RenderView, got {view!r}")
        if not isinstance(vis_options, VisOptions):
            raise InvalidValueError(f"Rasterizer.vis_options: must be an options.VisOptions, got {vis_options!r}")
        if isinstance(antialias_samples, bool) or antialias_samples not in (1, 2, 4, 8):
            raise InvalidValueError(f"Rasterizer.antialias_samples: must be 1, 2, 4 or 8, got {antialias_samples!r}")
        if isinstance(shadow_map_size, bool) or shadow_map_size not in tuple(2**k for k in range(6, 14)):
            raise InvalidValueError(f"Rasterizer.shadow_map_size: must be a power of two in [64, 8192], "
                                    f"got {shadow_map_size!r}")
        self.view = view
        self.vis_options = vis_options
        self._pyrender = gl.import_pyrender()
        self._context = gl.shared_context()
        from physim.render.gl_renderer import PhysimRenderer

        items = view.items
        for item in [*items, *view.particle_items]:
            if isinstance(item.entity_index, bool) or not isinstance(item.entity_index, (int, np.integer)) \
                    or not 0 <= item.entity_index <= MAX_SEGMENTATION_ID:
                raise InvalidValueError(f"RenderItem {item.name!r}: entity_index must be an integer in "
                                        f"[0, {MAX_SEGMENTATION_ID}], got {item.entity_index!r}")
        pyrender = self._pyrender
        bg = vis_options.background_color
        self._scene = pyrender.Scene(bg_color=np.array([*bg, 1.0]), ambient_light=np.array(vis_options.ambient_light))
        # One buffer holds every item's pose; per frame it is refilled in one copy and each node is pointed
        # at its row (pyrender's Scene.set_pose keeps the array it is given).
        self._poses = np.tile(np.eye(4), (len(items), 1, 1))
        self._mesh_nodes = [self._scene.add(_prepare_mesh(pyrender, item), name=item.name, pose=self._poses[i])
                            for i, item in enumerate(items)]
        self._particle_drawables = [ParticleDrawable(pyrender, item) for item in view.particle_items]
        self._particle_nodes = [self._scene.add(drawable.mesh, name=drawable.item.name)
                                for drawable in self._particle_drawables]
        self._seg_node_map = {node: _segmentation_color(item.entity_index)
                              for node, item in zip(self._mesh_nodes + self._particle_nodes,
                                                    [*items, *view.particle_items], strict=True)}
        directional_nodes = [self._add_light(light) for light in vis_options.lights]
        directional_nodes = [node for node in directional_nodes if node is not None]

        self._renderer = PhysimRenderer(self._context, color_samples=antialias_samples, shadow_map_size=shadow_map_size)
        kinds = [light.kind for light in vis_options.lights]
        self._renderer.light_counts = (kinds.count("directional"), 0, kinds.count("point"))
        self._color_flags = pyrender.RenderFlags.NONE
        if vis_options.shadow and directional_nodes and (items or view.particle_items):
            # Only the brightest directional light (the key light) casts shadows: each shadow map is a full
            # extra pass over the scene, and fill lights' shadows mostly add noise to the picture.
            key_light = max(directional_nodes, key=lambda node: node.light.intensity)
            self._renderer.shadow_casters = {key_light}
            self._renderer.prepare_shadow_maps(directional_nodes)
            self._color_flags |= pyrender.RenderFlags.SHADOWS_DIRECTIONAL
        self._scratch: dict[tuple[int, int], np.ndarray] = {}
        self._closed = False
        # Poses the shadow maps were drawn for: cameras rendering the same state (several cameras per
        # step, or a static scene) reuse the maps instead of redrawing them.
        self._shadow_state: DrawState | None = None
        # GL objects are freed at the next render of any scene after this one is garbage (see GLContext.retire).
        self._finalizer = weakref.finalize(self, self._context.retire, self._renderer)
        self._finalizer.atexit = False  # at exit the process's context goes away with everything in it

    # --- building ------------------------------------------------------------------------------------------

    def _add_light(self, light: Light) -> Any:
        """Add one light node; returns it when directional."""
        pyrender = self._pyrender
        pos, lookat = np.array(light.pos), np.array(light.lookat)
        if light.kind == "point":
            pose = np.eye(4)
            pose[:3, 3] = pos
            self._scene.add(pyrender.PointLight(color=np.array(light.color), intensity=light.intensity), pose=pose)
            return None
        direction = lookat - pos
        if np.linalg.norm(direction) < 1e-9:
            raise InvalidValueError(f"Light.pos and Light.lookat: must differ for a directional light, got {light.pos}")
        # pyrender lights shine along their node's -z axis.
        pose = look_at_transform(pos, lookat, _any_perpendicular_up(direction))
        return self._scene.add(pyrender.DirectionalLight(color=np.array(light.color), intensity=light.intensity),
                               pose=pose)

    def add_camera(self, width: int, height: int, yfov_deg: float, near: float, far: float) -> CameraSlot:
        """A camera node for an image of ``width`` x ``height`` pixels with vertical field of view ``yfov_deg``."""
        camera = self._pyrender.PerspectiveCamera(yfov=np.radians(yfov_deg), znear=near, zfar=far,
                                                  aspectRatio=width / height)
        node = self._scene.add(camera, pose=np.eye(4))
        return CameraSlot(node, width, height, near, far)

    # --- per frame -------------------------------------------------------------------------------------------

    def read_state(self, env_idx: int) -> DrawState:
        """Item poses and particle positions for environment ``env_idx``, float64, checked finite."""
        particles = []
        try:
            poses = np.asarray(self.view.poses(env_idx), dtype=np.float64)
            for item, positions in zip(self.view.particle_items, self.view.particles(env_idx), strict=True):
                positions = np.asarray(positions, dtype=np.float64)
                fits = positions.shape == (item.n_particles, 3) if item.faces is not None else \
                    positions.ndim == 2 and positions.shape[1] == 3 and len(positions) <= item.n_particles
                if not fits:
                    raise RenderError(f"RenderView.particles(env_idx={env_idx}): item {item.name!r} has positions "
                                      f"of shape {positions.shape}, expected ({item.n_particles}, 3)"
                                      + ("" if item.faces is not None else " or fewer rows"))
                if not np.isfinite(positions).all():
                    raise RenderError(f"RenderView.particles(env_idx={env_idx}): a particle of {item.name!r} is "
                                      "not finite (NaN or inf)")
                particles.append(positions)
        except PhysimError:
            raise
        except Exception as exc:
            raise RenderError(f"RenderView.poses(env_idx={env_idx}) failed: {type(exc).__name__}: {exc}") from None
        expected = (len(self._mesh_nodes), 4, 4)
        if poses.shape != expected:
            raise RenderError(f"RenderView.poses(env_idx={env_idx}) returned shape {poses.shape}, expected {expected}")
        if not np.isfinite(poses).all():
            bad = int(np.flatnonzero(~np.isfinite(poses).reshape(len(poses), -1).all(axis=1))[0])
            raise RenderError(f"RenderView.poses(env_idx={env_idx}): the pose of item {self.view.items[bad].name!r} "
                              "is not finite (NaN or inf)")
        return DrawState(poses, particles)

    def render(self, slot: CameraSlot, camera_transform: np.ndarray, state: DrawState, *, rgb: bool = True,
               depth: bool = False, segmentation: bool = False, normal: bool = False,
               antialias: bool | None = None) -> Frame:
        """Draw the passes asked for, from ``slot``'s camera at ``camera_transform`` (camera-to-world, OpenGL).

        ``antialias``: None uses the rasteriser's setting; True/False force 4x multisampling on/off.
        """
        if self._closed:
            raise RenderError("Rasterizer.render: this rasteriser was closed")
        frame = Frame()
        if not (rgb or depth or segmentation or normal):
            return frame
        RenderFlags = self._pyrender.RenderFlags  # noqa: N806 - pyrender's class name
        renderer, scene = self._renderer, self._scene
        try:
            with self._context.session():
                np.copyto(self._poses, state.poses)
                for node, pose in zip(self._mesh_nodes, self._poses, strict=True):
                    scene.set_pose(node, pose)  # also tells pyrender its bounds (for shadows) changed
                for drawable, positions in zip(self._particle_drawables, state.particles, strict=True):
                    drawable.update(positions)
                if self._particle_drawables:
                    scene._bounds = None  # particles moved inside their nodes: pyrender cannot tell
                scene.main_camera_node = slot.node
                scene.set_pose(slot.node, camera_transform)
                renderer.viewport_width, renderer.viewport_height = slot.width, slot.height

                if rgb:
                    shadows = bool(self._color_flags & RenderFlags.SHADOWS_DIRECTIONAL)
                    renderer.reuse_shadow_maps = shadows and self._shadow_state is not None and \
                        self._shadow_state.same_as(state)
                    if shadows and not renderer.reuse_shadow_maps:
                        self._shadow_state = None  # stays None if drawing fails half-way
                    # No depth from this pass: resolving a multisampled depth buffer costs llvmpipe more
                    # than a whole single-sample depth pass, and the latter is exact at edges.
                    samples = None if antialias is None else (4 if antialias else 1)
                    color_raw, _ = renderer.render_pass(scene, self._color_flags, None, read_color=True,
                                                        read_depth=False, color_samples=samples)
                    frame.rgb = np.empty((slot.height, slot.width, 3), dtype=np.uint8)
                    np.copyto(frame.rgb, color_raw[::-1, :, :3])
                    if shadows and not renderer.reuse_shadow_maps:
                        self._shadow_state = state.copy()
                if segmentation:
                    wants_depth = depth and frame.depth is None
                    color_raw, depth_raw = renderer.render_pass(scene, RenderFlags.SEG, self._seg_node_map,
                                                                read_color=True, read_depth=wants_depth)
                    frame.segmentation = _decode_segmentation(color_raw)
                    if wants_depth:
                        frame.depth = self._linear_depth(depth_raw, slot)
                if normal:
                    wants_depth = depth and frame.depth is None
                    color_raw, depth_raw = renderer.render_pass(scene, RenderFlags.SEG, self._seg_node_map,
                                                                read_color=True, read_depth=wants_depth, normals=True)
                    frame.normal = np.empty((slot.height, slot.width, 3), dtype=np.float32)
                    np.copyto(frame.normal, color_raw[::-1, :, :3])  # zero where nothing was drawn
                    if wants_depth:
                        frame.depth = self._linear_depth(depth_raw, slot)
                if depth and frame.depth is None:
                    _, depth_raw = renderer.render_pass(scene, RenderFlags.DEPTH_ONLY, None, read_color=False,
                                                        read_depth=True)
                    frame.depth = self._linear_depth(depth_raw, slot)
                self._context.check_errors("rendering")
        except PhysimError:
            raise
        except Exception as exc:  # a pyrender or OpenGL failure: report it as physim's, keep the trace in the log
            logger.debug("render failed", exc_info=True)
            raise RenderError(f"rendering failed: {type(exc).__name__}: {exc}") from None
        return frame

    def _linear_depth(self, window_depth: np.ndarray, slot: CameraSlot) -> np.ndarray:
        """Metres along the optical axis from the depth buffer's [0, 1] values (bottom row first); 0 for none."""
        near, far = slot.near, slot.far
        flipped = window_depth[::-1]
        background = self._scratch.get(window_depth.shape)
        if background is None:
            background = self._scratch[window_depth.shape] = np.empty(window_depth.shape, dtype=bool)
        np.equal(flipped, 1.0, out=background)
        # Perspective depth d in [0, 1] maps back to z = near * far / (far - d * (far - near)).
        out = np.empty(window_depth.shape, dtype=np.float32)
        np.multiply(flipped, np.float32(near - far), out=out)
        out += np.float32(far)
        np.divide(np.float32(near * far), out, out=out)
        out[background] = 0.0
        return out

    def close(self) -> None:
        """Free this scene's GL objects now (otherwise they go when it is garbage collected)."""
        self._closed = True
        if self._finalizer.alive:
            self._finalizer()
            with self._context.session():
                pass  # frees the retired renderer with the context current


def _prepare_mesh(pyrender: Any, item: Any) -> Any:
    try:
        return to_pyrender_mesh(pyrender, item)
    except PhysimError:
        raise
    except Exception as exc:  # trimesh or pyrender choking on a mesh: name the item, not their internals
        logger.debug("preparing mesh %r failed", item.name, exc_info=True)
        raise RenderError(f"RenderItem {item.name!r}: cannot prepare its mesh for drawing: "
                          f"{type(exc).__name__}: {exc}") from None


def _segmentation_color(entity_index: int) -> np.ndarray:
    code = int(entity_index) + 1
    return np.array([code & 0xFF, (code >> 8) & 0xFF, (code >> 16) & 0xFF], dtype=np.float64)


def _decode_segmentation(color_raw: np.ndarray) -> np.ndarray:
    """int32 ids from the 24-bit colour codes of the segmentation pass (bottom row first); -1 for background."""
    packed = color_raw.view("<u4")[::-1, :, 0]  # r | g << 8 | b << 16 | a << 24 on a little-endian read
    out = np.empty(packed.shape, dtype=np.int32)
    np.bitwise_and(packed, 0xFFFFFF, out=out, casting="unsafe")
    out -= 1
    return out


def look_at_transform(pos: np.ndarray, lookat: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Camera-to-world 4x4 in the OpenGL convention (x right, y up, looking along -z) from pos/lookat/up."""
    pos = np.asarray(pos, dtype=np.float64)
    backward = pos - np.asarray(lookat, dtype=np.float64)
    backward /= np.linalg.norm(backward)
    right = np.cross(np.asarray(up, dtype=np.float64), backward)
    right /= np.linalg.norm(right)
    true_up = np.cross(backward, right)
    transform = np.eye(4)
    transform[:3, 0], transform[:3, 1], transform[:3, 2], transform[:3, 3] = right, true_up, backward, pos
    return transform


def _any_perpendicular_up(direction: np.ndarray) -> np.ndarray:
    """World z as the up vector, unless ``direction`` is (nearly) vertical; then world y."""
    direction = direction / np.linalg.norm(direction)
    return np.array([0.0, 0.0, 1.0]) if abs(direction[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
