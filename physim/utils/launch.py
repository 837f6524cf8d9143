"""Launching one Taichi kernel many times with the same arrays, without paying Taichi's per-call
argument processing each time.

On the CPU, Taichi 1.7 spends about 6 microseconds of Python per ndarray argument on every call (type
checks, template lookup, argument packing): for a solver step taking two dozen arrays that is more than
the step itself in a small scene. A solver passes the same arrays every step, so the checks and the
compiled-kernel lookup are done once; each call only fills a fresh launch context from the prepared
argument slots. If Taichi's internals ever differ from what this expects, it falls back to the ordinary
call (same results, slower).

Filling a context still costs about 2.4 microseconds per ndarray (31 arrays: a fifth of a resting 64-box
step), and a context that held ndarrays must not be launched twice (the launch writes raw pointers over the
ndarray handles it holds: a second launch crashes). On the CPU an ndarray's memory is host memory, so the
arrays go into one context as raw host pointers (as Taichi passes numpy arrays), which a launch leaves
untouched: that context is filled once and launched again and again, only the scalars set per call.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

logger = logging.getLogger("physim")


class PreparedKernel:
    """``kernel`` bound to fixed array arguments; ``__call__(**scalars)`` launches it.

    arrays: every ndarray and template argument, by name (they must not be reallocated; build a new
    PreparedKernel if they are). The first call goes through Taichi normally, which compiles the kernel.
    """

    def __init__(self, kernel: Any, optimize: bool = False, **arrays: Any) -> None:
        self.kernel = kernel
        self.optimize = optimize  # compile under ``optimizing_compiler``
        self.arrays = arrays
        self._fast = None

    def __call__(self, **scalars: Any) -> Any:
        if self._fast is not None:
            return self._launch(scalars)
        with optimizing_compiler(self.optimize):
            result = self.kernel(**self.arrays, **scalars)
        try:
            with optimizing_compiler(self.optimize):
                self._prepare(scalars)
        except Exception as error:  # noqa: BLE001 - any mismatch with Taichi internals: stay on the slow path
            logger.debug("physim: prepared kernel launches unavailable (%s); using ordinary calls", error)
            self._fast = None
            self._prepare = lambda _scalars: None  # type: ignore[method-assign]
        return result

    def _prepare(self, scalars: dict[str, Any]) -> None:
        from taichi.lang import impl
        from taichi.types.annotations import template

        primal = self.kernel._primal
        names = [argument.name for argument in primal.arguments]
        values = {**self.arrays, **scalars}
        ordered = [values[name] for name in names]
        key = primal.ensure_compiled(*ordered)
        t_kernel = primal.compiled_kernels[key]
        array_slots, scalar_slots = [], {}
        slot = 0
        for argument, value in zip(primal.arguments, ordered):
            if isinstance(argument.annotation, template):
                continue
            if argument.name in scalars:
                scalar_slots[argument.name] = (slot, isinstance(value, int))
            else:
                array_slots.append(((slot,), value.arr))
            slot += 1
        program = impl.get_runtime().prog
        compiled = program.compile_kernel(program.config(), program.get_device_caps(), t_kernel)
        reused = None
        if _host_memory(program):
            reused = t_kernel.make_launch_context()
            for index, array in array_slots:
                reused.set_arg_external_array_with_shape(index, program.get_ndarray_data_ptr_as_int(array),
                                                         array.nelement() * array.element_size(), list(array.shape),
                                                         0)
        self._fast = (program, compiled, t_kernel, array_slots, scalar_slots, primal, reused)

    def _launch(self, scalars: dict[str, Any]) -> Any:
        from taichi.lang import runtime_ops

        program, compiled, t_kernel, array_slots, scalar_slots, primal, context = self._fast
        if context is None:
            context = t_kernel.make_launch_context()
            for index, array in array_slots:
                context.set_arg_ndarray(index, array)
        for name, value in scalars.items():
            slot, is_int = scalar_slots[name]
            if is_int:
                context.set_arg_int((slot,), int(value))
            else:
                context.set_arg_float((slot,), float(value))
        program.launch_kernel(compiled, context)
        if primal.return_type is None:
            return None
        runtime_ops.sync()
        return primal.construct_kernel_ret(context, primal.return_type[0], (0,))


def _host_memory(program: Any) -> bool:
    """Whether Taichi keeps ndarrays in host memory (its CPU backends)."""
    from taichi._lib import core

    return program.config().arch in (core.Arch.x64, core.Arch.arm64)


@contextlib.contextmanager
def optimizing_compiler(active: bool = True):
    """Compile kernels (the particle solvers' loops) with Taichi's own IR optimisations on, whatever ``ps.init``
    chose, but without its control-flow-graph pass.

    physim initialises Taichi with ``advanced_optimization=False`` because those passes cost most of the
    rigid step's compile time and bought it no speed. In the MPM particle loops they buy 20% (P2G with its
    constitutive update: 4.8 -> 3.7 ms at 50k particles on one core here); the control-flow-graph pass
    (store-to-load forwarding) buys nothing more there and costs 6 s of cold compile. In the SPH solve
    iterations they buy 1.3-2.8x (measured, 16k particles, under varying load). Compile options are part
    of Taichi's cache key, so these kernels are cached compiled this way. They are set only while the kernels
    compile on their first launch (``active``), not around the grid hooks, which belong to other modules.
    """
    if not active:
        yield
        return
    import taichi as ti

    config = ti.lang.impl.current_cfg()
    before = config.advanced_optimization, config.cfg_optimization
    config.advanced_optimization, config.cfg_optimization = True, False
    try:
        yield
    finally:
        config.advanced_optimization, config.cfg_optimization = before
