"""Contact-rich rigid scenes: slopes, stacks, energy, meshes, filtering, determinism."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import GRAVITY, make_scene, run

import physim as ps
from physim.utils.rotations import quat_to_matrix

Box, Sphere, Mesh, Rigid = ps.morphs.Box, ps.morphs.Sphere, ps.morphs.Mesh, ps.materials.Rigid
SLOPE = np.radians(30.0)


def box_on_slope(mu):
    scene = ps.Scene()
    normal = (-np.sin(SLOPE), 0.0, np.cos(SLOPE))
    scene.add_entity(ps.morphs.Plane(normal=normal), material=Rigid(friction=mu))
    box = scene.add_entity(Box(size=(0.1, 0.1, 0.1), pos=0.05 * np.array(normal), euler=(0, -30, 0)),
                           material=Rigid(friction=mu))
    scene.build()
    return scene, box


def test_box_sticks_on_a_slope_when_friction_exceeds_tan_theta():
    scene, box = box_on_slope(mu=0.7)  # tan 30 = 0.577
    start = box.get_pos()
    run(scene, 3.0)
    assert np.linalg.norm(box.get_pos() - start) < 1e-3
    assert np.linalg.norm(box.get_vel()) < 1e-3


def test_box_slides_down_a_slope_at_g_sin_minus_mu_cos():
    mu = 0.3
    scene, box = box_on_slope(mu)
    run(scene, 1.0)
    downhill = np.array([-np.cos(SLOPE), 0.0, -np.sin(SLOPE)])
    expected = GRAVITY * (np.sin(SLOPE) - mu * np.cos(SLOPE))
    assert box.get_vel() @ downhill == pytest.approx(expected * scene.t, rel=0.02)
    np.testing.assert_allclose(box.get_ang(), 0.0, atol=1e-2)  # it slides, it does not tumble


def test_ten_box_tower_stands_for_ten_seconds():
    scene, boxes = make_scene(*[(Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.05 + 0.1 * level)), Rigid())
                                for level in range(10)])
    run(scene, 10.0)
    for level, box in enumerate(boxes):
        np.testing.assert_allclose(box.get_pos(), (0, 0, 0.05 + 0.1 * level), atol=3e-3)
    assert max(np.linalg.norm(box.get_vel()) for box in boxes) < 1e-2


def test_ten_row_pyramid_stands_for_ten_seconds():
    entities, rest = [], []
    for row in range(10):
        for column in range(10 - row):
            pos = (0.105 * (column - (9 - row) / 2), 0.0, 0.05 + 0.1 * row)
            entities.append((Box(size=(0.1, 0.1, 0.1), pos=pos), Rigid(friction=0.6)))
            rest.append(pos)
    scene, boxes = make_scene(*entities)
    run(scene, 10.0)
    final = np.array([box.get_pos() for box in boxes])
    np.testing.assert_allclose(final, rest, atol=5e-3)


def kinetic_energy(handles):
    total = 0.0
    for handle in handles:
        spec = handle.scene._rigid_specs[handle.idx]
        mass, _, inertia = spec.mass_properties()
        rotation = quat_to_matrix(handle.get_quat())
        omega = handle.get_ang()
        # get_vel is the frame origin's; for these centred shapes the centre of mass is the origin.
        world_inertia = rotation @ inertia @ rotation.T
        total += 0.5 * mass * handle.get_vel() @ handle.get_vel() + 0.5 * omega @ world_inertia @ omega
    return total


def test_energy_never_grows_in_a_closed_system():
    rng = np.random.default_rng(1)
    entities = [(Box(size=(0.1, 0.08, 0.06), pos=(0.15 * i - 0.3, 0.02 * i, 0.3 + 0.2 * i),
                     euler=tuple(rng.uniform(0, 90, 3))), Rigid(friction=0.5)) for i in range(5)]
    entities += [(Sphere(radius=0.05, pos=(0.1 * i - 0.1, 0.1, 0.5 + 0.15 * i)), Rigid()) for i in range(3)]
    scene, handles = make_scene(*entities)
    def energy():
        potential = sum(h.mass * GRAVITY * h.get_pos()[2] for h in handles)
        return kinetic_energy(handles) + potential
    start = energy()
    previous = start
    for _ in range(300):
        scene.step()
        now = energy()
        assert now <= previous + 1e-4 * start, f"energy grew at step {scene.cur_step}: {previous} -> {now}"
        previous = now
    assert previous < start  # contacts dissipated some


def test_zero_gravity_collisions_do_not_create_energy():
    scene, handles = make_scene(
        (Box(size=(0.1, 0.1, 0.1), pos=(-0.3, 0.0, 1.0), euler=(10, 20, 30)), Rigid()),
        (Box(size=(0.1, 0.1, 0.1), pos=(0.3, 0.03, 1.0)), Rigid()),
        (Sphere(radius=0.06, pos=(0.0, 0.35, 1.02)), Rigid()), gravity=(0, 0, 0))
    handles[0].set_vel((1.5, 0.0, 0.0))
    handles[2].set_vel((0.0, -1.5, 0.0))
    start = kinetic_energy(handles)
    for _ in range(100):
        scene.step()
        assert kinetic_energy(handles) <= start * (1 + 1e-4)


def test_mesh_rests_on_a_box_without_sinking():
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    scene.add_entity(Box(size=(0.6, 0.6, 0.2), pos=(0, 0, 0.1), fixed=True))
    rock = scene.add_entity(Mesh(file="meshes/rock.ply", pos=(0, 0, 0.4), euler=(20, 30, 0)), material=Rigid(rho=2500))
    scene.build()
    run(scene, 2.0)
    assert np.linalg.norm(rock.get_vel()) < 1e-2
    vertices = scene._visuals[rock.idx].vertices
    world = vertices @ quat_to_matrix(rock.get_quat()).T + rock.get_pos()
    assert world[:, 2].min() == pytest.approx(0.2, abs=3e-3)  # touching the table top, not in it


def test_mesh_rests_on_a_mesh():
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    lower = scene.add_entity(Mesh(file="meshes/rock.ply", pos=(0, 0, 0.05), fixed=True))
    upper = scene.add_entity(Mesh(file="meshes/rock.ply", pos=(0, 0, 0.2), euler=(0, 0, 90)), material=Rigid(rho=2500))
    scene.build()
    run(scene, 2.0)
    assert np.linalg.norm(upper.get_vel()) < 1e-2
    assert upper.get_pos()[2] > lower.get_pos()[2] + 0.03  # on top of it, not through it


def ball_through_ring(decompose):
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    scene.add_entity(Mesh(file="meshes/torus.obj", scale=3.0, decompose=decompose, fixed=True,
                          pos=(0, 0, 0.045)))  # a ring lying flat: hole radius 0.06 m, tube radius 0.045 m
    ball = scene.add_entity(Sphere(radius=0.03, pos=(0, 0, 0.3)))
    scene.build()
    run(scene, 1.5)
    return ball.get_pos()[2]


def test_convex_decomposition_lets_a_ball_fall_through_a_ring():
    assert ball_through_ring(decompose=False) == pytest.approx(0.09 + 0.03, abs=5e-3)  # on the hull's top
    assert ball_through_ring(decompose=True) == pytest.approx(0.03, abs=3e-3)  # through the hole


def test_collision_filter_masks_let_bodies_pass_through_each_other():
    ghost = Rigid(contype=2, conaffinity=1)  # touches the ground (1/1) but not another ghost
    scene, (lower, upper) = make_scene((Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.05)), ghost),
                                       (Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.3)), ghost))
    run(scene, 1.0)
    assert upper.get_pos()[2] == pytest.approx(0.05, abs=2e-3)
    assert lower.get_pos()[2] == pytest.approx(0.05, abs=2e-3)


DETERMINISM_SCRIPT = """
import hashlib, numpy as np, physim as ps
ps.init(backend="cpu", seed=0)
scene = ps.Scene()
scene.add_entity(ps.morphs.Plane())
rng = np.random.default_rng(3)
for i in range(12):
    pos = (rng.uniform(-.2, .2), rng.uniform(-.2, .2), 0.2 + 0.15 * i)
    scene.add_entity(ps.morphs.Box(size=(0.1, 0.1, 0.1), pos=pos, euler=tuple(rng.uniform(0, 90, 3))))
