"""Articulated dynamics in generalized coordinates, checked against what physics says, and the robot API.

Hand-built articulations (pendulums, chains) test the physics against formulas; the arm assets test the
loaders' output through the same path a user takes (``scene.add_entity(ps.morphs.URDF(...))``).
"""

import numpy as np
import pytest
from conftest import GRAVITY, run

import physim as ps
from physim.errors import InvalidValueError
from physim.scene.robot_entity import RobotEntity
from physim.solvers.rigid import GeomSpec, Shape
from physim.solvers.rigid.articulation_model import ArticulationSpec, JointSpec, JointType, LinkGeom, LinkSpec

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])
Y_AXIS = np.array([0.0, 1.0, 0.0])


def rod_link(name, parent, pos, length, mass, joints, geoms=()):
    """A thin rod hanging down -z from its frame origin (the joint), uniform: centre of mass at length/2."""
    inertia = np.diag([mass * length**2 / 12, mass * length**2 / 12, 1e-6])
    return LinkSpec(name=name, parent=parent, pos=np.asarray(pos, float), quat=IDENTITY, joints=tuple(joints),
                    mass=mass, com=np.array([0.0, 0.0, -length / 2]), inertia=inertia, geoms=tuple(geoms))


def hinge(name, limit=None, damping=0.0):
    return JointSpec(name, JointType.REVOLUTE, axis=Y_AXIS, limit=limit, damping=damping)


def robot_scene(spec, pos=(0.0, 0.0, 2.0), dt=0.001, gravity=(0.0, 0.0, -GRAVITY), n_envs=0, ground=False,
                substeps=1):
    """A scene holding one hand-built articulation (and a ground plane if asked); returns (scene, robot)."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=dt, substeps=substeps, gravity=gravity))
    if ground:
        scene.add_entity(ps.morphs.Plane())
    robot = RobotEntity(scene, len(scene.entities), spec.name, ps.morphs.Box(size=(0.1,) * 3, pos=pos),
                        ps.materials.Rigid(), ps.surfaces.Default(), spec)
    scene.entities.append(robot)
    scene.build(n_envs=n_envs)
    return scene, robot


def kinetic_and_potential(robot, spec):
    """Kinetic and potential energy (J) of a robot from its links' poses and velocities."""
    pos, quat = robot.get_links_pos(), robot.get_links_quat()
    vel, ang = robot.get_links_vel(), robot.get_links_ang()
    from physim.utils.rotations import quat_to_matrix

    kinetic = potential = 0.0
    for i, link in enumerate(spec.links):
        rotation = quat_to_matrix(quat[i])
        arm = rotation @ link.com
        com_vel = vel[i] + np.cross(ang[i], arm)
        inertia = rotation @ link.inertia @ rotation.T
        kinetic += 0.5 * link.mass * com_vel @ com_vel + 0.5 * ang[i] @ inertia @ ang[i]
        potential += link.mass * GRAVITY * (pos[i] + arm)[2]
    return kinetic, potential


def test_pendulum_period_matches_the_small_angle_formula():
    length, mass = 0.5, 1.0
    spec = ArticulationSpec("pendulum", (rod_link("rod", -1, (0, 0, 0), length, mass, [hinge("pivot")]),))
    scene, robot = robot_scene(spec)
    robot.set_dofs_position([0.05])
    angles = []
    for _ in range(3000):
        scene.step()
        angles.append(robot.get_dofs_position()[0])
    crossings = np.flatnonzero(np.diff(np.sign(angles)) != 0) * scene.dt
    measured = 2 * np.mean(np.diff(crossings))
    # Physical pendulum: T = 2 pi sqrt(I_pivot / (m g d)), I_pivot = m L^2 / 3, d = L / 2.
    expected = 2 * np.pi * np.sqrt((mass * length**2 / 3) / (mass * GRAVITY * length / 2))
    # 0.5%: a 0.05 rad swing lengthens the period by 0.016% (theta^2 / 16); crossings are timed to dt = 1 ms.
    assert measured == pytest.approx(expected, rel=5e-3)


def test_double_pendulum_conserves_energy():
    spec = ArticulationSpec("double", (rod_link("upper", -1, (0, 0, 0), 0.4, 1.0, [hinge("shoulder")]),
                                       rod_link("lower", 0, (0, 0, -0.4), 0.3, 0.5, [hinge("elbow")])))
    scene, robot = robot_scene(spec, dt=5e-4)
    robot.set_dofs_position([1.2, -0.8])  # large, chaotic swings
    start = sum(kinetic_and_potential(robot, spec))
    swing = []
    for _ in range(4):
        run(scene, 0.5)
        kinetic, potential = kinetic_and_potential(robot, spec)
        swing.append(kinetic)
        assert abs(kinetic + potential - start) < 0.02 * 4.0  # < 2% of the ~4 J exchanged between the forms
    assert max(swing) > 2.0  # it really swings: energy moves between kinetic and potential


