"""Host-side kinematics of articulations: forward kinematics, Jacobians and inverse kinematics.

Checked against independent references: closed-form poses of physim's own arm, Bullet's forward
kinematics of a third-party URDF, finite differences of forward kinematics for the Jacobians (free, ball,
hinge and slide joints), and the targets IK was asked to reach.
"""

import os

import numpy as np
import pytest

import physim as ps
from physim.errors import InvalidValueError
from physim.scene.kinematics import KinematicTree, quat_multiply, rotvec_from_matrix
from physim.scene.loaders import load_mjcf, load_urdf
from physim.utils.rotations import quat_to_matrix

ARM_ZERO_TCP_HEIGHT = 0.12 + 0.16 + 0.22 + 0.20 + 0.20 + 0.16 + 0.08 + 0.04 + 0.085
"""Height of the arm's tool centre point above its base at zero joint angles: the sum of the link offsets
stated in assets/robots/make_robots.py (joints at 0.12, +0.16, ..., hand 0.04 above joint 7, tcp 0.085 above)."""

# A nominal working pose of the arm (elbow and wrist bent, fingers half open), rad and m.
NOMINAL = np.array([0.0, 0.4, 0.0, 1.2, 0.0, 0.8, 0.0, 0.02, 0.02])

BALL_MJCF = """<mujoco model="ball_chain">
  <worldbody>
    <body name="torso" pos="0 0 1" euler="10 20 30">
      <freejoint name="root"/>
      <geom type="box" size="0.1 0.05 0.02"/>
      <body name="upper" pos="0.1 0 0">
        <joint name="shoulder" type="ball" pos="0.02 0 0"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02"/>
        <body name="lower" pos="0.3 0 0">
          <joint name="elbow" type="hinge" axis="0 1 1" pos="0 0.01 0"/>
          <joint name="twist" type="hinge" axis="1 0 0"/>
          <joint name="extend" type="slide" axis="1 0 0"/>
          <geom type="capsule" fromto="0 0 0 0.25 0 0" size="0.015"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def arm():
    return KinematicTree(load_urdf(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True)))


@pytest.fixture(scope="module")
def arm_mjcf():
    return KinematicTree(load_mjcf(ps.morphs.MJCF(file="robots/arm7.xml")))


@pytest.fixture(scope="module")
def ball_chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("mjcf") / "ball_chain.xml"
    path.write_text(BALL_MJCF)
    return KinematicTree(load_mjcf(ps.morphs.MJCF(file=str(path))))


def random_qpos(tree: KinematicTree, rng, batch, spread=1.0):
    """Random joint positions within the limits (unlimited joints within +-spread), unit quaternions."""
    low = np.where(np.isfinite(tree.qpos_lower), tree.qpos_lower, -spread)
    high = np.where(np.isfinite(tree.qpos_upper), tree.qpos_upper, spread)
    qpos = rng.uniform(low, high, tuple(np.atleast_1d(batch)) + (tree.n_qpos,))
    return tree.integrate(np.broadcast_to(tree.qpos0, qpos.shape), _qpos_as_qvel(tree, qpos - tree.qpos0))


def _qpos_as_qvel(tree, delta):
    """A velocity whose entries are the random offsets: moves quaternions by random rotations too."""
    qvel = np.zeros(delta.shape[:-1] + (tree.n_dofs,))
    for name in tree.joint_names:
        q, d = tree.joint_qpos_index[name], tree.joint_dof_index[name]
        qvel[..., d] = delta[..., q[: len(d)]]
    return qvel


def test_arm_zero_pose_is_a_straight_column(arm):
    pos, quat = arm.link_pose(arm.qpos0, "tcp")
    np.testing.assert_allclose(pos, [0, 0, ARM_ZERO_TCP_HEIGHT], atol=1e-12)
    np.testing.assert_allclose(quat, [1, 0, 0, 0], atol=1e-12)


def test_base_placement_moves_every_link_rigidly(arm):
    quat = np.array([np.cos(0.3), 0.0, 0.0, np.sin(0.3)])  # 0.6 rad about z
    placed = KinematicTree(arm.spec, base_pos=(1.0, -2.0, 0.5), base_quat=quat)
    q = NOMINAL
    pos0, quat0 = arm.forward_kinematics(q)
    pos1, quat1 = placed.forward_kinematics(q)
    np.testing.assert_allclose(pos1, (quat_to_matrix(quat) @ pos0.T).T + [1.0, -2.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(quat1 * quat_multiply(quat, quat0), -1)), 1.0, atol=1e-12)


def test_urdf_and_mjcf_arms_have_the_same_kinematics(arm, arm_mjcf):
    """Both files describe one robot: every link frame agrees at random joint positions (batched)."""
    rng = np.random.default_rng(0)
    q = random_qpos(arm, rng, (4, 8))
    pos_u, quat_u = arm.forward_kinematics(q)
    pos_m, quat_m = arm_mjcf.forward_kinematics(q)
    for index, name in enumerate(arm.link_names):
        other = arm_mjcf.link_index(name)
        np.testing.assert_allclose(pos_u[..., index, :], pos_m[..., other, :], atol=1e-12, err_msg=name)
        np.testing.assert_allclose(np.abs(np.sum(quat_u[..., index, :] * quat_m[..., other, :], -1)), 1.0,
                                   atol=1e-12, err_msg=name)
    for merged in ("hand", "tcp"):  # merged away in the URDF, kept in the MJCF: same poses by name
        for a, b in zip(arm.link_pose(q, merged), arm_mjcf.link_pose(q, merged)):
            np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-12)


def test_forward_kinematics_agrees_with_bullet():
    pybullet = pytest.importorskip("pybullet")
    pybullet_data = pytest.importorskip("pybullet_data")
    path = os.path.join(pybullet_data.getDataPath(), "kuka_iiwa/model.urdf")
    base_quat = np.array([0.9, 0.1, 0.2, 0.3]) / np.linalg.norm([0.9, 0.1, 0.2, 0.3])
    tree = KinematicTree(load_urdf(ps.morphs.URDF(file=path, fixed=True)), base_pos=(0.1, 0.2, 0.3),
                         base_quat=base_quat)
    client = pybullet.connect(pybullet.DIRECT)
    try:
        robot = pybullet.loadURDF(path, basePosition=(0.1, 0.2, 0.3), baseOrientation=base_quat[[1, 2, 3, 0]],
                                  useFixedBase=True, physicsClientId=client)
        q = np.random.default_rng(1).uniform(-2.0, 2.0, 7)
        for joint in range(7):
            pybullet.resetJointState(robot, joint, q[joint], physicsClientId=client)
        pos, quat = tree.forward_kinematics(q)
        for joint in range(7):
            state = pybullet.getLinkState(robot, joint, computeForwardKinematics=True, physicsClientId=client)
            # Bullet computes in double precision: frames agree to rounding.
            np.testing.assert_allclose(pos[joint + 1], state[4], atol=1e-7)
            np.testing.assert_allclose(abs(quat[joint + 1] @ np.array(state[5])[[3, 0, 1, 2]]), 1.0, atol=1e-7)
    finally:
        pybullet.disconnect(client)


def finite_difference_jacobian(tree, qpos, link, point, eps=1e-6):
    """Central differences of the world position of ``point`` and of the link rotation along each dof."""
    columns = []
    for dof in range(tree.n_dofs):
        step = np.zeros(tree.n_dofs)
        step[dof] = eps
        (p_plus, q_plus), (p_minus, q_minus) = (tree.link_pose(tree.integrate(qpos, s * step), link) for s in (1, -1))
        r_plus, r_minus = quat_to_matrix(q_plus), quat_to_matrix(q_minus)
        linear = (p_plus + r_plus @ point - p_minus - r_minus @ point) / (2 * eps)
        angular = rotvec_from_matrix(r_plus @ r_minus.T) / (2 * eps)
        columns.append(np.concatenate([linear, angular]))
    return np.stack(columns, -1)


@pytest.mark.parametrize("robot", ["arm", "ball_chain"])
def test_jacobian_equals_finite_differences_of_forward_kinematics(robot, request):
    """Hinge, slide, ball and free joints; the point is off the link origin so that the angular columns
    feed the linear rows. Central differences of step 1e-6 are exact to ~1e-9 here."""
    tree = request.getfixturevalue(robot)
    rng = np.random.default_rng(2)
    qpos = random_qpos(tree, rng, (3,))
    link = tree.n_links - 1
    point = np.array([0.03, -0.02, 0.05])
    jac = tree.jacobian(qpos, link, point)
    assert jac.shape == (3, 6, tree.n_dofs)
    for k in range(3):
        np.testing.assert_allclose(jac[k], finite_difference_jacobian(tree, qpos[k], link, point), atol=1e-7)


def test_free_joint_velocity_convention(ball_chain):
    """Free-joint qvel: linear velocity of the link origin in the world frame, angular velocity in the link
    frame (MuJoCo's). The torso's Jacobian at its origin is then [I 0; 0 R]."""
    tree = ball_chain
    qpos = tree.qpos0
    jac = tree.jacobian(qpos, "torso")
    rotation = quat_to_matrix(qpos[3:7])
    np.testing.assert_allclose(jac[:3, :3], np.eye(3), atol=1e-15)
    np.testing.assert_allclose(jac[:3, 3:6], 0.0, atol=1e-15)
    np.testing.assert_allclose(jac[3:, 3:6], rotation, atol=1e-15)
    assert not jac[:, 6:].any()  # the torso does not move with its children's joints


def test_inverse_kinematics_reaches_targets_within_a_millimetre(arm):
    """Batched: 64 poses reachable by construction (forward kinematics of joint positions within the limits,
    near a working pose); IK from that working pose reaches each within 1 mm and 0.01 rad, inside the limits."""
    rng = np.random.default_rng(3)
    q_true = np.clip(NOMINAL + rng.uniform(-0.5, 0.5, (64, arm.n_qpos)), arm.qpos_lower, arm.qpos_upper)
    target_pos, target_quat = arm.link_pose(q_true, "tcp")
    solution = arm.inverse_kinematics("tcp", target_pos, target_quat, init_qpos=NOMINAL)
    assert solution.shape == (64, arm.n_qpos)
    reached_pos, reached_quat = arm.link_pose(solution, "tcp")
    assert np.linalg.norm(reached_pos - target_pos, axis=-1).max() < 1e-3
    rotation_error = rotvec_from_matrix(quat_to_matrix(reached_quat) @ np.swapaxes(quat_to_matrix(target_quat), -1, -2))
    assert np.linalg.norm(rotation_error, axis=-1).max() < 1e-2
    assert np.all(solution >= arm.qpos_lower) and np.all(solution <= arm.qpos_upper)


def test_inverse_kinematics_respects_joint_limits_and_masks(arm):
    """A position-only target moving the seven arm joints only: reached within 1 mm, inside the limits, and
    the fingers (not in dofs_idx) never move. A target out of reach ends with the arm stretched towards it."""
    target = np.array([0.45, 0.1, 0.6])
    dofs = np.arange(7)
    solution = arm.inverse_kinematics("tcp", target, init_qpos=NOMINAL, dofs_idx=dofs, max_iters=200)
    np.testing.assert_allclose(solution[7:], NOMINAL[7:])
    assert np.linalg.norm(arm.link_pose(solution, "tcp")[0] - target) < 1e-3
    assert np.all(solution >= arm.qpos_lower) and np.all(solution <= arm.qpos_upper)
    # A target beyond reach (2 m away) ends inside the limits, as close as the arm gets (stretched out).
    far = arm.inverse_kinematics("tcp", np.array([2.0, 0.0, 0.3]), init_qpos=NOMINAL, max_iters=200)
    assert np.all(far >= arm.qpos_lower) and np.all(far <= arm.qpos_upper)
    reach = np.linalg.norm(arm.link_pose(far, "tcp")[0] - arm.forward_kinematics(far)[0][2])
    # Damped least squares slows down as the arm nears the stretched (singular) pose: within 5 cm of it.
    assert reach > ARM_ZERO_TCP_HEIGHT - 0.28 - 0.05


def test_inverse_kinematics_restarts_reach_targets_far_from_the_initial_guess(arm):
    """Targets spread over the whole joint range, from the zero pose: one descent leaves some entries in a
    local minimum; restarts from random joint positions (seeded) bring every one within 1 mm."""
    rng = np.random.default_rng(7)
    q_true = rng.uniform(arm.qpos_lower * 0.8, arm.qpos_upper * 0.8, (32, arm.n_qpos))
    target_pos, _ = arm.link_pose(q_true, "tcp")
    _, single_error, _ = arm.inverse_kinematics("tcp", target_pos, max_iters=60, return_error=True)
    solution, error, _ = arm.inverse_kinematics("tcp", target_pos, max_iters=60, max_samples=8, return_error=True)
    assert np.all(error <= single_error)
    assert error.max() < 1e-3
    np.testing.assert_allclose(np.linalg.norm(arm.link_pose(solution, "tcp")[0] - target_pos, axis=-1), error)
    again = arm.inverse_kinematics("tcp", target_pos, max_iters=60, max_samples=8)
    np.testing.assert_array_equal(again, solution)  # seeded: reproducible


def test_inverse_kinematics_broadcasts_one_target_over_many_starts(arm):
    """One target (3,) and a batch of initial joint positions (as a robot's envs have): one answer each."""
    starts = np.stack([NOMINAL, NOMINAL + 0.1, NOMINAL - 0.1])
    target = arm.link_pose(NOMINAL + 0.05, "tcp")
    solution = arm.inverse_kinematics("tcp", target[0], target[1], init_qpos=starts)
    assert solution.shape == (3, arm.n_qpos)
    assert np.linalg.norm(arm.link_pose(solution, "tcp")[0] - target[0], axis=-1).max() < 1e-3


def test_bad_arguments_name_the_problem(arm):
    with pytest.raises(InvalidValueError, match="no link named 'nose'"):
        arm.link_index("nose")
    with pytest.raises(InvalidValueError, match="9 entries"):
        arm.forward_kinematics(np.zeros(4))
    with pytest.raises(InvalidValueError, match="dofs_idx"):
        arm.inverse_kinematics("tcp", (0.3, 0, 0.5), dofs_idx=[12])
