"""Joint-level physics of articulations beyond the ideal hinge: dry friction (MuJoCo's frictionloss).

Hand-built articulations, checked against what Coulomb friction in a joint says: the joint holds while the
applied torque stays below the friction torque, slides with (torque - friction) / inertia above it, and a
swinging pendulum loses exactly friction torque x angle travelled until static friction holds it.
"""

import numpy as np
import pytest
from conftest import GRAVITY

import physim as ps
from physim.errors import InvalidValueError
from physim.scene.robot_entity import RobotEntity
from physim.solvers.rigid.articulation_model import ArticulationSpec, JointSpec, JointType, LinkSpec

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def robot_scene(spec, dt=0.001, n_envs=0):
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=dt, gravity=(0.0, 0.0, -GRAVITY)))
    robot = RobotEntity(scene, 0, spec.name, ps.morphs.Box(size=(0.1,) * 3, pos=(0.0, 0.0, 1.0)),
                        ps.materials.Rigid(), ps.surfaces.Default(), spec)
    scene.entities.append(robot)
    scene.build(n_envs=n_envs)
    return scene, robot


# A bar turning about a vertical hinge: gravity exerts no torque about the axis.
BAR_MASS, BAR_ARM, BAR_INERTIA = 1.0, 0.25, 0.01  # kg, m (pivot to centre of mass), kg m^2 about the com
BAR_PIVOT_INERTIA = BAR_INERTIA + BAR_MASS * BAR_ARM**2  # parallel axis theorem, kg m^2


def turntable(frictionloss):
    link = LinkSpec("bar", -1, np.zeros(3), IDENTITY, (JointSpec("hinge", JointType.REVOLUTE, axis=np.array(
        [0.0, 0.0, 1.0]), frictionloss=frictionloss),), BAR_MASS, np.array([BAR_ARM, 0.0, 0.0]),
        np.eye(3) * BAR_INERTIA)
    return ArticulationSpec("turntable", (link,))


def test_dry_friction_holds_below_its_torque_and_slides_above_it():
    friction, duration = 1.0, 1.0  # N m, s
    scene, robot = robot_scene(turntable(friction), n_envs=3)
    torques = np.array([0.8, -0.99, 1.5])  # N m: two below the friction torque (either sign), one above
    robot.control_dofs_force(torques[:, None])
    steps = int(round(duration / scene.dt))
    for _ in range(steps):
        scene.step()
    angle = robot.get_dofs_position()[:, 0]
    # Held: static friction answers any torque up to its bound exactly (one dof, solved in one sweep);
    # 1e-6 rad is single-precision round-off over a thousand steps.
    assert np.abs(angle[:2]).max() < 1e-6
    assert np.abs(robot.get_dofs_velocity()[:2]).max() < 1e-6
    # Sliding: constant angular acceleration (torque - friction) / I; semi-implicit Euler's position after
    # n steps is a dt^2 n (n + 1) / 2, which the formula matches to 1 / n = 0.1%.
    acceleration = (torques[2] - friction) / BAR_PIVOT_INERTIA
    assert angle[2] == pytest.approx(0.5 * acceleration * duration**2, rel=3e-3)
    assert robot.get_dofs_velocity()[2, 0] == pytest.approx(acceleration * duration, rel=3e-3)


def test_a_pendulum_with_joint_friction_stops_where_its_energy_runs_out():
    length, mass, friction, start = 0.5, 1.0, 0.2, 0.5  # m, kg, N m, rad
    inertia = np.diag([mass * length**2 / 12, mass * length**2 / 12, 1e-6])
    rod = LinkSpec("rod", -1, np.zeros(3), IDENTITY, (JointSpec("pivot", JointType.REVOLUTE, axis=np.array(
        [0.0, 1.0, 0.0]), frictionloss=friction),), mass, np.array([0.0, 0.0, -length / 2]), inertia)
    scene, robot = robot_scene(ArticulationSpec("pendulum", (rod,)))
    robot.set_dofs_position([start])
    stiffness = mass * GRAVITY * length / 2  # gravity torque per unit sin(angle), N m

    def energy(angle):  # potential above the lowest point; the pendulum is at rest when it is measured
        return stiffness * (1 - np.cos(angle))

    angles = [start]
    for _ in range(4000):
        scene.step()
        angles.append(robot.get_dofs_position()[0])
    angles = np.array(angles)
    moving = np.flatnonzero(np.abs(np.diff(angles)) > 1e-7)
    stop_time = (moving[-1] + 1) * scene.dt
    # At rest, static friction holds the residual gravity torque.
    assert stiffness * abs(np.sin(angles[-1])) <= friction * 1.001
    assert np.abs(np.diff(angles[-500:])).max() < 1e-7
    # Energy: all that was lost went into friction work, torque x angle travelled. 2% covers the integrator's
    # own dissipation over 2 s at dt = 1 ms.
    travelled = np.abs(np.diff(angles)).sum()
    assert energy(start) - energy(angles[-1]) == pytest.approx(friction * travelled, rel=2e-2)
    # Linearised, each half swing lasts half the natural period and shrinks the amplitude by
    # 2 friction / stiffness, and motion ends at the first turning point within friction / stiffness of the
    # bottom: 0.5 -> -0.337 -> 0.173 -> -0.010 rad, three half swings. 10% covers the sine's nonlinearity.
    period = 2 * np.pi * np.sqrt((mass * length**2 / 3) / stiffness)
    assert stop_time == pytest.approx(1.5 * period, rel=0.1)