def test_pd_tracks_a_target_against_gravity():
    length, mass, kp, kv = 0.5, 1.0, 2000.0, 100.0
    spec = ArticulationSpec("arm", (rod_link("rod", -1, (0, 0, 0), length, mass, [hinge("pivot")]),))
    scene, robot = robot_scene(spec, dt=0.01)
    robot.set_dofs_kp([kp])
    robot.set_dofs_kv([kv])
    target = 1.0
    robot.control_dofs_position([target])
    run(scene, 3.0)
    angle = robot.get_dofs_position()[0]
    # At rest the PD torque balances gravity's: kp (target - q) = m g (L/2) sin(q) (rod hanging at q = 0).
    gravity_torque = mass * GRAVITY * length / 2 * np.sin(angle)
    assert kp * (target - angle) == pytest.approx(gravity_torque, rel=1e-2)
    assert robot.get_dofs_force()[0] == pytest.approx(gravity_torque, rel=1e-2)
    assert abs(robot.get_dofs_velocity()[0]) < 1e-3


def test_stiff_pd_on_a_light_link_is_stable_at_a_large_step():
    spec = ArticulationSpec("light", (rod_link("rod", -1, (0, 0, 0), 0.1, 0.01, [hinge("pivot")]),))
    scene, robot = robot_scene(spec, dt=0.01)
    robot.set_dofs_kp([1e4])
    robot.set_dofs_kv([10.0])
    robot.control_dofs_position([0.5])
    run(scene, 1.0)
    # Explicit PD would need dt < 2 sqrt(I / kp) ~ 1e-4 s here; the implicit update settles on the target.
    assert robot.get_dofs_position()[0] == pytest.approx(0.5, abs=1e-3)


def test_joint_limits_are_never_exceeded():
    spec = ArticulationSpec("limited", (rod_link("rod", -1, (0, 0, 0), 0.5, 1.0, [hinge("pivot", (-0.3, 0.3))]),))
    scene, robot = robot_scene(spec, dt=0.005)
    robot.control_dofs_force([30.0])  # drive it hard into the upper stop
    highest = -np.inf
    for _ in range(200):
        scene.step()
        highest = max(highest, robot.get_dofs_position()[0])
    # The stop is a speculative constraint: the joint may close its gap but not cross it (0.5 mrad rounding).
    assert highest < 0.3 + 5e-4
    assert robot.get_dofs_position()[0] == pytest.approx(0.3, abs=5e-3)
    robot.control_dofs_force([-30.0])
    run(scene, 1.0)
    assert robot.get_dofs_position()[0] == pytest.approx(-0.3, abs=5e-3)


def test_free_floating_chain_conserves_momentum_without_gravity():
    free = JointSpec("root", JointType.FREE, qpos0=np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]))
    base = LinkSpec(name="body", parent=-1, pos=np.zeros(3), quat=IDENTITY, joints=(free,), mass=2.0,
                    com=np.zeros(3), inertia=np.diag([0.02, 0.03, 0.04]))
    spec = ArticulationSpec("floater", (base, rod_link("arm1", 0, (0.1, 0, 0), 0.3, 0.5, [hinge("j1")]),
                                        rod_link("arm2", 1, (0, 0, -0.3), 0.2, 0.3, [
                                            JointSpec("j2", JointType.REVOLUTE, axis=np.array([1.0, 0, 0]))])))
    scene, robot = robot_scene(spec, dt=1e-3, gravity=(0.0, 0.0, 0.0))
    robot.set_dofs_velocity([0.3, -0.2, 0.1, 0.5, -1.0, 0.7, 3.0, -2.0])
    robot.control_dofs_force([0.02, -0.01], dofs_idx_local=[6, 7])  # internal motors: no net momentum

    def momentum():
        from physim.utils.rotations import quat_to_matrix
        pos, quat, vel, ang = (robot.get_links_pos(), robot.get_links_quat(), robot.get_links_vel(),
                               robot.get_links_ang())
        linear, angular = np.zeros(3), np.zeros(3)
        for i, link in enumerate(spec.links):
            rotation = quat_to_matrix(quat[i])
            com = pos[i] + rotation @ link.com
            com_vel = vel[i] + np.cross(ang[i], rotation @ link.com)
            linear += link.mass * com_vel
            angular += np.cross(com, link.mass * com_vel) + rotation @ link.inertia @ rotation.T @ ang[i]
        return linear, angular

    linear0, angular0 = momentum()
    run(scene, 1.0)
    linear1, angular1 = momentum()
    # Internal forces cannot change either; the tolerance is single-precision integration over 1000 steps.
    assert np.allclose(linear1, linear0, atol=2e-3 * max(1.0, np.linalg.norm(linear0)))
    assert np.allclose(angular1, angular0, atol=5e-3 * max(1.0, np.linalg.norm(angular0)))
    assert np.linalg.norm(robot.get_dofs_velocity()[6:]) > 0.5  # the arms kept moving


