"""Long, contact-heavy runs (marker ``slow``; CI runs them after the fast suite)."""

import dataclasses

import numpy as np
import pytest

import physim as ps

pytestmark = pytest.mark.slow


def test_two_hundred_mixed_objects_poured_into_a_bin_settle_inside_it():
    half = 0.3
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, substeps=2))
    scene.add_entity(ps.morphs.Plane())
    for sign in (-1, 1):
        wall = ps.morphs.Box(size=(0.04, 2 * half + 0.08, 0.3), pos=(sign * (half + 0.02), 0, 0.15), fixed=True)
        scene.add_entity(wall)
        scene.add_entity(ps.morphs.Box(size=(2 * half, 0.04, 0.3), pos=(0, sign * (half + 0.02), 0.15), fixed=True))
    templates = [ps.morphs.Box(size=(0.06, 0.06, 0.06)), ps.morphs.Sphere(radius=0.03),
                 ps.morphs.Capsule(radius=0.02, height=0.05), ps.morphs.Cylinder(radius=0.03, height=0.04),
                 ps.morphs.Mesh(file="meshes/rock.ply", scale=0.5)]
    rng = np.random.default_rng(0)
    objects = []
    for index in range(200):
        layer, slot = divmod(index, 16)
        row, column = divmod(slot, 4)
        pos = (-0.12 + 0.08 * column, -0.12 + 0.08 * row, 0.4 + 0.08 * layer)
        morph = dataclasses.replace(templates[index % len(templates)], pos=pos, euler=tuple(rng.uniform(0, 360, 3)),
                                    quat=None)
        objects.append(scene.add_entity(morph, material=ps.materials.Rigid(rho=800, friction=0.5)))
    scene.build()
    for _ in range(500):
        scene.step()  # raises SimulationDivergedError if anything goes non-finite
    positions = np.array([o.get_pos() for o in objects])
    speeds = np.array([np.linalg.norm(o.get_vel()) for o in objects])
    assert np.all(np.abs(positions[:, :2]) < half)  # nothing tunnelled through a wall
    assert positions[:, 2].min() > 0.0  # nor through the floor
    assert np.mean(speeds < 0.05) > 0.95  # and the pile has come to rest


def test_a_thousand_boxes_dropped_in_a_grid_come_to_rest():
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    side = 16
    boxes = [scene.add_entity(ps.morphs.Box(size=(0.1, 0.1, 0.1), pos=(0.15 * (i % side), 0.15 * (i // side % side),
                                                                        0.1 + 0.15 * (i // side**2))))
             for i in range(1000)]
    scene.build()
    for _ in range(300):
        scene.step()
    heights = np.array([b.get_pos()[2] for b in boxes])
    assert heights.min() > 0.045
    assert max(np.linalg.norm(b.get_vel()) for b in boxes) < 0.05
