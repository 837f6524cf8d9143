"""pyrender's Renderer, adapted to physim: framebuffers per resolution, raw readback, cheaper shadows.

What changes from pyrender 0.1.45, and why:

- Framebuffers are kept per (width, height, samples, colour format), so cameras of different
  resolutions sharing one scene do not reallocate them on every switch. Only the colour pass is
  multisampled (anti-aliased); depth-only, segmentation and normal passes draw into single-sample
  buffers, so their pixels are exact (no blending of ids or normals at edges) and cheaper. The normal
  pass draws into a float (RGBA32F) colour buffer, so normals come back as float32 without encoding.
- Readback goes into preallocated host buffers, in RGBA (always 4-byte aligned rows, whatever the
  width), and is returned raw (bottom row first, non-linear depth): the rasteriser converts it straight
  into the caller's output arrays, so a frame allocates nothing else.
- Shadows: only the directional lights in ``shadow_casters`` render a shadow map (the others keep a
  1x1 map the shader skips); maps are ``shadow_map_size`` wide and fitted to the scene's bounding
  sphere; they are sampled with hardware depth compare (see shaders/color/mesh.frag) and are not
  redrawn while nothing moved (``reuse_shadow_maps``, set by the rasteriser).
- Light uniforms are computed once per pass (pyrender: once per mesh), the shaders' light arrays are
  sized to the scene's lights, and opaque meshes are drawn nearest first so hidden pixels are not shaded.
- Sphere impostors: primitives marked with a ``sprite_radius`` (particles, see particles.py) are points
  drawn by physim's sprite programs (shaders/sprites/) in every pass: each point becomes a square
  sprite covering its sphere's projection, in which the fragment shaders ray-trace the sphere (exact
  silhouette, depth, normal), so a particle costs one vertex instead of 20-80 triangles.
- The shader program caches are shared by every renderer of the process's GL context, and ``delete``
  frees only this renderer's meshes, textures and framebuffers.

Imported only after :func:`physim.render.gl.import_pyrender` (it calls it first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from physim.render.gl import GLContext, import_pyrender

import_pyrender()  # chooses the GL platform before OpenGL is imported below

from OpenGL import GL  # noqa: E402
from pyrender import DirectionalLight, OrthographicCamera, RenderFlags  # noqa: E402
from pyrender.constants import ProgramFlags  # noqa: E402
from pyrender.renderer import Renderer  # noqa: E402
from pyrender.texture import Texture  # noqa: E402

_DATA_PASS_FLAGS = RenderFlags.DEPTH_ONLY | RenderFlags.SEG
_NOT_LIT_FLAGS = RenderFlags.DEPTH_ONLY | RenderFlags.FLAT | RenderFlags.SEG


@dataclass
class _Framebuffer:
    """A GL framebuffer with colour and depth renderbuffers; single-sample ones carry host buffers."""

    framebuffer: int
    color_buffer: int
    depth_buffer: int
    samples: int
    width: int
    height: int
    float_color: bool  # RGBA32F (exact normals) instead of RGBA8
    color_host: np.ndarray | None = None  # (height, width, 4) uint8 or float32, bottom row first
    depth_host: np.ndarray | None = None  # (height, width) float32 window depth in [0, 1]

    @classmethod
    def create(cls, width: int, height: int, samples: int, float_color: bool = False) -> _Framebuffer:
        color_buffer, depth_buffer = GL.glGenRenderbuffers(2)
        color_format = GL.GL_RGBA32F if float_color else GL.GL_RGBA8
        for buffer, fmt in ((color_buffer, color_format), (depth_buffer, GL.GL_DEPTH_COMPONENT24)):
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, buffer)
            if samples > 1:
                GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, samples, fmt, width, height)
            else:
                GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, fmt, width, height)
        framebuffer = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, framebuffer)
        GL.glFramebufferRenderbuffer(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, color_buffer)
        GL.glFramebufferRenderbuffer(GL.GL_DRAW_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, depth_buffer)
        fb = cls(int(framebuffer), int(color_buffer), int(depth_buffer), samples, width, height, float_color)
        if samples <= 1:
            fb.color_host = np.empty((height, width, 4), dtype=np.float32 if float_color else np.uint8)
            fb.depth_host = np.empty((height, width), dtype=np.float32)
        return fb

    def delete(self) -> None:
        GL.glDeleteFramebuffers(1, [self.framebuffer])
        GL.glDeleteRenderbuffers(2, [self.color_buffer, self.depth_buffer])


def _use_hardware_shadow_compare(texture: Any) -> None:
    """Make a shadow map sample as a sampler2DShadow: depth compare with bilinear filtering (hardware PCF),
    and "lit" outside the map."""
    texture._bind()
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_COMPARE_MODE, GL.GL_COMPARE_REF_TO_TEXTURE)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_COMPARE_FUNC, GL.GL_LEQUAL)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_BORDER)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_BORDER)
    GL.glTexParameterfv(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_BORDER_COLOR, np.ones(4, dtype=np.float32))
    texture._unbind()


class _UniformRecorder:
    """Stands in for a shader program while pyrender binds lights: forwards and records each uniform."""

    def __init__(self, program: Any) -> None:
        self.program = program
        self.calls: list[tuple[str, Any, Any]] = []  # (name, value, texture or None)

    def set_uniform(self, name: str, value: Any, unsigned: bool = False) -> None:
        self.calls.append((name, value, None))
        self.program.set_uniform(name, value, unsigned)


class PhysimRenderer(Renderer):
    """A pyrender Renderer living in the shared :class:`GLContext`; see the module docstring."""

    def __init__(self, context: GLContext, color_samples: int = 4, shadow_map_size: int = 1024) -> None:
        super().__init__(1, 1)
        self.dpscale = 1  # pyrender doubles viewports on macOS for retina windows; physim draws offscreen only
        self._program_cache = context.program_cache
        self._normals_program_cache = context.normals_program_cache
        self.color_samples = int(color_samples)
        self.shadow_map_size = int(shadow_map_size)
        self.shadow_casters: set[Any] = set()  # light nodes that render a shadow map
        self.light_counts = (4, 4, 4)  # (directional, spot, point) lights of the scene, set by the rasteriser
        self.reuse_shadow_maps = False  # set by the rasteriser when nothing moved since the maps were drawn
        self.read_color = True  # what _read_main_framebuffer reads back, set per pass by the rasteriser
        self.read_depth = True
        self._framebuffers: dict[tuple[int, int, int, bool], _Framebuffer] = {}
        self._target: _Framebuffer | None = None
        self._float_color = False  # set for the normal pass
        self._cleared_shadow_maps: set[int] = set()
        self._compare_mode_set: set[int] = set()
        self._max_lights: dict[int, list[int]] = {}
        self._viewport_size = np.ones(2, dtype=np.float32)  # pixels of the target drawn into (for sprites)

    # --- passes --------------------------------------------------------------------------------------

    def render_pass(self, scene: Any, flags: int, seg_node_map: dict | None, *, read_color: bool,
                    read_depth: bool, normals: bool = False,
                    color_samples: int | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Draw one pass and return the raw (color RGBA, window depth) host buffers, bottom row first.

        The buffers are reused by the next pass of the same kind and size: copy out what you keep.
        ``normals`` draws physim's world-normal program in place of pyrender's segmentation one, into a
        float colour buffer (the colour returned is then float32 RGBA: the normal, and 1).
        ``color_samples`` overrides the anti-aliasing of a colour pass.
        """
        self.read_color, self.read_depth = read_color, read_depth
        if color_samples is not None and color_samples != self.color_samples:
            saved_samples, self.color_samples = self.color_samples, color_samples
            try:
                return self.render_pass(scene, flags, seg_node_map, read_color=read_color, read_depth=read_depth,
                                        normals=normals)
            finally:
                self.color_samples = saved_samples
        if normals:
            # World normals as float32 RGB straight from the shader: no encoding, nothing to decode.
            self._program_cache, saved = self._normals_program_cache, self._program_cache
            self._float_color = True
            try:
                return self.render(scene, flags | RenderFlags.SEG | RenderFlags.OFFSCREEN, seg_node_map)
            finally:
                self._program_cache = saved
                self._float_color = False
        return self.render(scene, flags | RenderFlags.OFFSCREEN, seg_node_map)

    def _framebuffer(self, width: int, height: int, samples: int, float_color: bool = False) -> _Framebuffer:
        key = (width, height, samples, float_color)
        fb = self._framebuffers.get(key)
        if fb is None:
            fb = self._framebuffers[key] = _Framebuffer.create(width, height, samples, float_color)
        return fb

    def _configure_forward_pass_viewport(self, flags: int) -> None:
        samples = 1 if flags & _DATA_PASS_FLAGS else self.color_samples
        self._target = self._framebuffer(self.viewport_width, self.viewport_height, samples, self._float_color)
        self._viewport_size = np.array([self.viewport_width, self.viewport_height], dtype=np.float32)
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
            pixel_type = GL.GL_FLOAT if target.float_color else GL.GL_UNSIGNED_BYTE
            GL.glReadPixels(0, 0, width, height, GL.GL_RGBA, pixel_type, target.color_host)
            color = target.color_host
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        return color, depth

    # --- sphere impostors ---------------------------------------------------------------------------

    def _get_primitive_program(self, primitive: Any, flags: int, program_flags: int) -> Any:
        if getattr(primitive, "sprite_radius", None) is None:
            return super()._get_primitive_program(primitive, flags, program_flags)
        # The same choice of pass as pyrender's, with the sprite programs (one vertex shader for all).
        defines: dict[str, Any] = {"INST_M_LOC": 1}  # the vertex buffer holds positions only
        if program_flags & ProgramFlags.USE_MATERIAL and not flags & _NOT_LIT_FLAGS:
            fragment_shader = "sprite_color.frag"
            limits = self._compute_max_n_lights(flags)
            defines.update(MAX_DIRECTIONAL_LIGHTS=limits[0], MAX_SPOT_LIGHTS=limits[1], MAX_POINT_LIGHTS=limits[2],
                           NORMAL_LOC=1, USE_METALLIC_MATERIAL=1)  # NORMAL_LOC: mesh.frag reads frag_normal
            for flag, define in ((RenderFlags.SHADOWS_DIRECTIONAL, "DIRECTIONAL_LIGHT_SHADOWS"),
                                 (RenderFlags.SHADOWS_SPOT, "SPOT_LIGHT_SHADOWS"),
                                 (RenderFlags.SHADOWS_POINT, "POINT_LIGHT_SHADOWS")):
                if flags & flag:
                    defines[define] = 1
        elif flags & RenderFlags.SEG:
            fragment_shader = "sprite_normals.frag" if self._float_color else "sprite_segmentation.frag"
        else:  # depth only, and shadow maps
            fragment_shader = "sprite_depth.frag"
        program = self._program_cache.get_program(vertex_shader="sprite.vert", fragment_shader=fragment_shader,
                                                  defines=defines)
        if not program._in_context():
            program._add_to_context()
        return program

    def _bind_and_draw_primitive(self, primitive: Any, pose: Any, program: Any, flags: int) -> None:
        radius = getattr(primitive, "sprite_radius", None)
        if radius is not None:
            # What the sprite shaders need beyond pyrender's uniforms; pyrender enables
            # GL_PROGRAM_POINT_SIZE for point primitives, so gl_PointSize sets each sprite's size.
            program.set_uniform("viewport_size", self._viewport_size)
            program.set_uniform("sprite_radius", float(radius))
        super()._bind_and_draw_primitive(primitive, pose, program, flags)

    # --- lights and shadows ----------------------------------------------------------------------------

    def prepare_shadow_maps(self, light_nodes: list[Any]) -> None:
        """Give each directional light its shadow texture: full size for casters, 1x1 for the others."""
        for node in light_nodes:
            size = self.shadow_map_size if node in self.shadow_casters else 1
            node.light.shadow_texture = Texture(width=size, height=size, source_channels="D", data_format=GL.GL_FLOAT)

    def _shadow_mapping_pass(self, scene: Any, light_node: Any, flags: int) -> None:
        texture = light_node.light.shadow_texture
        if id(texture) not in self._compare_mode_set:
            _use_hardware_shadow_compare(texture)
            self._compare_mode_set.add(id(texture))
        if light_node in self.shadow_casters:
            if not self.reuse_shadow_maps:
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
        self._viewport_size = np.array([size, size], dtype=np.float32)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDepthRange(0.0, 1.0)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_BLEND)

    def render(self, scene: Any, flags: int, seg_node_map: dict | None = None) -> Any:
        self._lighting_memo: dict[int, list[tuple[str, Any, Any]]] = {}  # light poses may change between frames
        return super().render(scene, flags, seg_node_map)

    def _bind_lighting(self, scene: Any, program: Any, node: Any, flags: int) -> None:
        """pyrender's light binding, computed once per pass instead of once per mesh.

        pyrender recomputes every light's pose, and each shadow light's view-projection (a matrix
        inverse), for every mesh it draws. With at most MAX_N_LIGHTS lights per kind all lights are bound
        for every mesh, so the uniform values are the same for all meshes of a pass; the memo records
        them on the first mesh and replays them (shadow maps are re-bound to the same texture units,
        which keeps pyrender's per-mesh texture-unit allocation intact).
        """
        recorded = self._lighting_memo.get(flags)
        if recorded is None:
            limits = self._compute_max_n_lights(flags)
            counts = (len(scene.directional_light_nodes), len(scene.spot_light_nodes), len(scene.point_light_nodes))
            if any(count > limit for count, limit in zip(counts, limits, strict=True)):
                super()._bind_lighting(scene, program, node, flags)  # pyrender picks lights per mesh: no memo
                return
            recorder = _UniformRecorder(program)
            super()._bind_lighting(scene, recorder, node, flags)  # type: ignore[arg-type]
            recorded = self._lighting_memo[flags] = recorder.calls
            return
        for name, value, texture in recorded:
            if texture is not None:
                self._bind_texture(texture, name, program)
            else:
                program.set_uniform(name, value)

    def _bind_texture(self, texture: Any, uniform_name: str, program: Any) -> None:
        if isinstance(program, _UniformRecorder):
            program.calls.append((uniform_name, None, texture))
            program = program.program
        super()._bind_texture(texture, uniform_name, program)

    def _get_light_cam_matrices(self, scene: Any, light_node: Any, flags: int) -> tuple[np.ndarray, np.ndarray]:
        """Shadow camera of a directional light fitted to the scene's bounding sphere.

        pyrender's orthographic shadow camera spans twice the bounding box diagonal on each side, which
        wastes three quarters of the shadow map; the bounding sphere (radius = half the diagonal) is
        enough, so the same map resolves twice finer.
        """
        if not isinstance(light_node.light, DirectionalLight):
            return super()._get_light_cam_matrices(scene, light_node, flags)
        scale = max(float(scene.scale), 1e-6)
        radius = 0.5 * scale * 1.02  # a little margin so edges of the scene are not clipped
        pose = scene.get_pose(light_node).copy()
        direction = -pose[:3, 2]
        pose[:3, 3] = scene.centroid - direction * scale
        camera = OrthographicCamera(xmag=radius, ymag=radius, znear=scale - radius * 1.01, zfar=scale + radius * 1.01)
        return np.linalg.inv(pose), camera.get_projection_matrix()

    def _sorted_mesh_nodes(self, scene: Any) -> list[Any]:
        """Opaque meshes nearest first (so hidden pixels fail the depth test before shading), then
        transparent ones farthest first (for blending). pyrender draws opaque meshes farthest first."""
        camera_position = scene.get_pose(scene.main_camera_node)[:3, 3]
        solid, transparent = [], []
        for node in scene.mesh_nodes:
            (transparent if node.mesh.is_transparent else solid).append(node)
        distance = {node: float(np.linalg.norm(scene.get_pose(node)[:3, 3] - camera_position))
                    for node in scene.mesh_nodes}
        solid.sort(key=distance.__getitem__)
        transparent.sort(key=distance.__getitem__, reverse=True)
        return solid + transparent

    def _compute_max_n_lights(self, flags: int) -> list[int]:
        """Light array sizes of the shaders: the scene's own light counts (at least 1), within pyrender's limits.

        pyrender sizes them by the texture units left (26 directional lights with shadows on llvmpipe),
        and dynamically indexed arrays of that size make the fragment shader several times slower.
        """
        key = flags & RenderFlags.SHADOWS_ALL
        if key not in self._max_lights:
            limits = super()._compute_max_n_lights(flags)
            self._max_lights[key] = [max(1, min(limit, count))
                                     for limit, count in zip(limits, self.light_counts, strict=True)]
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
