"""Robot scenes end to end (slow): the arm grasps and lifts a cube; a quadruped lands on its feet."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenes"))

import arm_pick  # noqa: E402
import quadruped_drop  # noqa: E402

pytestmark = pytest.mark.slow


def test_arm_grasps_lifts_and_holds_a_cube():
    scene, arm, cube, _ = arm_pick.build(camera=False)
    result = arm_pick.pick(scene, arm, cube)
    # The hand rises 10 cm; friction alone holds the cube, which may settle up to 2 mm in the fingers as it
    # is lifted (the pads' speculative contacts close) and must not slip while held for 2 s.
    assert result["rise"] == pytest.approx(arm_pick.LIFT, abs=2e-3)
    assert result["slip"] < 1e-3
    assert result["lowest_while_held"] > result["cube_z"] - 1e-3


def test_quadruped_lands_and_stands_on_its_feet():
    scene, robot, _ = quadruped_drop.build(camera=False)
    for _ in range(300):
        scene.step()
    feet = np.array([robot.get_link(f"{leg}_foot").get_pos() for leg in ("FL", "FR", "RL", "RR")])
    # Standing: every foot (a 2.5 cm sphere) on the ground within the contact slop, the trunk level and still
    # above them, held up by the legs' PD torques (thigh 0.8 rad, knee -1.5 rad: about 0.28 m).
    assert np.allclose(feet[:, 2], 0.025, atol=2e-3)
    assert 0.2 < robot.get_pos()[2] < 0.35
    up = robot.get_quat()
    assert 1 - 2 * (up[1] ** 2 + up[2] ** 2) > 0.99  # the trunk's z axis stays within 8 degrees of vertical
    assert np.linalg.norm(robot.get_dofs_velocity()) < 0.05


GENESIS_PANDA = Path("/tmp/gvenv/lib/python3.11/site-packages/genesis/assets/xml/franka_emika_panda/panda.xml")


@pytest.mark.skipif(not GENESIS_PANDA.is_file(), reason="Genesis's Franka MJCF is not installed here")
def test_franka_finger_actuator_opens_both_fingers():
    """The Franka's one gripper actuator (on the fingers' tendon) drives finger 2; the joint equality makes
    finger 1 follow, so the gripper opens symmetrically while the arm holds its pose."""
    import physim as ps

    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01))
    arm = scene.add_entity(ps.morphs.MJCF(file=str(GENESIS_PANDA)))
    scene.build()
    finger1, finger2 = (arm.get_joint(f"finger_joint{k}").dofs_idx_local[0] for k in (1, 2))
    # 2 cm: wider, the fingers' convex hulls start to touch the other links' (self-collision), which stops them.
    arm.control_dofs_position([0.02], [finger2])
    for _ in range(150):
        scene.step()
    position = arm.get_dofs_position()
    # The servo (100 N/m) holds the pair at its target against nothing but the fingers' own damping.
    assert position[finger2] == pytest.approx(0.02, abs=2e-4)
    assert position[finger1] == pytest.approx(position[finger2], abs=2e-4)
