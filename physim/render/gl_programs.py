"""Shader programs for pyrender that remember their uniform locations.

pyrender's ``ShaderProgram.set_uniform`` asks the driver for a uniform's location on every call (about
thirty calls per mesh per frame); caching the locations per program removes a large part of a frame's
Python time. Imported only once pyrender is (see :mod:`physim.render.gl`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import OpenGL
from OpenGL import GL
from pyrender.shader_program import ShaderProgram, ShaderProgramCache

# Where physim's own shaders live. ``normals/`` holds a world-normal program under the file names that
# pyrender's segmentation pass asks for, so that pass draws normals when this cache is swapped in.
SHADER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shaders")
NORMALS_SHADER_DIR = os.path.join(SHADER_DIR, "normals")


class CachedUniformProgram(ShaderProgram):
    """A pyrender ShaderProgram whose ``set_uniform`` looks each location up once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._uniform_locations: dict[str, int] = {}

    def _add_to_context(self) -> None:
        self._uniform_locations = {}  # locations belong to the GL program object, which is new
        super()._add_to_context()

    def set_uniform(self, name: str, value: Any, unsigned: bool = False) -> None:
        location = self._uniform_locations.get(name)
        if location is None:
            location = GL.glGetUniformLocation(self._program_id, name)
            self._uniform_locations[name] = location
        if location == -1:  # not used by this shader variant: pyrender ignores it too
            return
        if isinstance(value, np.ndarray):
            if value.ndim == 1:
                if np.issubdtype(value.dtype, np.unsignedinteger) or unsigned:
                    kind, value = "u", value.astype(np.uint32)
                elif np.issubdtype(value.dtype, np.integer):
                    kind, value = "i", value.astype(np.int32)
                else:
                    kind, value = "f", value.astype(np.float32)
                self._FUNC_MAP[(value.shape[0], kind)](location, 1, value)
            else:
                self._FUNC_MAP[(value.shape[0], value.shape[1])](location, 1, GL.GL_TRUE, value)
        elif isinstance(value, bool):
            (GL.glUniform1ui if unsigned else GL.glUniform1i)(location, int(value))
        elif isinstance(value, float):
            GL.glUniform1f(location, value)
        elif isinstance(value, (int, np.integer)):
            (GL.glUniform1ui if unsigned else GL.glUniform1i)(location, int(value))
        elif isinstance(value, np.floating):
            GL.glUniform1f(location, float(value))


class CachedProgramCache(ShaderProgramCache):
    """pyrender's program cache, building :class:`CachedUniformProgram` objects."""

    def get_program(self, vertex_shader: str, fragment_shader: str, geometry_shader: str | None = None,
                    defines: dict[str, Any] | None = None) -> CachedUniformProgram:
        defines = defines or {}
        shader_files = [name for name in (vertex_shader, fragment_shader, geometry_shader) if name is not None]
        key = tuple([OpenGL.contextdata.getContext()]
                    + sorted([(os.path.basename(name), 1) for name in shader_files] + list(defines.items())))
        program = self._program_cache.get(key)
        if program is None:
            paths = [os.path.join(self.shader_dir, name) if name is not None else None
                     for name in (vertex_shader, fragment_shader, geometry_shader)]
            program = CachedUniformProgram(vertex_shader=paths[0], fragment_shader=paths[1],
                                           geometry_shader=paths[2], defines=defines)
            self._program_cache[key] = program
        return program
