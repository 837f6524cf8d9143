"""Choosing and starting the compute backend (Taichi) once per process.

``ps.init(backend="gpu")`` means CUDA when a CUDA device answers, else Vulkan when a Vulkan device
answers, else the CPU with one clear warning. ``ti.gpu`` is never handed to Taichi: on a machine
without a GPU it segfaults instead of falling back (seen on our CPU machines).
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass

import numpy as np

from physim.errors import BackendError, InvalidValueError

logger = logging.getLogger("physim")

gpu = "gpu"
cpu = "cpu"
cuda = "cuda"
vulkan = "vulkan"
_BACKENDS = (gpu, cpu, cuda, vulkan)
_PRECISIONS = ("32", "64")


@dataclass(frozen=True)
class Runtime:
    """What ``init`` chose: the Taichi arch name, the float precision and the seed."""

    arch: str
    precision: str
    seed: int | None
    debug: bool

    @property
    def np_float(self) -> type:
        return np.float32 if self.precision == "32" else np.float64


_runtime: Runtime | None = None


def _cuda_device_count() -> int:
    """Number of CUDA devices the driver reports, 0 when there is no driver."""
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def _vulkan_gpu_count() -> int:
    """Number of Vulkan devices that are real GPUs (a software rasteriser such as Mesa's lavapipe is a
    CPU in disguise and slower than Taichi's own CPU backend), 0 when there is no Vulkan loader."""
    try:
        vulkan_lib = ctypes.CDLL("libvulkan.so.1")
    except OSError:
        return 0

    class InstanceCreateInfo(ctypes.Structure):
        _fields_ = [("sType", ctypes.c_int), ("pNext", ctypes.c_void_p), ("flags", ctypes.c_uint32),
                    ("pApplicationInfo", ctypes.c_void_p), ("enabledLayerCount", ctypes.c_uint32),
                    ("ppEnabledLayerNames", ctypes.c_void_p), ("enabledExtensionCount", ctypes.c_uint32),
                    ("ppEnabledExtensionNames", ctypes.c_void_p)]

    instance = ctypes.c_void_p()
    info = InstanceCreateInfo(sType=1)  # VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
    if vulkan_lib.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance)) != 0:
        return 0
    try:
        count = ctypes.c_uint32(0)
        vulkan_lib.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
        devices = (ctypes.c_void_p * count.value)()
        vulkan_lib.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), devices)
        gpus = 0
        for device in devices[: count.value]:
            properties = ctypes.create_string_buffer(4096)  # VkPhysicalDeviceProperties is under 1 KiB
            vulkan_lib.vkGetPhysicalDeviceProperties(ctypes.c_void_p(device), properties)
            device_type = int.from_bytes(properties.raw[16:20], "little")  # after 4 uint32 fields
            gpus += device_type in (1, 2, 3)  # integrated, discrete, virtual GPU; 4 is a CPU
        return gpus
    finally:
        vulkan_lib.vkDestroyInstance(instance, None)


def _choose_arch(backend: str) -> str:
    if backend == cpu:
        return "cpu"
    if backend in (gpu, cuda) and _cuda_device_count() > 0:
        return "cuda"
    if backend in (gpu, vulkan) and _vulkan_gpu_count() > 0:
        return "vulkan"
    logger.warning("physim: no GPU answered (backend=%r); running on the CPU instead.", backend)
    return "cpu"


def init(backend: str = gpu, precision: str = "32", seed: int | None = None,
         logging_level: str | int | None = None, debug: bool = False) -> Runtime:
    """Start physim's compute backend. Call once per process, before building scenes.

    backend: ``"gpu"`` (CUDA, then Vulkan, then CPU with a warning), ``"cpu"``, ``"cuda"``, ``"vulkan"``.
    precision: ``"32"`` or ``"64"``, the float width of every solver field.
    seed: seeds Taichi's and physim's random streams, for reproducible runs.
    debug: Taichi's bounds-checked debug mode (several times slower; for hunting bugs).

    Calling ``init`` again with the same arguments does nothing; with different ones it is an error,
    because compiled kernels and allocated scenes depend on the first choice.
    """
    global _runtime
    backend = getattr(backend, "value", backend)
    if backend not in _BACKENDS:
        raise InvalidValueError(f"init.backend: must be one of {list(_BACKENDS)}, got {backend!r}")
    precision = str(precision)
    if precision not in _PRECISIONS:
        raise InvalidValueError(f"init.precision: must be '32' or '64', got {precision!r}")
    if logging_level is not None:
        logger.setLevel(logging_level.upper() if isinstance(logging_level, str) else logging_level)
    if not logger.handlers:
        logging.basicConfig(format="[physim] %(levelname)s %(message)s")
    if _runtime is not None:
        same_choice = (precision, seed, debug) == (_runtime.precision, _runtime.seed, _runtime.debug)
        if not same_choice or (backend == cpu and _runtime.arch != "cpu"):
            raise BackendError(f"physim is already initialised with {_runtime}; init() may be called again only "
                               "with the same arguments")
        return _runtime

    # Taichi phones its version server from a thread unless this is set before ti.init.
    os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")
    import taichi as ti

    arch_name = _choose_arch(backend)
    arch = {"cpu": ti.cpu, "cuda": ti.cuda, "vulkan": ti.vulkan}[arch_name]
    ti.init(
        arch=arch,
        default_fp=ti.f32 if precision == "32" else ti.f64,
        default_ip=ti.i32,
        random_seed=0 if seed is None else int(seed),
        offline_cache=True,
        # Taichi's own IR passes cost 18 of the 20 s cold compile of the rigid step on a 2-core CPU and
        # bought no measurable speed (LLVM still optimises): 2.3 s cold, the same steps/s.
        advanced_optimization=False,
        debug=debug,
        log_level=ti.WARN,
    )
    _runtime = Runtime(arch=arch_name, precision=precision, seed=seed, debug=debug)
    logger.info("physim: Taichi running on %s, f%s", arch_name, precision)
    return _runtime


def runtime() -> Runtime:
    """The running backend; initialises with defaults (``backend="gpu"``) when the user has not."""
    if _runtime is None:
        logger.info("physim: ps.init() was not called; initialising with defaults")
        init()
    assert _runtime is not None
    return _runtime


def is_initialized() -> bool:
    return _runtime is not None
