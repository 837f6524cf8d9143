"""Prepared kernel launches give what ordinary Taichi calls give, and are really in use."""

import numpy as np
import taichi as ti
from conftest import make_scene

import physim as ps
from physim.utils.launch import PreparedKernel


@ti.kernel
def scale_and_sum(values: ti.types.ndarray(dtype=ti.f32, ndim=1), factor: ti.f32, repeat: ti.i32,
                  serial: ti.template()) -> ti.f32:
    ti.loop_config(serialize=serial)
    for i in range(values.shape[0]):
        for _ in range(repeat):
            values[i] *= factor
    total = 0.0
    for i in range(values.shape[0]):
        total += values[i]
    return total


def test_prepared_launches_match_ordinary_calls():
    ordinary = ti.ndarray(ti.f32, 5)
    prepared_array = ti.ndarray(ti.f32, 5)
    for array in (ordinary, prepared_array):
        array.from_numpy(np.arange(1, 6, dtype=np.float32))
    prepared = PreparedKernel(scale_and_sum, values=prepared_array, serial=True)
    for factor, repeat in [(2.0, 1), (0.5, 3), (1.5, 2)]:
        expected = scale_and_sum(ordinary, factor, repeat, True)
        assert prepared(factor=factor, repeat=repeat) == expected
    np.testing.assert_array_equal(prepared_array.to_numpy(), ordinary.to_numpy())
    assert prepared._fast is not None  # the fast path is in use, not the fallback
    assert prepared._fast[-1] is not None  # on the CPU, one launch context filled once serves every launch


def test_a_reused_launch_context_sees_an_arrays_new_contents():
    """The reused context holds the array's memory, not a copy: what the host writes between launches is
    what the next launch reads."""
    values = ti.ndarray(ti.f32, 4)
    prepared = PreparedKernel(scale_and_sum, values=values, serial=True)
    for start in (1.0, 10.0, -3.0):
        values.from_numpy(np.full(4, start, np.float32))
        assert prepared(factor=2.0, repeat=1) == 8.0 * start
        np.testing.assert_array_equal(values.to_numpy(), np.full(4, 2.0 * start, np.float32))


def test_rigid_steps_use_the_prepared_launch():
    scene, (box,) = make_scene((ps.morphs.Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.3)), ps.materials.Rigid()))
    for _ in range(3):
        scene.step()
    assert scene._rigid_solver._launch._fast is not None


@ti.data_oriented
class Counter:
    """A class whose kernel is a method: Taichi must still see it as one (class detection shortcut)."""

    def __init__(self) -> None:
        self.values = ti.field(ti.f32, 4)

    @ti.func
    def doubled(self, i):
        return 2.0 * self.values[i]

    @ti.kernel
    def fill_and_sum(self, value: ti.f32) -> ti.f32:
        for i in self.values:
            self.values[i] = value
        total = 0.0
        for i in range(4):
            total += self.doubled(i)
        return total


@ti.kernel
def misspelt(values: ti.types.ndarray(dtype=ti.f32, ndim=1)):
    for i in range(values.shape[0]):
        values[i] = undefined_name  # noqa: F821 - the error under test


def test_taichi_front_end_shortcuts_change_nothing_taichi_sees():
    from taichi.lang import kernel_impl

    assert kernel_impl._inside_class.__module__ == "physim.utils.taichi_frontend"  # installed
    assert Counter().fill_and_sum(1.5) == 12.0  # a data-oriented method kernel still compiles as one
    # The kept source positions are Taichi's own messages: file, line, the line itself, a caret under the name.
    messages = []
    for _ in range(2):  # the second compile attempt reads the kept message
        try:
            misspelt(np.zeros(3, np.float32))
        except ti.TaichiNameError as error:
            messages.append(str(error))
    assert len(messages) == 2 and messages[0] == messages[1]
    assert 'test_launch.py", line' in messages[0] and "values[i] = undefined_name" in messages[0]
    assert "^^^^^^^^^^^^^^" in messages[0] and 'Name "undefined_name" is not defined' in messages[0]