def test_a_hinged_bar_comes_to_rest_on_the_ground():
    length = 0.6
    bar = rod_link("bar", -1, (0, 0, 0), length, 1.0, [hinge("pivot")],
                   geoms=[LinkGeom(GeomSpec(Shape.capsule(0.02, length), pos=np.array([0, 0, -length / 2])))])
    spec = ArticulationSpec("bar", (bar,))
    # Pivot 0.3 m above the ground: the bar (0.62 m with its caps) cannot hang down; it falls onto the floor.
    scene, robot = robot_scene(spec, pos=(0.0, 0.0, 0.3), dt=0.005, ground=True)
    robot.set_dofs_position([1.5])
    run(scene, 3.0)
    angle = robot.get_dofs_position()[0]
    # Resting: the tip's capsule touches z = 0: 0.3 - (L cos a + r) = 0 within the solver's slop.
    tip_height = 0.3 - (length / 2 * np.cos(angle) + length / 2 * np.cos(angle)) - 0.02
    assert tip_height == pytest.approx(0.0, abs=3e-3)
    assert abs(robot.get_dofs_velocity()[0]) < 1e-2


def test_a_free_box_link_rests_on_the_ground():
    half = 0.05
    free = JointSpec("root", JointType.FREE, qpos0=np.array([0.0, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0]))
    box = LinkSpec(name="box", parent=-1, pos=np.zeros(3), quat=IDENTITY, joints=(free,), mass=1.0, com=np.zeros(3),
                   inertia=np.eye(3) * (2 * half) ** 2 / 6, geoms=(LinkGeom(GeomSpec(Shape.box(np.full(3, half)))),))
    scene, robot = robot_scene(ArticulationSpec("box", (box,)), pos=(0, 0, 0), dt=0.01, ground=True)
    run(scene, 1.5)
    # Resting on its face: its centre stands half a side above the floor (penetration within the slop).
    assert robot.get_pos()[2] == pytest.approx(half, abs=1.5e-3)
    assert np.linalg.norm(robot.get_dofs_velocity()) < 1e-2


@pytest.fixture(scope="module")
def arm_scene():
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01))
    scene.add_entity(ps.morphs.Plane())
    arm = scene.add_entity(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True))
    scene.build()
    return scene, arm


def test_arm_api_shapes_and_names(arm_scene):
    scene, arm = arm_scene
    assert arm.n_dofs == 9 and arm.n_links == len(arm.links)
    assert arm.get_dofs_position().shape == (9,)
    assert arm.get_links_pos().shape == (arm.n_links, 3)
    assert arm.get_jacobian(arm.links[-1]).shape == (6, 9)
    joint = arm.get_joint("joint2")
    assert joint.dofs_idx_local == [1] and joint.qs_idx_local == [1]
    with pytest.raises(InvalidValueError, match="dofs_idx_local"):
        arm.control_dofs_position([0.0], dofs_idx_local=[42])
    with pytest.raises(InvalidValueError, match="no link named"):
        arm.get_link("tentacle")


def test_jacobian_maps_joint_velocity_to_link_velocity(arm_scene):
    scene, arm = arm_scene
    scene.reset()
    arm.set_dofs_position([0.3, 0.5, -0.2, -1.0, 0.4, 0.6, 0.1, 0.0, 0.0])
    velocity = np.array([0.2, -0.1, 0.3, 0.2, -0.4, 0.1, 0.5, 0.0, 0.0])
    arm.set_dofs_velocity(velocity)
    hand = arm.links[7]
    jacobian = arm.get_jacobian(hand)
    scene.step()
    # One step later the link velocity follows from the joint velocities (gravity changes them a little).
    predicted = jacobian @ arm.get_dofs_velocity()
    assert np.allclose(hand.get_vel(), predicted[:3], atol=5e-2)
    assert np.allclose(hand.get_ang(), predicted[3:], atol=5e-2)


