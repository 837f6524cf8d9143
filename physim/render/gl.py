"""The headless OpenGL platform: which one, and the one GL context a process renders with.

PyOpenGL picks its platform (EGL, OSMesa, GLX) once, when ``OpenGL`` is first imported, from the
``PYOPENGL_PLATFORM`` environment variable. So the choice is made here, before pyrender or OpenGL is
imported, and nothing in physim imports pyrender at ``import physim`` time:

1. a ``PYOPENGL_PLATFORM`` the user set is respected (``egl`` or ``osmesa``);
2. else ``egl`` when libEGL loads and an EGL display initialises (a GPU, or Mesa's llvmpipe);
3. else ``osmesa`` when libOSMesa loads (pure software);
4. else :class:`RenderError` with the packages to install.

One GL context serves every scene of a process (tests, sweeps and the data pipeline build many scenes
one after the other): creating a context and compiling pyrender's shaders costs far more than a frame,
so both are done once. A lock serialises its use across threads. A process forked after rendering
started cannot render (see :func:`shared_context`): use the 'spawn' start method for workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from physim.errors import RenderError

logger = logging.getLogger("physim")

APT_PACKAGES = "apt-get install -y libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libosmesa6"
SUPPORTED_PLATFORMS = ("egl", "osmesa")

_EGL_DEFAULT_DISPLAY = 0
_EGL_PLATFORM_DEVICE_EXT = 0x313F


def _load_library(*names: str) -> ctypes.CDLL | None:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    found = ctypes.util.find_library(names[0].split(".so")[0].removeprefix("lib"))
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            return None
    return None


def _egl_display_initialises() -> bool:
    """True when libEGL loads and the display pyrender will use initialises.

    pyrender opens EGL device ``EGL_DEVICE_ID`` (default 0) through ``eglQueryDevicesEXT`` when the
    driver offers it, else the default display; the probe does the same, with plain ctypes, so that it
    costs a few milliseconds and imports nothing. The display is left initialised (eglInitialize is
    idempotent, and terminating a display other code may share would be unsafe).
    """
    egl = _load_library("libEGL.so.1", "libEGL.so")
    if egl is None:
        return False
    try:
        egl.eglGetProcAddress.restype = ctypes.c_void_p
        egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
        egl.eglGetDisplay.restype = ctypes.c_void_p
        egl.eglGetDisplay.argtypes = [ctypes.c_void_p]
        egl.eglInitialize.restype = ctypes.c_uint
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32)]

        display = None
        query_devices_address = egl.eglGetProcAddress(b"eglQueryDevicesEXT")
        platform_display_address = egl.eglGetProcAddress(b"eglGetPlatformDisplayEXT")
        if query_devices_address and platform_display_address:
            query_devices = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p),
                                             ctypes.POINTER(ctypes.c_int32))(query_devices_address)
            get_platform_display = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p,
                                                    ctypes.c_void_p)(platform_display_address)
            count = ctypes.c_int32(0)
            if not query_devices(0, None, ctypes.byref(count)) or count.value < 1:
                return False
            devices = (ctypes.c_void_p * count.value)()
            if not query_devices(count.value, devices, ctypes.byref(count)):
                return False
            device_index = int(os.environ.get("EGL_DEVICE_ID", "0"))
            if not 0 <= device_index < count.value:
                return False
            display = get_platform_display(_EGL_PLATFORM_DEVICE_EXT, devices[device_index], None)
        else:
            display = egl.eglGetDisplay(_EGL_DEFAULT_DISPLAY)
        if not display:
            return False
        major, minor = ctypes.c_int32(0), ctypes.c_int32(0)
        return bool(egl.eglInitialize(display, ctypes.byref(major), ctypes.byref(minor)))
    except (AttributeError, OSError, ValueError):
        return False


def _osmesa_loads() -> bool:
    return _load_library("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so") is not None


@functools.cache
def select_platform() -> str:
    """The headless GL platform this process renders with; sets ``PYOPENGL_PLATFORM`` accordingly.

    Must run before ``OpenGL`` is imported anywhere (physim calls it before importing pyrender).
    """
    requested = os.environ.get("PYOPENGL_PLATFORM", "").strip().lower()
    if requested:
        if requested not in SUPPORTED_PLATFORMS:
            raise RenderError(
                f"PYOPENGL_PLATFORM={requested!r} cannot render headless; set it to 'egl' or 'osmesa', or unset it "
                "to let physim choose")
        platform = requested
    elif _egl_display_initialises():
        platform = "egl"
    elif _osmesa_loads():
        platform = "osmesa"
    else:
        raise RenderError(
            "no headless OpenGL found: neither an EGL display nor OSMesa could be opened. "
            f"On Debian/Ubuntu install them with: {APT_PACKAGES}")
    if "OpenGL" in sys.modules and os.environ.get("PYOPENGL_PLATFORM") != platform:
        # PyOpenGL already chose a platform; pyrender's EGL module re-installs EGL itself, OSMesa may fail later.
        logger.warning("OpenGL was imported before physim chose the %r platform; import physim.render first "
                       "or set PYOPENGL_PLATFORM=%s", platform, platform)
    os.environ["PYOPENGL_PLATFORM"] = platform
    return platform


@functools.cache
def import_pyrender() -> ModuleType:
    """Import pyrender on the chosen platform (once), with the fixes it needs on numpy 2."""
    select_platform()
    # pyrender 0.1.45 still says np.infty (removed in numpy 2.0) in scene bounds and shadow code.
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]
    try:
        import OpenGL
        import OpenGL.error

        if select_platform() == "egl":
            import OpenGL.EGL  # its error module needs error checking on when imported (PyOpenGL 3.1)
        # PyOpenGL checks glGetError after every GL call by default (wrappers read the flag when OpenGL.GL
        # is imported); physim checks once per frame instead (GLContext.check_errors).
        OpenGL.ERROR_CHECKING = False
        OpenGL._configflags.ERROR_CHECKING = False
        import pyrender
    except Exception as exc:  # ImportError, or a platform library failing to load
        raise RenderError(f"could not import pyrender/PyOpenGL: {exc}. On Debian/Ubuntu: {APT_PACKAGES}") from None
    return pyrender


def _egl_platform(pyrender: ModuleType) -> Any:
    from pyrender.platforms import egl

    class SharedDisplayEGLPlatform(egl.EGLPlatform):
        """pyrender's EGL platform, except that deleting a context leaves the display alone.

        pyrender calls eglTerminate on delete, which would pull the display from under every other
        context of the process.
        """

        def delete_context(self) -> None:
            from OpenGL.EGL import eglDestroyContext

            if self._egl_display is not None and self._egl_context is not None:
                eglDestroyContext(self._egl_display, self._egl_context)
            self._egl_context = None
            self._egl_display = None

        def make_uncurrent(self) -> None:
            from OpenGL.EGL import EGL_NO_CONTEXT, EGL_NO_SURFACE, eglMakeCurrent

            if self._egl_display is not None:
                eglMakeCurrent(self._egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT)

    device = egl.get_device_by_index(int(os.environ.get("EGL_DEVICE_ID", "0")))
    return SharedDisplayEGLPlatform(1, 1, device=device)


def _osmesa_platform(pyrender: ModuleType) -> Any:
    from pyrender.platforms.osmesa import OSMesaPlatform

    # physim always draws into its own framebuffer objects, so OSMesa's window buffer can be 1x1.
    return OSMesaPlatform(1, 1)


class GLContext:
    """One headless OpenGL context, with a lock, the shader programs compiled in it, and its GL strings."""

    def __init__(self) -> None:
        self.platform_name = select_platform()
        pyrender = import_pyrender()
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self._depth = 0  # nesting of session()
        self._retired: list[Any] = []
        try:
            make_platform = _egl_platform if self.platform_name == "egl" else _osmesa_platform
            self._platform = make_platform(pyrender)
            self._platform.init_context()
            self._platform.make_current()
            from OpenGL import GL

            self.info = {
                "vendor": _gl_string(GL, GL.GL_VENDOR),
                "renderer": _gl_string(GL, GL.GL_RENDERER),
                "version": _gl_string(GL, GL.GL_VERSION),
            }
            self._platform.make_uncurrent()
        except RenderError:
            raise
        except Exception as exc:
            logger.debug("GL context creation failed", exc_info=True)
            raise RenderError(
                f"could not create a headless OpenGL context on platform {self.platform_name!r}: "
                f"{type(exc).__name__}: {exc}. On Debian/Ubuntu: {APT_PACKAGES}") from None
        from physim.render.gl_programs import COLOR_SHADER_DIRS, NORMALS_SHADER_DIRS, CachedProgramCache

        # Shared by every renderer in this context: pyrender's programs depend on flags, not on a scene.
        self.program_cache = CachedProgramCache(COLOR_SHADER_DIRS)
        self.normals_program_cache = CachedProgramCache(NORMALS_SHADER_DIRS)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Hold the lock with the context current (re-entrant); frees retired renderers first."""
        if os.getpid() != self.pid:
            raise RenderError("this renderer was created in another process (before a fork); build the scene in "
                              "the process that renders it")
        with self.lock:
            self._depth += 1
            try:
                if self._depth == 1:
                    self._platform.make_current()
                    self._free_retired()
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    # Release, so another thread (or a library using its own context) can make one current.
                    self._platform.make_uncurrent()

    def retire(self, renderer: Any) -> None:
        """Queue a renderer's GL objects for deletion at the next session.

        Called from garbage-collection finalizers, which may run in the middle of another frame: they
        must not touch the GL themselves.
        """
        self._retired.append(renderer)

    def _free_retired(self) -> None:
        while self._retired:
            renderer = self._retired.pop()
            try:
                renderer.delete()
            except Exception:  # a leak is better than a crash in unrelated code
                logger.debug("freeing a retired renderer failed", exc_info=True)

    def check_errors(self, what: str) -> None:
        """Raise RenderError when the GL reported an error since the last check (error checking is per frame)."""
        from OpenGL import GL

        code = GL.glGetError()
        if code != GL.GL_NO_ERROR:
            first = code
            while code != GL.GL_NO_ERROR:  # drain the queue so the next frame starts clean
                code = GL.glGetError()
            raise RenderError(f"{what}: OpenGL error 0x{first:04x}")


