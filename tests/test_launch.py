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


def test_rigid_steps_use_the_prepared_launch():
    scene, (box,) = make_scene((ps.morphs.Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.3)), ps.materials.Rigid()))
    for _ in range(3):
        scene.step()
    assert scene._rigid_solver._launch._fast is not None