def test_batched_equals_single():
    def trajectory(n_envs):
        scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01))
        scene.add_entity(ps.morphs.Plane())
        arm = scene.add_entity(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True))
        scene.build(n_envs=n_envs)
        arm.set_dofs_kp(np.full(9, 400.0))
        arm.set_dofs_kv(np.full(9, 40.0))
        arm.control_dofs_position([0.5, 0.4, 0.0, -1.2, 0.0, 0.8, 0.0, 0.02, 0.02])
        run(scene, 0.5)
        return arm.get_qpos()

    single = trajectory(0)
    batched = trajectory(3)
    assert batched.shape == (3, single.shape[0])
    assert np.allclose(batched, single[None], atol=1e-6)


def test_state_snapshot_replays_exactly(arm_scene):
    scene, arm = arm_scene
    scene.reset()
    arm.set_dofs_kp(np.full(9, 300.0))
    arm.control_dofs_position([0.2, 0.3, 0.1, -0.8, 0.0, 0.5, 0.0, 0.01, 0.01])
    run(scene, 0.1)
    state = scene.get_state()
    run(scene, 0.2)
    after = arm.get_qpos()
    scene.set_state(state)
    run(scene, 0.2)
    assert np.array_equal(arm.get_qpos(), after)


def test_urdf_and_mjcf_arms_behave_the_same():
    def pose_after_pd(morph):
        scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01))
        scene.add_entity(ps.morphs.Plane())
        arm = scene.add_entity(morph)
        scene.build()
        arm.set_dofs_kp(np.full(9, 400.0))
        arm.set_dofs_kv(np.full(9, 40.0))
        arm.control_dofs_position([0.5, 0.4, 0.0, -1.2, 0.0, 0.8, 0.0, 0.02, 0.02])
        run(scene, 1.0)
        return np.r_[arm.get_qpos(), arm.get_link("tcp").get_pos(), arm.get_link("left_finger").get_pos()]

    urdf = pose_after_pd(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True))
    mjcf = pose_after_pd(ps.morphs.MJCF(file="robots/arm7.xml"))
    # The same arm in two formats (the URDF's hand and tcp merged into link7, the MJCF's kept as welded
    # bodies): the same motion, to single-precision rounding.
    assert np.allclose(urdf, mjcf, atol=1e-4)


def test_mjcf_position_actuators_set_the_gains():
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01))
    arm = scene.add_entity(ps.morphs.MJCF(file="robots/arm7.xml"))
    scene.build()
    kp = {actuator.joint: actuator.kp for actuator in arm.spec.actuators}
    assert arm.get_dofs_kp()[arm.get_joint("joint1").dof_idx_local] == kp["joint1"] > 0
    # MuJoCo's zero control holds position 0: the arm stays up (against gravity, within the PD sag).
    run(scene, 1.0)
    assert np.all(np.abs(arm.get_dofs_position()) < 0.05)


def test_inverse_kinematics_reaches_within_a_millimetre(arm_scene):
    scene, arm = arm_scene
    scene.reset()
    hand = arm.get_link("tcp")
    target = np.array([0.4, 0.2, 0.3])
    qpos = arm.inverse_kinematics(hand, pos=target, quat=[0.0, 1.0, 0.0, 0.0], max_iters=200)
    arm.set_qpos(qpos)
    assert np.linalg.norm(hand.get_pos() - target) < 1e-3


def test_batched_commands_reach_only_their_envs():
    spec = ArticulationSpec("arm", (rod_link("rod", -1, (0, 0, 0), 0.5, 1.0, [hinge("pivot")]),))
    scene, robot = robot_scene(spec, dt=0.01, n_envs=3)
    robot.set_dofs_kp([200.0])
    robot.set_dofs_kv([20.0])
    robot.control_dofs_position([0.5])
    robot.control_dofs_position(np.array([[-0.5]]), envs_idx=[1])
    robot.set_gravity_compensation(1.0, envs_idx=[2])
    run(scene, 2.0)
    angles = robot.get_dofs_position()[:, 0]
    assert angles.shape == (3,)
    assert angles[1] == pytest.approx(-angles[0], abs=1e-4)  # mirror targets, mirror sag
    assert angles[2] == pytest.approx(0.5, abs=1e-4)  # compensated: no sag
    assert angles[0] < 0.5 - 5e-3  # uncompensated: gravity sags it by m g (L/2) sin(q) / kp = 6 mrad


def test_a_blow_up_names_the_robot():
    spec = ArticulationSpec("wobbly", (rod_link("rod", -1, (0, 0, 0), 0.5, 1.0, [hinge("pivot")]),))
    scene, robot = robot_scene(spec, dt=0.01)
    robot.control_dofs_force([3e38])  # beyond single precision once integrated
    with pytest.raises(ps.errors.SimulationDivergedError, match="wobbly"):
        run(scene, 0.1)
