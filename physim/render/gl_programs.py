"""Shader programs for pyrender that set uniforms cheaply, and physim's shader overrides.

pyrender's ``ShaderProgram.set_uniform`` asks the driver for the uniform's location on every call and
goes through PyOpenGL's checking wrappers, about thirty times per mesh per frame, and most calls set
the value the uniform already holds (lights and camera are re-sent for every mesh). Programs here look
each location up once, skip values equal to the last one set, and call the raw GL entry points.

Shader files are looked up in a list of folders, first match wins, so physim overrides single files of
pyrender's set (see ``shaders/``) and takes the rest from pyrender. Imported only once pyrender is (see
:mod:`physim.render.gl`).
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from physim.render.gl import import_pyrender

pyrender = import_pyrender()  # chooses the GL platform before OpenGL is imported below

import OpenGL  # noqa: E402
from OpenGL import GL  # noqa: E402
from OpenGL.raw.GL.VERSION import GL_2_0, GL_2_1, GL_3_0  # noqa: E402
from pyrender.shader_program import ShaderProgram, ShaderProgramCache  # noqa: E402

SHADER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shaders")
PYRENDER_SHADER_DIR = os.path.join(os.path.dirname(os.path.abspath(pyrender.__file__)), "shaders")
SPRITE_SHADER_DIR = os.path.join(SHADER_DIR, "sprites")  # sphere impostors, every pass (own file names)
# The colour pass: pyrender's shaders, with a cheaper shadow lookup in mesh.frag.
COLOR_SHADER_DIRS = (os.path.join(SHADER_DIR, "color"), SPRITE_SHADER_DIR, PYRENDER_SHADER_DIR)
# The normal pass: a world-normal program under the file names pyrender's segmentation pass asks for.
NORMALS_SHADER_DIRS = (os.path.join(SHADER_DIR, "normals"), SPRITE_SHADER_DIR, PYRENDER_SHADER_DIR)

# physim's shaders may include files of ``shaders/`` (GLSL has no includes): ``#include "dir/file"`` pastes
# the file (without its #version line); ``#include_surface_shading "color/mesh.frag"`` pastes a mesh
# fragment shader as a function ``shade_surface()`` of the globals ``frag_position``/``frag_normal``
# (world space), which the including shader sets: sphere impostors are lit by the very code meshes are.
_INCLUDE = re.compile(r'^#include(_surface_shading)?\s+"([^"]+)"\s*$', re.MULTILINE)
_SURFACE_SHADING_EDITS = (("in vec3 frag_position;", "vec3 frag_position;"),
                          ("in vec3 frag_normal;", "vec3 frag_normal;"),
                          ("void main()", "void shade_surface()"))

_VECTOR_SETTERS = {
    ("f", 1): GL_2_0.glUniform1fv, ("f", 2): GL_2_0.glUniform2fv, ("f", 3): GL_2_0.glUniform3fv,
    ("f", 4): GL_2_0.glUniform4fv,
    ("i", 1): GL_2_0.glUniform1iv, ("i", 2): GL_2_0.glUniform2iv, ("i", 3): GL_2_0.glUniform3iv,
    ("i", 4): GL_2_0.glUniform4iv,
    ("u", 1): GL_3_0.glUniform1uiv, ("u", 2): GL_3_0.glUniform2uiv, ("u", 3): GL_3_0.glUniform3uiv,
    ("u", 4): GL_3_0.glUniform4uiv,
}
_MATRIX_SETTERS = {
    (2, 2): GL_2_0.glUniformMatrix2fv, (3, 3): GL_2_0.glUniformMatrix3fv, (4, 4): GL_2_0.glUniformMatrix4fv,
    (2, 3): GL_2_1.glUniformMatrix2x3fv, (3, 2): GL_2_1.glUniformMatrix3x2fv, (2, 4): GL_2_1.glUniformMatrix2x4fv,
    (4, 2): GL_2_1.glUniformMatrix4x2fv, (3, 4): GL_2_1.glUniformMatrix3x4fv, (4, 3): GL_2_1.glUniformMatrix4x3fv,
}


class CachedUniformProgram(ShaderProgram):
    """A pyrender ShaderProgram whose ``set_uniform`` caches locations and skips unchanged values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._uniform_locations: dict[str, int] = {}
        self._uniform_values: dict[int, Any] = {}

    def _add_to_context(self) -> None:
        # Locations and values belong to the GL program object, which is new.
        self._uniform_locations, self._uniform_values = {}, {}
        super()._add_to_context()

    def _load(self, shader_filename: str) -> str:
        """The shader's text with includes expanded and pyrender's defines applied (as pyrender's _load)."""
        text = shader_source(shader_filename)
        for name, keep in (("ifdef", True), ("ifndef", False)):
            text = re.sub(rf"#{name}\s+([a-zA-Z_][a-zA-Z_0-9]*)\s*$",
                          lambda match, keep=keep: "#if 1" if (match.group(1) in self.defines) == keep else "#if 0",
                          text, flags=re.MULTILINE)
        for define, value in self.defines.items():
            text = text.replace(define, str(value))
        return text

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
                    kind, data = "u", np.ascontiguousarray(value, dtype=np.uint32)
                elif np.issubdtype(value.dtype, np.integer):
                    kind, data = "i", np.ascontiguousarray(value, dtype=np.int32)
                else:
                    kind, data = "f", np.ascontiguousarray(value, dtype=np.float32)
                cache_key = (kind, data.tobytes())
                if self._uniform_values.get(location) != cache_key:
                    _VECTOR_SETTERS[(kind, data.shape[0])](location, 1, data)
                    self._uniform_values[location] = cache_key
            else:
                # pyrender passes row-major matrices with transpose=GL_TRUE; send them as float32.
                data = np.ascontiguousarray(value, dtype=np.float32)
                cache_key = ("m", data.tobytes())
                if self._uniform_values.get(location) != cache_key:
                    _MATRIX_SETTERS[data.shape](location, 1, GL.GL_TRUE, data)
                    self._uniform_values[location] = cache_key
            return
        if isinstance(value, (bool, int, np.integer)):
            cache_key = ("u" if unsigned else "i", int(value))
            setter = GL_3_0.glUniform1ui if unsigned else GL_2_0.glUniform1i
        elif isinstance(value, (float, np.floating)):
            cache_key = ("f", float(value))
            setter = GL_2_0.glUniform1f
        else:
            return
        if self._uniform_values.get(location) != cache_key:
            setter(location, cache_key[1])
            self._uniform_values[location] = cache_key


