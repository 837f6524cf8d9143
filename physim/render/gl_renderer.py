"""pyrender's Renderer, adapted to physim: framebuffers per resolution, raw readback, cheaper shadows.

What changes from pyrender 0.1.45, and why:

- Framebuffers are kept per (width, height, samples), so cameras of different resolutions sharing one
  scene do not reallocate them on every switch. Only the colour pass is multisampled (anti-aliased);
  depth-only, segmentation and normal passes draw into single-sample buffers, so their pixels are
  exact (no blending of ids or normals at edges) and cheaper.
- Readback goes into preallocated host buffers, in RGBA (always 4-byte aligned rows, whatever the
  width), and is returned raw (bottom row first, non-linear depth): the rasteriser converts it straight
  into the caller's output arrays, so a frame allocates nothing else.
- Only the directional lights in ``shadow_casters`` render a shadow map; the others keep a 1x1 map
  cleared to "lit". Shadow maps are ``shadow_map_size`` pixels wide instead of a fixed 2048.
- The shader program caches are shared by every renderer of the process's GL context, and
  ``delete`` frees only this renderer's meshes, textures and framebuffers.
- ``_compute_max_n_lights`` is memoised (pyrender queries the driver once per mesh per frame).

Imported only after :func:`physim.render.gl.import_pyrender`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from OpenGL import GL
from pyrender import RenderFlags
from pyrender.renderer import Renderer
from pyrender.texture import Texture

from physim.render.gl import GLContext

_DATA_PASS_FLAGS = RenderFlags.DEPTH_ONLY | RenderFlags.SEG


@dataclass
class _Framebuffer:
    """A GL framebuffer with colour and depth renderbuffers; single-sample ones carry host buffers."""

    framebuffer: int
    color_buffer: int
    depth_buffer: int
    samples: int
    width: int
    height: int
    color_host: np.ndarray | None = None  # (height, width, 4) uint8, bottom row first
    depth_host: np.ndarray | None = None  # (height, width) float32 window depth in [0, 1]

    @classmethod
    def create(cls, width: int, height: int, samples: int) -> _Framebuffer:
        color_buffer, depth_buffer = GL.glGenRenderbuffers(2)
        for buffer, fmt in ((color_buffer, GL.GL_RGBA8), (depth_buffer, GL.GL_DEPTH_COMPONENT24)):
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, buffer)
            if samples > 1:
                GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, samples, fmt, width, height)
            else:
                GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, fmt, width, height)
        framebuffer = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, framebuffer)
        GL.glFramebufferRenderbuffer(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, color_buffer)
        GL.glFramebufferRenderbuffer(GL.GL_DRAW_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, depth_buffer)
        fb = cls(int(framebuffer), int(color_buffer), int(depth_buffer), samples, width, height)
        if samples <= 1:
            fb.color_host = np.empty((height, width, 4), dtype=np.uint8)
            fb.depth_host = np.empty((height, width), dtype=np.float32)
        return fb

    def delete(self) -> None:
        GL.glDeleteFramebuffers(1, [self.framebuffer])
        GL.glDeleteRenderbuffers(2, [self.color_buffer, self.depth_buffer])


class PhysimRenderer(Renderer):
    """A pyrender Renderer living in the shared :class:`GLContext`; see the module docstring."""

    def __init__(self, context: GLContext, color_samples: int = 4, shadow_map_size: int = 1024) -> None:
        super().__init__(1, 1)
        self._program_cache = context.program_cache
        self._normals_program_cache = context.normals_program_cache
        self.color_samples = int(color_samples)
        self.shadow_map_size = int(shadow_map_size)
        self.shadow_casters: set[Any] = set()  # light nodes that render a shadow map
        self.read_color = True  # what _read_main_framebuffer reads back, set per pass by the rasteriser
        self.read_depth = True
        self._framebuffers: dict[tuple[int, int, int], _Framebuffer] = {}
        self._target: _Framebuffer | None = None
        self._cleared_shadow_maps: set[int] = set()
        self._max_lights: dict[int, list[int]] = {}

    # --- passes --------------------------------------------------------------------------------------

    def render_pass(self, scene: Any, flags: int, seg_node_map: dict | None, *, read_color: bool,
                    read_depth: bool, normals: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Draw one pass and return the raw (color RGBA, window depth) host buffers, bottom row first.

        The buffers are reused by the next pass of the same kind and size: copy out what you keep.
        ``normals`` draws physim's world-normal program in place of pyrender's segmentation one.
        """
        self.read_color, self.read_depth = read_color, read_depth
        if normals:
            self._program_cache, saved = self._normals_program_cache, self._program_cache
            try:
                return self.render(scene, flags | RenderFlags.SEG | RenderFlags.OFFSCREEN, seg_node_map)
            finally:
                self._program_cache = saved
        return self.render(scene, flags | RenderFlags.OFFSCREEN, seg_node_map)

    def _framebuffer(self, width: int, height: int, samples: int) -> _Framebuffer:
        key = (width, height, samples)
        fb = self._framebuffers.get(key)
        if fb is None:
            fb = self._framebuffers[key] = _Framebuffer.create(width, height, samples)
        return fb

    def _configure_forward_pass_viewport(self, flags: int) -> None:
        samples = 1 if flags & _DATA_PASS_FLAGS else self.color_samples
        self._target = self._framebuffer(self.viewport_width, self.viewport_height, samples)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._target.framebuffer)
        GL.glViewport(0, 0, self.viewport_width, self.viewport_height)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDepthRange(0.0, 1.0)

    def _read_main_framebuffer(self, scene: Any, flags: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        target = self._target
        assert target is not None
        width, height = target.width, target.height
        read_color = self.read_color and not flags & RenderFlags.DEPTH_ONLY
        if target.samples > 1:  # resolve the anti-aliased pass into the single-sample buffer of that size
            resolved = self._framebuffer(width, height, 1)
            mask = (GL.GL_COLOR_BUFFER_BIT if read_color else 0) | (GL.GL_DEPTH_BUFFER_BIT if self.read_depth else 0)
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, target.framebuffer)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, resolved.framebuffer)
            if mask:
                GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, mask, GL.GL_NEAREST)
            target = resolved
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, target.framebuffer)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 4)
        color = depth = None
        if self.read_depth:
            GL.glReadPixels(0, 0, width, height, GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT, target.depth_host)
            depth = target.depth_host
        if read_color:
            GL.glReadPixels(0, 0, width, height, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, target.color_host)
            color = target.color_host
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        return color, depth

    # --- lights and shadows ----------------------------------------------------------------------------

    def prepare_shadow_maps(self, light_nodes: list[Any]) -> None:
        """Give each directional light its shadow texture: full size for casters, 1x1 for the others."""
        for node in light_nodes:
            size = self.shadow_map_size if node in self.shadow_casters else 1
            node.light.shadow_texture = Texture(width=size, height=size, source_channels="D", data_format=GL.GL_FLOAT)

    def _shadow_mapping_pass(self, scene: Any, light_node: Any, flags: int) -> None:
        if light_node in self.shadow_casters:
            super()._shadow_mapping_pass(scene, light_node, flags)
            return
        texture = light_node.light.shadow_texture
        if id(texture) not in self._cleared_shadow_maps:  # clear once to depth 1: nothing is ever shadowed
            self._configure_shadow_mapping_viewport(light_node.light, flags)
            self._cleared_shadow_maps.add(id(texture))

    def _configure_shadow_mapping_viewport(self, light: Any, flags: int) -> None:
        self._configure_shadow_framebuffer()
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._shadow_fb)
        light.shadow_texture._bind()
        light.shadow_texture._bind_as_depth_attachment()
        GL.glActiveTexture(GL.GL_TEXTURE0)
        light.shadow_texture._bind()
        GL.glDrawBuffer(GL.GL_NONE)
        GL.glReadBuffer(GL.GL_NONE)
        GL.glClear(GL.GL_DEPTH_BUFFER_BIT)
        size = light.shadow_texture.width
        GL.glViewport(0, 0, size, size)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDepthRange(0.0, 1.0)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_BLEND)

    def _compute_max_n_lights(self, flags: int) -> list[int]:
        key = flags & RenderFlags.SHADOWS_ALL
        if key not in self._max_lights:
            self._max_lights[key] = super()._compute_max_n_lights(flags)
        return self._max_lights[key]

    # --- lifetime --------------------------------------------------------------------------------------

    def delete(self) -> None:
        """Free this renderer's GL objects (call with the context current); the shared programs stay."""
        for mesh in self._meshes:
            for primitive in mesh.primitives:
                primitive.delete()
        for texture in self._mesh_textures | self._shadow_textures:
            texture.delete()
        self._meshes, self._mesh_textures, self._shadow_textures = set(), set(), set()
        for fb in self._framebuffers.values():
            fb.delete()
        self._framebuffers = {}
        self._delete_shadow_framebuffer()
        self._shadow_fb = None

    def __del__(self) -> None:
        # pyrender's __del__ would make GL calls with whatever context is current; the rasteriser
        # frees GL objects explicitly, with the shared context current.
        pass
