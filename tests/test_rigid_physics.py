"""The rigid solver against what mechanics says."""

import numpy as np
import pytest
from conftest import GRAVITY, make_scene, run

import physim as ps

Box, Sphere, Capsule, Cylinder = ps.morphs.Box, ps.morphs.Sphere, ps.morphs.Capsule, ps.morphs.Cylinder
Rigid = ps.materials.Rigid


def test_free_fall_follows_ballistics():
    scene, (ball,) = make_scene((Sphere(radius=0.05, pos=(0, 0, 2.0)), Rigid()))
    run(scene, 0.4)
    t = 0.4
    assert ball.get_vel()[2] == pytest.approx(-GRAVITY * t, rel=1e-5)
    # Semi-implicit Euler lands within g dt t / 2 of the parabola.
    assert ball.get_pos()[2] == pytest.approx(2.0 - GRAVITY * t**2 / 2, abs=GRAVITY * scene.dt * t / 2 + 1e-6)
    np.testing.assert_allclose(ball.get_pos()[:2], 0.0, atol=1e-7)


@pytest.mark.parametrize("morph, rest_height", [
    (Box(size=(0.1, 0.2, 0.3), pos=(0, 0, 0.15)), 0.15),
    (Sphere(radius=0.07, pos=(0, 0, 0.07)), 0.07),
    (Capsule(radius=0.05, height=0.3, pos=(0, 0, 0.05), euler=(90, 0, 0)), 0.05),
    (Cylinder(radius=0.1, height=0.2, pos=(0, 0, 0.1)), 0.1),
])
def test_body_placed_on_the_plane_stays_at_rest(morph, rest_height):
    scene, (body,) = make_scene((morph, Rigid()))
    start_quat = body.get_quat()
    run(scene, 3.0)
    assert body.get_pos()[2] == pytest.approx(rest_height, abs=1e-3)
    np.testing.assert_allclose(body.get_pos()[:2], 0.0, atol=1e-4)
    assert np.linalg.norm(body.get_vel()) < 1e-3
    assert np.linalg.norm(body.get_ang()) < 1e-2
    assert abs(np.dot(body.get_quat(), start_quat)) == pytest.approx(1.0, abs=1e-5)


def test_dropped_box_comes_to_rest_on_its_face_without_jitter():
    scene, (box,) = make_scene((Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.5), euler=(0, 0, 30)), Rigid()))
    run(scene, 2.0)
    heights = []
    for _ in range(100):
        scene.step()
        heights.append(box.get_pos()[2])
    assert np.mean(heights) == pytest.approx(0.05, abs=1e-3)
    assert np.ptp(heights) < 1e-5  # no jitter
    assert np.linalg.norm(box.get_vel()) < 1e-3


def test_sliding_box_stops_where_coulomb_friction_says():
    mu, v0 = 0.5, 2.0
    scene, (box,) = make_scene((Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.05)), Rigid(friction=mu)),
                               ground=Rigid(friction=mu))
    box.set_vel((v0, 0.0, 0.0))
    scene.step()
    run(scene, 0.2)
    # While sliding, dv/dt = -mu g.
    assert box.get_vel()[0] == pytest.approx(v0 - mu * GRAVITY * scene.t, abs=0.02)
    run(scene, 1.0)
    assert np.linalg.norm(box.get_vel()) < 1e-3
    assert box.get_pos()[0] == pytest.approx(v0**2 / (2 * mu * GRAVITY), rel=0.03)


def test_sliding_sphere_decelerates_then_rolls_at_five_sevenths():
    mu, v0, radius = 0.2, 2.0, 0.1
    scene, (ball,) = make_scene((Sphere(radius=radius, pos=(0, 0, radius)), Rigid(friction=mu)),
                                ground=Rigid(friction=mu))
    ball.set_vel((v0, 0.0, 0.0))
    slip_time = 2 * v0 / (7 * mu * GRAVITY)
    run(scene, slip_time / 2)
    assert ball.get_vel()[0] == pytest.approx(v0 - mu * GRAVITY * scene.t, rel=0.02)
    run(scene, slip_time)
    assert ball.get_vel()[0] == pytest.approx(5 / 7 * v0, rel=0.02)
    # Rolling without slipping: the contact point is at rest, v = omega r.
    assert ball.get_ang()[1] * radius == pytest.approx(ball.get_vel()[0], rel=0.02)


