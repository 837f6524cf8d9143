"""Moving data between numpy and Taichi ndarrays.

On the CPU backend an ndarray lives in host memory, so numpy can view it in place: no copy kernel, and
no Taichi kernel to trace the first time a dtype and shape is copied (their tracing cost about half a
second of every scene build). On a GPU the ordinary ``to_numpy``/``from_numpy`` copies are used.
"""

from __future__ import annotations

import ctypes

import numpy as np
import taichi as ti
from taichi.lang.util import to_numpy_type


def _element_shape(array) -> tuple[int, ...]:
    if hasattr(array, "m"):
        return (array.n, array.m)
    if hasattr(array, "n"):
        return (array.n,)
    return ()


def host_view(array) -> np.ndarray | None:
    """A numpy array sharing memory with ``array`` on the CPU backend, or None elsewhere. It is valid only
    while ``array`` lives: use it at once (``read`` and ``write`` do), never keep it."""
    from taichi.lang import impl

    if impl.current_cfg().arch != ti.cpu:
        return None
    shape = tuple(array.shape) + _element_shape(array)
    dtype = np.dtype(to_numpy_type(array.dtype))
    count = int(np.prod(shape)) if shape else 1
    address = impl.get_runtime().prog.get_ndarray_data_ptr_as_int(array.arr)
    buffer = (ctypes.c_byte * (count * dtype.itemsize)).from_address(address)
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


AXES = "xyz"


class ComponentArrays(tuple):
    """A vector array of shape ``shape + (3,)`` stored as one flat scalar ndarray per component (x, y, z), each
    indexed by the row-major position in ``shape`` (for kernels that gather vectors by an index, see
    ``component_arrays``). ``read`` and ``write`` take it as one array; ``component_arguments`` names its
    parts for a kernel."""

    shape: tuple[int, ...]


def component_arrays(dtype, shape: tuple[int, ...]) -> ComponentArrays:
    """A new ``ComponentArrays``. Taichi addresses a vec3 ndarray's components with a 32-bit offset each
    and a 2-D ndarray with its own strides, while flat arrays of components share one offset: a loop
    gathering its neighbours' velocities ran 1.2x faster (fastest of interleaved calls, 64k particles)."""
    parts = ComponentArrays(ti.ndarray(dtype, int(np.prod(shape))) for _ in AXES)
    parts.shape = tuple(shape)
    return parts


def component_arguments(arrays: dict) -> dict:
    """``arrays`` with each ``ComponentArrays`` given as its parts, ``name_x``, ``name_y``, ``name_z`` (a
    kernel's argument names)."""
    flat = {}
    for name, array in arrays.items():
        if isinstance(array, ComponentArrays):
            flat.update({f"{name}_{axis}": part for axis, part in zip(AXES, array)})
        else:
            flat[name] = array
    return flat


def read(array) -> np.ndarray:
    """A numpy copy of a Taichi ndarray (or of ``ComponentArrays``, stacked along a last axis)."""
    if isinstance(array, ComponentArrays):
        return np.stack([read(part).reshape(array.shape) for part in array], axis=-1)
    view = host_view(array)
    return view.copy() if view is not None else array.to_numpy()


def write(array, values) -> None:
    """Set every element of a Taichi ndarray (or of ``ComponentArrays``, from values whose last axis is the
    component) from numpy values (broadcast as numpy does)."""
    if isinstance(array, ComponentArrays):
        values = np.broadcast_to(values, array.shape + (len(array),))
        for index, part in enumerate(array):
            write(part, values[..., index].reshape(-1))
        return
    view = host_view(array)
    if view is not None:
        view[...] = values
    else:
        full = np.empty(tuple(array.shape) + _element_shape(array), to_numpy_type(array.dtype))
        full[...] = values
        array.from_numpy(full)


def upload(values: np.ndarray, dtype, element_dims: int = 0):
    """A new Taichi ndarray holding ``values``; the last ``element_dims`` axes are its element (vector or
    matrix) axes, e.g. ``upload(points, ti.math.vec3, 1)`` for points shaped (n, 3)."""
    array = ti.ndarray(dtype, values.shape[: values.ndim - element_dims])
    write(array, values)
    return array


def scalar_type(float_type: type):
    """The Taichi scalar type of a numpy float type (float32 or float64)."""
    return ti.f32 if float_type == np.float32 else ti.f64