def _gl_string(gl: ModuleType, name: int) -> str:
    value = gl.glGetString(name)
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


_shared_context: GLContext | None = None
_shared_context_lock = threading.Lock()


def shared_context() -> GLContext:
    """The process's GL context, created on first use.

    A process forked after its parent rendered cannot render: Mesa's software rasteriser (llvmpipe)
    keeps worker threads that fork does not copy, so a draw in the child waits forever (observed, even
    with a new context). Such a child gets a RenderError instead of a hang.
    """
    global _shared_context
    with _shared_context_lock:
        if _shared_context is not None and _shared_context.pid != os.getpid():
            raise RenderError(
                "cannot render in a process forked from one that already rendered (OpenGL does not survive "
                "fork). Start workers with multiprocessing's 'spawn' or 'forkserver' method, or render only in "
                "the workers.")
        if _shared_context is None:
            _shared_context = GLContext()
        return _shared_context


def describe(query_gl: bool = True) -> dict[str, str]:
    """What ``physim info`` prints about rendering: the platform and, when ``query_gl``, the GL strings.

    Querying the GL creates the process's context (tens of milliseconds); errors are reported in the
    dict rather than raised, so ``physim info`` always prints something.
    """
    info: dict[str, str] = {}
    try:
        info["platform"] = select_platform()
    except RenderError as exc:
        return {"platform": "none", "error": str(exc)}
    if query_gl:
        try:
            info.update(shared_context().info)
        except RenderError as exc:
            info["error"] = str(exc)
    return info