def test_batched_envs_evolve_like_single_scenes():
    heights = np.array([0.3, 0.6, 1.0])
    scene, (box,) = make_scene((Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 1.0)), Rigid()), n_envs=3)
    box.set_pos(np.c_[np.zeros((3, 2)), heights])
    box.set_vel((0.5, 0.0, 0.0), envs_idx=[2])
    run(scene, 0.25)
    batched = box.get_pos()
    assert batched.shape == (3, 3)
    for env, height in enumerate(heights):
        single_scene, (single,) = make_scene((Box(size=(0.1, 0.1, 0.1), pos=(0, 0, height)), Rigid()))
        if env == 2:
            single.set_vel((0.5, 0.0, 0.0))
        run(single_scene, 0.25)
        np.testing.assert_array_equal(batched[env], single.get_pos())


def test_same_inputs_give_bit_identical_results():
    def simulate():
        boxes = [Box(size=(0.1, 0.1, 0.1), pos=(0.03 * i, 0, 0.2 + 0.12 * i), euler=(10 * i, 5, 0)) for i in range(5)]
        scene, handles = make_scene(*[(box, Rigid()) for box in boxes])
        run(scene, 1.0)
        return np.array([h.get_pos() for h in handles]), np.array([h.get_quat() for h in handles])

    first, second = simulate(), simulate()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_reset_and_state_snapshot_replay_exactly():
    scene, (box,) = make_scene((Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.4), euler=(20, 10, 0)), Rigid()))
    run(scene, 0.3)
    snapshot = scene.get_state()
    run(scene, 0.5)
    later = box.get_pos()
    scene.set_state(snapshot)
    run(scene, 0.5)
    np.testing.assert_array_equal(box.get_pos(), later)
    scene.reset()
    np.testing.assert_allclose(box.get_pos(), (0, 0, 0.4), atol=1e-7)
    assert scene.t == 0.0


def test_stack_of_boxes_stands():
    scene, boxes = make_scene(*[(Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.05 + 0.1 * i)), Rigid()) for i in range(4)])
    run(scene, 3.0)
    for level, box in enumerate(boxes):
        np.testing.assert_allclose(box.get_pos(), (0, 0, 0.05 + 0.1 * level), atol=2e-3)


def test_restitution_bounce_reaches_e_squared_of_drop_height():
    restitution, drop = 0.8, 1.0
    scene, (ball,) = make_scene((Sphere(radius=0.05, pos=(0, 0, drop + 0.05)), Rigid(restitution=restitution)),
                                dt=0.002)
    run(scene, 0.5)  # falling takes 0.45 s
    peak = 0.0
    for _ in range(500):
        scene.step()
        peak = max(peak, ball.get_pos()[2] - 0.05)
    assert peak == pytest.approx(restitution**2 * drop, rel=0.05)


def test_zero_gravity_collision_conserves_momentum():
    scene, (left, right) = make_scene(
        (Sphere(radius=0.1, pos=(-0.3, 0, 1.0)), Rigid(rho=1000)),
        (Box(size=(0.2, 0.2, 0.2), pos=(0.3, 0.02, 1.0)), Rigid(rho=300)),
        gravity=(0, 0, 0))
    left.set_vel((2.0, 0.0, 0.0))
    before = left.mass * left.get_vel() + right.mass * right.get_vel()
    run(scene, 0.5)
    assert right.get_vel()[0] > 0.5  # they did collide
    after = left.mass * left.get_vel() + right.mass * right.get_vel()
    np.testing.assert_allclose(after, before, atol=1e-3 * np.linalg.norm(before))


def test_reset_of_some_envs_leaves_the_others_running():
    scene, (box,) = make_scene((Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.5)), Rigid()), n_envs=3)
    box.set_vel((1.0, 0.0, 0.0), envs_idx=[0, 1, 2])
    run(scene, 0.2)
    moved = box.get_pos()
    scene.reset(envs_idx=[1])
    after = box.get_pos()
    np.testing.assert_allclose(after[1], (0, 0, 0.5), atol=1e-7)
    np.testing.assert_array_equal(after[[0, 2]], moved[[0, 2]])
    np.testing.assert_allclose(box.get_vel()[1], 0.0, atol=1e-7)
    run(scene, 0.3)  # the reset env falls again from rest, the others keep sliding
    assert box.get_pos()[1][0] == pytest.approx(0.0, abs=1e-6)
    assert box.get_pos()[0][0] > 0.2