def test_negative_frictionloss_is_rejected():
    with pytest.raises(InvalidValueError, match="frictionloss"):
        robot_scene(turntable(-1.0))


# ---------------------------------------------------------------- impulses handed to links by other solvers


def test_an_impulse_handed_to_a_link_moves_its_tree_by_the_inverse_mass_matrix():
    length, mass, push, spin = 0.5, 2.0, 0.3, 0.05  # m, kg, N s through the com, N m s about it
    inertia = np.diag([mass * length**2 / 12, mass * length**2 / 12, 1e-6])
    rod = LinkSpec("rod", -1, np.zeros(3), IDENTITY, (JointSpec("pivot", JointType.REVOLUTE, axis=np.array(
        [0.0, 1.0, 0.0])),), mass, np.array([0.0, 0.0, -length / 2]), inertia)
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, gravity=(0.0, 0.0, 0.0)))
    robot = RobotEntity(scene, 0, "rod", ps.morphs.Box(size=(0.1,) * 3), ps.materials.Rigid(), ps.surfaces.Default(),
                        ArticulationSpec("rod", (rod,)))
    scene.entities.append(robot)
    scene.build(n_envs=2)
    solver = scene._rigid_solver
    link_body = solver.trees[0].body_start
    # env 0: a push along +x at the centre of mass, (0, 0, -L/2) from the pivot: moment about y is -L/2 push.
    # env 1: an angular impulse about y at the centre of mass (a pure couple acts the same about the pivot).
    solver.add_body_impulse(link_body, np.array([[push, 0.0, 0.0], [0.0, 0.0, 0.0]]),
                            np.array([[0.0, 0.0, 0.0], [0.0, spin, 0.0]]), np.arange(2))
    scene.step()
    pivot_inertia = mass * length**2 / 3
    expected = np.array([-length / 2 * push, spin]) / pivot_inertia  # rad/s: angular impulse / I about the pivot
    np.testing.assert_allclose(robot.get_dofs_velocity()[:, 0], expected, rtol=1e-5)
    scene.step()  # consumed once: the rod keeps turning at the same rate (no gravity, no damping)
    np.testing.assert_allclose(robot.get_dofs_velocity()[:, 0], expected, rtol=1e-5)


# ---------------------------------------------------------------- coupled joints (mimic / equality)


def gripper(multiplier=1.0, offset=0.0, finger_mass=0.1):
    """A fixed palm with two fingers sliding apart along +-y; the right one coupled to the left."""
    def finger(name, direction):
        return LinkSpec(name, 0, np.zeros(3), IDENTITY, (JointSpec(f"{name}_joint", JointType.PRISMATIC,
                        axis=np.array([0.0, direction, 0.0]), limit=(0.0, 0.05)),), finger_mass, np.zeros(3),
                        np.eye(3) * 1e-5)
    palm = LinkSpec("palm", -1, np.zeros(3), IDENTITY, (), 1.0, np.zeros(3), np.eye(3) * 1e-3)
    from physim.solvers.rigid.articulation_model import EqualitySpec
    return ArticulationSpec("gripper", (palm, finger("left", 1.0), finger("right", -1.0)), equalities=(
        EqualitySpec("fingers", "right_joint", "left_joint", multiplier, offset),))


def test_a_coupled_finger_follows_the_actuated_one():
    scene, robot = robot_scene(gripper(), dt=0.01, n_envs=2)
    robot.set_dofs_kp([200.0, 0.0])  # only the left finger has an actuator, as a Franka's
    robot.set_dofs_kv([10.0, 0.0])
    robot.control_dofs_position([[0.03, 0.0], [0.045, 0.0]])
    for _ in range(100):
        scene.step()
    position = robot.get_dofs_position()
    # The actuator drives both fingers (twice the mass) to its target; the coupling holds them equal. 1e-4 m
    # is the drift left at rest by a fifth-per-substep correction in single precision.
    np.testing.assert_allclose(position[:, 0], [0.03, 0.045], atol=2e-4)
    np.testing.assert_allclose(position[:, 1], position[:, 0], atol=1e-4)
    # A force on the coupled finger moves the pair: with stiffness 200 N/m on the left dof, 2 N displaces the
    # target by 2 / 200 = 1 cm (the coupling passes the force through).
    robot.control_dofs_force([[2.0], [0.0]], dofs_idx_local=[1])
    for _ in range(200):
        scene.step()
    position = robot.get_dofs_position()
    np.testing.assert_allclose(position[:, 0], [0.04, 0.045], atol=2e-4)
    np.testing.assert_allclose(position[:, 1], position[:, 0], atol=1e-4)