scene.build(n_envs=2)
for _ in range(200):
    scene.step()
state = scene.get_state()["rigid"]
arrays = [np.ascontiguousarray(state[key]).tobytes() for key in ("pos", "quat", "lin_vel", "ang_vel")]
print(hashlib.sha256(b"".join(arrays)).hexdigest())
"""


def test_two_processes_give_bit_identical_results():
    env = dict(os.environ, TI_SKIP_VERSION_CHECK="ON")
    digests = [subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], env=env, capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.split()[-1] for _ in range(2)]
    assert digests[0] == digests[1]


def test_a_stack_moves_the_same_whatever_happens_elsewhere_in_the_scene():
    # Bodies that touch nothing in common do not act on each other, so the solve must not couple them either:
    # a three-box stack settling on the floor moves exactly as it does alone while a box lands 2 m away (a
    # fresh impact that takes many more sweeps than the resting stack needs).
    stack = [(Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.05 + 0.1 * level)), Rigid()) for level in range(3)]
    alone, alone_boxes = make_scene(*stack)
    beside, beside_boxes = make_scene(*stack, (Box(size=(0.1, 0.1, 0.1), pos=(2.0, 0, 0.6),
                                                   euler=(20, 30, 0)), Rigid()))
    for _ in range(60):
        alone.step()
        beside.step()
    for box, twin in zip(alone_boxes, beside_boxes[:3]):
        np.testing.assert_array_equal(box.get_pos(), twin.get_pos())  # bit for bit: the same sweeps, same order
        np.testing.assert_array_equal(box.get_quat(), twin.get_quat())
    assert beside_boxes[3].get_pos()[2] < 0.1  # the far box did land meanwhile