class CachedProgramCache(ShaderProgramCache):
    """pyrender's program cache, building :class:`CachedUniformProgram` objects from a list of shader folders."""

    def __init__(self, shader_dirs: tuple[str, ...] = COLOR_SHADER_DIRS) -> None:
        super().__init__(shader_dir=shader_dirs[0])
        self.shader_dirs = tuple(shader_dirs)

    def _path(self, name: str | None) -> str | None:
        if name is None:
            return None
        for folder in self.shader_dirs:
            path = os.path.join(folder, name)
            if os.path.exists(path):
                return path
        raise FileNotFoundError(f"shader {name!r} not found in {self.shader_dirs}")

    def get_program(self, vertex_shader: str, fragment_shader: str, geometry_shader: str | None = None,
                    defines: dict[str, Any] | None = None) -> CachedUniformProgram:
        defines = defines or {}
        shader_files = [name for name in (vertex_shader, fragment_shader, geometry_shader) if name is not None]
        key = (OpenGL.contextdata.getContext(),
               *sorted([(os.path.basename(name), 1) for name in shader_files] + list(defines.items())))
        program = self._program_cache.get(key)
        if program is None:
            program = CachedUniformProgram(vertex_shader=self._path(vertex_shader),
                                           fragment_shader=self._path(fragment_shader),
                                           geometry_shader=self._path(geometry_shader), defines=defines)
            self._program_cache[key] = program
        return program


def shader_source(path: str) -> str:
    """A shader file's text with physim's ``#include`` lines expanded (paths relative to ``shaders/``)."""
    with open(path) as file:
        text = file.read()

    def expand(match: re.Match) -> str:
        included = shader_source(os.path.join(SHADER_DIR, match.group(2)))
        included = re.sub(r"^#version[^\n]*\n", "", included)
        if match.group(1):
            for old, new in _SURFACE_SHADING_EDITS:
                if included.count(old) != 1:
                    raise RuntimeError(f"{path}: cannot include {match.group(2)!r} as surface shading: expected "
                                       f"exactly one {old!r} in it")
                included = included.replace(old, new)
        return included

    return _INCLUDE.sub(expand, text)