def test_a_coupling_with_multiplier_and_offset_holds_its_ratio():
    scene, robot = robot_scene(gripper(multiplier=0.5, offset=0.01), dt=0.01)
    robot.set_dofs_kp([200.0, 0.0])
    robot.set_dofs_kv([10.0, 0.0])
    robot.control_dofs_position([0.04, 0.0])
    for _ in range(100):
        scene.step()
    left, right = robot.get_dofs_position()
    assert left == pytest.approx(0.04, abs=2e-4)
    assert right == pytest.approx(0.5 * left + 0.01, abs=1e-4)


GRIPPER_URDF = """<robot name="gripper">
  <link name="palm"><inertial><mass value="1"/><inertia ixx="1e-3" iyy="1e-3" izz="1e-3" ixy="0" ixz="0" iyz="0"/>
  </inertial></link>
  <link name="left"><inertial><mass value="0.1"/><inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/>
  </inertial></link>
  <link name="right"><inertial><mass value="0.1"/><inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/>
  </inertial></link>
  <joint name="left_joint" type="prismatic"><parent link="palm"/><child link="left"/><axis xyz="0 1 0"/>
    <limit lower="0" upper="0.05" effort="50" velocity="1"/></joint>
  <joint name="right_joint" type="prismatic"><parent link="palm"/><child link="right"/><axis xyz="0 -1 0"/>
    <limit lower="0" upper="0.05" effort="50" velocity="1"/><mimic joint="left_joint" multiplier="1" offset="0"/>
  </joint>
</robot>
"""

# As the Franka's file: the fingers coupled by a joint equality, one actuator on a fixed tendon over both.
GRIPPER_MJCF = """<mujoco model="gripper">
  <worldbody>
    <body name="palm">
      <inertial pos="0 0 0" mass="1" diaginertia="1e-3 1e-3 1e-3"/>
      <body name="left"><inertial pos="0 0 0" mass="0.1" diaginertia="1e-5 1e-5 1e-5"/>
        <joint name="left_joint" type="slide" axis="0 1 0" range="0 0.05"/></body>
      <body name="right"><inertial pos="0 0 0" mass="0.1" diaginertia="1e-5 1e-5 1e-5"/>
        <joint name="right_joint" type="slide" axis="0 -1 0" range="0 0.05"/></body>
    </body>
  </worldbody>
  <tendon><fixed name="split"><joint joint="left_joint" coef="0.5"/><joint joint="right_joint" coef="0.5"/></fixed>
  </tendon>
  <equality><joint joint1="left_joint" joint2="right_joint" polycoef="0 1 0 0 0"/></equality>
  <actuator><general name="grip" tendon="split" forcerange="-100 100" ctrlrange="0 255" gainprm="0.0156862745"
    biastype="affine" biasprm="0 -100 -10"/></actuator>
</mujoco>
"""


@pytest.mark.parametrize("kind", ["urdf", "mjcf"])
def test_loaded_gripper_fingers_move_together(kind, tmp_path):
    path = tmp_path / f"gripper.{'urdf' if kind == 'urdf' else 'xml'}"
    path.write_text(GRIPPER_URDF if kind == "urdf" else GRIPPER_MJCF)
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, gravity=(0.0, 0.0, -GRAVITY)))
    morph = ps.morphs.URDF(file=str(path), fixed=True) if kind == "urdf" else ps.morphs.MJCF(file=str(path))
    robot = scene.add_entity(morph)
    scene.build()
    driven = robot.get_joint("left_joint" if kind == "urdf" else "right_joint").dofs_idx_local[0]
    if kind == "urdf":  # URDF states no actuators: give the driven finger a servo
        robot.set_dofs_kp([100.0], [driven])
        robot.set_dofs_kv([10.0], [driven])
    robot.control_dofs_position([0.03], [driven])
    for _ in range(150):
        scene.step()
    # One servo (100 N/m) holds both fingers at its target; the coupling keeps them equal.
    np.testing.assert_allclose(robot.get_dofs_position(), [0.03, 0.03], atol=2e-4)
