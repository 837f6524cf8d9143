"""Robot description loaders: URDF and MJCF files into articulation specs.

The references are independent: the numbers written into physim's own robots by
assets/robots/make_robots.py, MuJoCo's own compiler for MJCF files (masses, inertias, dof counts, poses,
actuator gains), Bullet for URDF files, and the parallel-axis theorem for merged links.
"""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import trimesh

import physim as ps
from physim.errors import AssetError, InvalidValueError
from physim.scene.kinematics import KinematicTree
from physim.scene.loaders import load_mjcf, load_urdf
from physim.scene.loaders.common import clear_cache
from physim.solvers.rigid.articulation_model import JointType
from physim.solvers.rigid.shapes import GeomType

GENESIS_FRANKA_SIM = Path("/tmp/gvenv/lib/python3.11/site-packages/genesis/assets/xml/franka_sim/franka_panda.xml")
GENESIS_PANDA = Path("/tmp/gvenv/lib/python3.11/site-packages/genesis/assets/xml/franka_emika_panda/panda.xml")
ARM_MASS = 4.0 + 2.5 + 2.2 + 1.8 + 1.5 + 1.1 + 0.7 + 0.4 + 0.5 + 2 * 0.08  # kg, as make_robots.py states


@pytest.fixture(scope="module")
def arm_urdf():
    return load_urdf(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True))


@pytest.fixture(scope="module")
def arm_urdf_unmerged():
    return load_urdf(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True, merge_fixed_links=False))


@pytest.fixture(scope="module")
def arm_mjcf():
    return load_mjcf(ps.morphs.MJCF(file="robots/arm7.xml"))


def total_inertia_about_origin(spec, qpos):
    """Mass (kg), centre of mass (m) and inertia about the world origin (kg m^2) of the whole robot at qpos."""
    tree = KinematicTree(spec)
    pos, quat = tree.forward_kinematics(qpos)
    from physim.utils.rotations import quat_to_matrix

    mass, moment, inertia = 0.0, np.zeros(3), np.zeros((3, 3))
    for index, link in enumerate(spec.links):
        rotation = quat_to_matrix(quat[index])
        com = pos[index] + rotation @ link.com
        inertia += rotation @ link.inertia @ rotation.T + link.mass * (com @ com * np.eye(3) - np.outer(com, com))
        mass += link.mass
        moment += link.mass * com
    return mass, moment / mass, inertia


# ------------------------------------------------------------------------------------- own assets


def test_arm_counts(arm_urdf, arm_urdf_unmerged, arm_mjcf):
    """7 arm joints and 2 finger slides; the hand and the tool frame are welded (merged in the URDF)."""
    assert [link.name for link in arm_urdf.links] == ["base", *(f"link{i}" for i in range(1, 8)), "left_finger",
                                                      "right_finger"]
    assert sorted(arm_urdf.merged_links) == ["hand", "tcp"]
    assert len(arm_urdf_unmerged.links) == len(arm_mjcf.links) == 12
    for spec in (arm_urdf, arm_urdf_unmerged, arm_mjcf):
        assert (spec.n_dofs, spec.n_qpos, len(spec.joints)) == (9, 9, 9)
        assert [j.type for j in spec.joints] == [JointType.REVOLUTE] * 7 + [JointType.PRISMATIC] * 2
        assert spec.links[0].parent == -1 and not spec.links[0].joints  # fixed base
        assert sum(link.mass for link in spec.links) == pytest.approx(ARM_MASS, rel=1e-12)
    assert [a.kind for a in arm_mjcf.actuators] == ["position"] * 9
    assert arm_mjcf.actuators[0].kp == 800.0 and arm_mjcf.actuators[-1].forcerange == (-50.0, 50.0)


def test_urdf_and_mjcf_arms_have_the_same_model(arm_urdf_unmerged, arm_mjcf):
    """Link by link: placement, mass properties, joints, limits, damping and effort limits agree."""
    for a, b in zip(arm_urdf_unmerged.links, arm_mjcf.links):
        assert a.name == b.name and a.parent == b.parent
        np.testing.assert_allclose(a.pos, b.pos, atol=1e-12)
        np.testing.assert_allclose(a.quat, b.quat, atol=1e-12)
        assert a.mass == pytest.approx(b.mass, rel=1e-9)
        np.testing.assert_allclose(a.com, b.com, atol=1e-12)
        np.testing.assert_allclose(a.inertia, b.inertia, rtol=1e-6, atol=1e-12)
        for ja, jb in zip(a.joints, b.joints):
            assert (ja.name, ja.type, ja.damping, ja.effort_limit) == (jb.name, jb.type, jb.damping, jb.effort_limit)
            np.testing.assert_allclose(ja.axis, jb.axis, atol=1e-12)
            np.testing.assert_allclose(ja.limit, jb.limit, rtol=1e-5)


def test_merged_links_keep_the_mass_distribution(arm_urdf, arm_urdf_unmerged):
    """Folding the hand into link 7 moves no mass: the whole arm's mass, centre of mass and inertia about
    the origin are equal with and without merging, at any joint positions (parallel-axis theorem)."""
    qpos = np.array([0.3, -0.7, 1.1, 1.4, -0.5, 0.9, 2.0, 0.01, 0.03])
    merged = total_inertia_about_origin(arm_urdf, qpos)
    unmerged = total_inertia_about_origin(arm_urdf_unmerged, qpos)
    assert merged[0] == pytest.approx(unmerged[0], rel=1e-12)
    np.testing.assert_allclose(merged[1], unmerged[1], atol=1e-12)
    np.testing.assert_allclose(merged[2], unmerged[2], atol=1e-12)
    link7 = arm_urdf.links[7]
    assert link7.mass == pytest.approx(0.4 + 0.5)
    assert len(link7.geoms) == 2 and len(link7.visuals) == 2  # its cylinder and the hand's box
    hand_index, hand_pose = arm_urdf.merged_links["hand"]
    assert hand_index == 7
    np.testing.assert_allclose(hand_pose[:3, 3], [0, 0, 0.04], atol=1e-12)


def test_links_to_keep_are_not_merged():
    spec = load_urdf(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True, links_to_keep=("tcp",)))
    names = [link.name for link in spec.links]
    assert "tcp" in names and "hand" not in names
    tcp = spec.links[names.index("tcp")]
    assert spec.links[tcp.parent].name == "link7"  # re-attached to the link the hand merged into
    np.testing.assert_allclose(tcp.pos, [0, 0, 0.04 + 0.085], atol=1e-12)
    with pytest.raises(AssetError, match="'wrist'"):
        load_urdf(ps.morphs.URDF(file="robots/arm7.urdf", links_to_keep=("wrist",)))


def test_quadruped_counts_and_floating_base():
    spec = load_urdf(ps.morphs.URDF(file="robots/quadruped.urdf"))
    assert len(spec.links) == 13 and sorted(spec.merged_links) == ["FL_foot", "FR_foot", "RL_foot", "RR_foot"]
    assert spec.links[0].joints[0].type == JointType.FREE
    assert spec.n_dofs == 6 + 12 and spec.n_qpos == 7 + 12
    assert sum(j.type == JointType.REVOLUTE for j in spec.joints) == 12
    assert all(j.limit[0] <= 0.0 <= j.limit[1] for j in spec.joints[1:])  # the zero pose lies inside the limits
    fixed = load_urdf(ps.morphs.URDF(file="robots/quadruped.urdf", fixed=True))
    assert fixed.n_dofs == 12 and not fixed.links[0].joints
    # The feet hang 0.36 m below the hips at rest (straight legs), and carry their merged foot spheres.
    tree = KinematicTree(spec, base_pos=(0, 0, 0.5))
    foot_pos, _ = tree.link_pose(tree.qpos0, "FL_foot")
    np.testing.assert_allclose(foot_pos, [0.16, 0.08 + 0.07, 0.5 - 0.36], atol=1e-12)
    calf = spec.links[tree.link_index("FL_calf")]
    assert any(g.geom.shape.type == GeomType.SPHERE for g in calf.geoms)


def test_gripper_pads_are_boxes_that_close_on_a_cube(arm_urdf):
    """The finger pads are boxes facing each other; open they leave 8.4 cm, room for a 5 cm cube."""
    tree = KinematicTree(arm_urdf)
    gaps = []
    for opening in (0.0, 0.04):
        qpos = np.r_[np.zeros(7), opening, opening]
        pos, _ = tree.forward_kinematics(qpos)
        inner = []
        for side in ("left_finger", "right_finger"):
            link = arm_urdf.links[tree.link_index(side)]
            (geom,) = link.geoms
            assert geom.geom.shape.type == GeomType.BOX
            half_y = geom.geom.shape.size[1]
            centre = pos[tree.link_index(side)] + geom.geom.pos
            inner.append(centre[1] - np.sign(centre[1]) * half_y)
        gaps.append(inner[0] - inner[1])
    np.testing.assert_allclose(gaps, [0.004, 0.084], atol=1e-12)


def test_scale_scales_lengths_and_masses():
    """scale 2: lengths double, masses grow 8 times and inertias 32 times (same density)."""
    one = load_urdf(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True))
    two = load_urdf(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True, scale=2.0))
    np.testing.assert_allclose(two.links[3].pos, 2 * one.links[3].pos)
    assert two.links[3].mass == pytest.approx(8 * one.links[3].mass)
    np.testing.assert_allclose(two.links[3].inertia, 32 * one.links[3].inertia)
    assert two.joints[-1].limit == pytest.approx((0.0, 0.08))  # a slide's travel is a length


def test_loaded_specs_are_cached_until_the_file_changes(tmp_path):
    path = tmp_path / "arm7.urdf"
    path.write_text((ps.morphs.ASSETS_DIR / "robots" / "arm7.urdf").read_text())
    morph = ps.morphs.URDF(file=str(path), fixed=True)
    first = load_urdf(morph)
    assert load_urdf(ps.morphs.URDF(file=str(path), fixed=True)) is first  # an equal morph: read once
    assert load_urdf(ps.morphs.URDF(file=str(path), fixed=True, pos=(1, 2, 0))) is first  # placement is not in it
    assert load_urdf(ps.morphs.URDF(file=str(path), fixed=False)) is not first
    path.write_text(path.read_text().replace('name="arm7"', 'name="arm7b"'))
    os.utime(path, ns=(1, 10**18))  # a new modification time, whatever the file system's resolution
    assert load_urdf(morph).name == "arm7b"


# ----------------------------------------------------------------------------- URDF file features


def write_package(tmp_path: Path) -> Path:
    """A ROS-style package with meshes in four formats and a URDF that names them by package://."""
    package = tmp_path / "my_robot"
    (package / "meshes").mkdir(parents=True)
    (package / "urdf").mkdir()
    box = trimesh.creation.box(extents=(0.1, 0.2, 0.3))
    for extension in ("stl", "obj", "glb", "dae"):
        box.export(package / "meshes" / f"box.{extension}")
    links = "".join(f"""
  <link name="l{i}">
    <inertial><origin xyz="0 0 0.1" rpy="0 0 1.5707963267948966"/><mass value="2"/>
      <inertia ixx="0.01" ixy="0" ixz="0" iyy="0.04" iyz="0" izz="0.09"/></inertial>
    <visual><geometry><mesh filename="package://my_robot/meshes/box.{ext}"/></geometry>
      <material name="red"/></visual>
    <collision><origin xyz="0 0 0.5"/><geometry><mesh filename="../meshes/box.{ext}" scale="2 2 2"/></geometry>
    </collision>
  </link>
  <joint name="j{i}" type="{kind}"><parent link="{'base' if i == 0 else f'l{i - 1}'}"/><child link="l{i}"/>
    <origin xyz="0 0 0.2"/><axis xyz="0 0 2"/>
    <limit lower="-1" upper="1" effort="10" velocity="1"/><dynamics damping="0.3" friction="0.2"/></joint>"""
                    for i, (ext, kind) in enumerate(zip(("stl", "obj", "glb", "dae"),
                                                        ("revolute", "continuous", "prismatic", "fixed"))))
    path = package / "urdf" / "robot.urdf"
    path.write_text(f"""<?xml version="1.0"?>
<robot name="pkg">
  <material name="red"><color rgba="1 0 0 1"/></material>
  <link name="base"/>{links}
</robot>""")
    return path


def test_urdf_meshes_packages_materials_and_inertial_frames(tmp_path):
    path = write_package(tmp_path)
    spec = load_urdf(ps.morphs.URDF(file=str(path), fixed=True, merge_fixed_links=False))
    assert [j.type for j in spec.joints] == [JointType.REVOLUTE, JointType.REVOLUTE, JointType.PRISMATIC]
    revolute, continuous, prismatic = spec.joints
    np.testing.assert_allclose(revolute.axis, [0, 0, 1])  # normalised
    assert revolute.limit == (-1.0, 1.0) and continuous.limit is None and prismatic.limit == (-1.0, 1.0)
    assert (revolute.damping, revolute.frictionloss, revolute.effort_limit) == (0.3, 0.2, 10.0)
    for link in spec.links[1:]:
        # The inertial frame is turned 90 degrees about z: its xx and yy swap in the link frame.
        np.testing.assert_allclose(link.inertia, np.diag([0.04, 0.01, 0.09]), atol=1e-12)
        np.testing.assert_allclose(link.com, [0, 0, 0.1], atol=1e-12)
        (visual,) = link.visuals
        assert visual.rgba == (1.0, 0.0, 0.0, 1.0)
        np.testing.assert_allclose(visual.mesh.extents, [0.1, 0.2, 0.3], atol=1e-9)
        (geom,) = link.geoms  # the convex hull of the mesh scaled by 2, placed 0.5 m up
        assert geom.geom.shape.type == GeomType.CONVEX
        np.testing.assert_allclose(geom.geom.shape.local_aabb, [[-0.1, -0.2, -0.3], [0.1, 0.2, 0.3]], atol=1e-9)
        np.testing.assert_allclose(geom.geom.pos, [0, 0, 0.5])
    merged = load_urdf(ps.morphs.URDF(file=str(path), fixed=True))
    assert [link.name for link in merged.links] == ["base", "l0", "l1", "l2"] and "l3" in merged.merged_links
    assert merged.links[-1].mass == pytest.approx(4.0)


def test_urdf_world_link_floating_and_spherical_joints(tmp_path):
    """ROS's empty "world" link with a floating joint is a free base placed at the joint origin; Bullet's
    "spherical" joint is a ball joint."""
    path = tmp_path / "floating.urdf"
    path.write_text("""<robot name="f">
  <link name="world"/>
  <link name="body"><inertial><mass value="1"/><inertia ixx="1" iyy="1" izz="1" ixy="0" ixz="0" iyz="0"/></inertial>
  </link>
  <link name="head"><inertial><mass value="0.5"/><inertia ixx="1" iyy="1" izz="1" ixy="0" ixz="0" iyz="0"/>
  </inertial></link>
  <joint name="float" type="floating"><parent link="world"/><child link="body"/><origin xyz="0 0 0.7"/></joint>
  <joint name="neck" type="spherical"><parent link="body"/><child link="head"/><origin xyz="0 0 0.2"/></joint>
</robot>""")
    spec = load_urdf(ps.morphs.URDF(file=str(path)))
    assert [link.name for link in spec.links] == ["body", "head"]
    assert [(j.name, j.type) for j in spec.joints] == [("float", JointType.FREE), ("neck", JointType.BALL)]
    np.testing.assert_allclose(KinematicTree(spec).qpos0, [0, 0, 0.7, 1, 0, 0, 0, 1, 0, 0, 0])
    welded = load_urdf(ps.morphs.URDF(file=str(path), fixed=True))
    assert welded.n_dofs == 3 and np.allclose(welded.links[0].pos, [0, 0, 0.7])


def test_morph_flags_reach_the_loaders():
    """collision=False drops the colliders, visualization=False the meshes; MJCF fixed=True welds a body
    the file lets float."""
    bare = load_urdf(ps.morphs.URDF(file="robots/quadruped.urdf", collision=False, visualization=False))
    assert not any(link.geoms or link.visuals for link in bare.links)
    assert bare.n_dofs == 18
    gymnasium = pytest.importorskip("gymnasium")
    ant = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / "ant.xml"
    welded = load_mjcf(ps.morphs.MJCF(file=str(ant), fixed=True))
    assert welded.n_dofs == 8 and not any(j.type == JointType.FREE for j in welded.joints)


def test_third_party_urdfs_from_pybullet_data():
    """Descriptions shipped in pybullet_data load with their known link, joint and dof counts, and their
    rest pose matches Bullet's."""
    pybullet = pytest.importorskip("pybullet")
    pybullet_data = pytest.importorskip("pybullet_data")
    root = Path(pybullet_data.getDataPath())
    cases = {  # file: (fixed, links after merging, dofs)
        "kuka_iiwa/model.urdf": (True, 8, 7),
        "franka_panda/panda.urdf": (True, 10, 9),
        "laikago/laikago_toes.urdf": (False, 13, 6 + 12),
        "r2d2.urdf": (False, 9, 6 + 8),
    }
    client = pybullet.connect(pybullet.DIRECT)
    try:
        for name, (fixed, n_links, n_dofs) in cases.items():
            spec = load_urdf(ps.morphs.URDF(file=str(root / name), fixed=fixed))
            assert (len(spec.links), spec.n_dofs) == (n_links, n_dofs), name
            robot = pybullet.loadURDF(str(root / name), useFixedBase=fixed, physicsClientId=client)
            movable = [j for j in range(pybullet.getNumJoints(robot, physicsClientId=client))
                       if pybullet.getJointInfo(robot, j, physicsClientId=client)[2] != pybullet.JOINT_FIXED]
            assert len(movable) == n_dofs - (0 if fixed else 6), name
            tree = KinematicTree(spec)
            pos, _ = tree.forward_kinematics(tree.qpos0)
            ours, bullets = [], []
            for joint in range(pybullet.getNumJoints(robot, physicsClientId=client)):
                link_name = pybullet.getJointInfo(robot, joint, physicsClientId=client)[12].decode()
                if link_name in tree.link_names:
                    state = pybullet.getLinkState(robot, joint, computeForwardKinematics=True, physicsClientId=client)
                    ours.append(pos[tree.link_index(link_name)])
                    bullets.append(state[4])  # the link (URDF) frame, not the inertial frame
            # Bullet places a floating base by its inertial frame: compare link frames relative to one another.
            ours, bullets = np.array(ours), np.array(bullets)
            np.testing.assert_allclose(ours - ours[0], bullets - bullets[0], atol=1e-6, err_msg=name)
    finally:
        pybullet.disconnect(client)


# ----------------------------------------------------------------------------- MJCF file features

FEATURES_MAIN = """<mujoco model="features">
  <compiler angle="degree" eulerseq="zyx" meshdir="meshes" autolimits="true"/>
  <include file="features_defaults.xml"/>
  <asset>
    <mesh name="wedge" file="wedge.stl" scale="1 2 1"/>
    <material name="blue" rgba="0 0 1 1"/>
  </asset>
  <worldbody>
    <geom name="floor" type="plane" size="2 2 0.1"/>
    <body name="torso" pos="0.1 0.2 1.0" euler="10 20 30">
      <freejoint name="root"/>
      <geom type="ellipsoid" size="0.1 0.08 0.05" density="800"/>
      <geom type="box" size="0.05 0.05 0.02" pos="0 0 0.07" axisangle="1 1 0 30" material="blue"/>
      <body name="arm" pos="0.15 0 0" xyaxes="0 1 0 -1 0 0" childclass="limb">
        <joint name="shoulder" type="ball"/>
        <geom type="capsule" fromto="0 0 0 0.3 0.1 0"/>
        <body name="forearm" pos="0.3 0.1 0" zaxis="0 1 1">
          <joint name="elbow" range="-90 10" ref="20"/>
          <joint name="slide" type="slide" axis="1 0 0" range="-0.1 0.1"/>
          <geom type="cylinder" fromto="0 0 0 0 0 0.2" size="0.02"/>
          <geom type="mesh" mesh="wedge" pos="0 0 0.2" class="heavy"/>
          <frame pos="0 0 0.25" euler="0 0 90">
            <body name="hand" pos="0.05 0 0">
              <inertial pos="0.01 0 0" quat="0.9238795 0 0.3826834 0" mass="0.3" diaginertia="0.001 0.002 0.003"/>
              <joint name="wrist" axis="0 1 0"/>
              <geom type="sphere" size="0.03"/>
            </body>
          </frame>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="p_elbow" joint="elbow" kp="50" kv="5" ctrlrange="-1.5 0.2"/>
    <motor name="m_slide" joint="slide" gear="20" forcerange="-30 30"/>
    <velocity name="v_wrist" joint="wrist" kv="3"/>
    <general name="g_elbow" joint="elbow" gainprm="200" biasprm="0 -200 -20" biastype="affine"/>
  </actuator>
</mujoco>
"""

FEATURES_DEFAULTS = """<mujoco>
  <default>
    <geom rgba="0.2 0.8 0.2 1" density="500"/>
    <joint damping="0.5"/>
    <default class="limb">
      <geom size="0.03" contype="2" conaffinity="1"/>
      <joint armature="0.01" frictionloss="0.1"/>
      <default class="heavy">
        <geom density="3000" group="3"/>
      </default>
    </default>
  </default>
</mujoco>
"""


@pytest.fixture(scope="module")
def features_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    (folder / "meshes").mkdir()
    wedge = trimesh.Trimesh(vertices=[[0, 0, 0], [0.1, 0, 0], [0, 0.05, 0], [0, 0, 0.08]],
                            faces=[[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    wedge.export(folder / "meshes" / "wedge.stl")
    (folder / "features.xml").write_text(FEATURES_MAIN)
    (folder / "features_defaults.xml").write_text(FEATURES_DEFAULTS)
    return folder / "features.xml"


def mujoco_model(path):
    mujoco = pytest.importorskip("mujoco")
    cwd = os.getcwd()
    os.chdir(Path(path).parent)  # MuJoCo writes its warnings log into the working directory
    try:
        return mujoco, mujoco.MjModel.from_xml_path(str(path))
    finally:
        os.chdir(cwd)


def assert_matches_mujoco(spec, path, rng, atol_pos=1e-9, rtol_inertia=1e-6, rtol_mass=1e-9, atol_com=1e-9):
    """Counts, rest coordinates, per-body mass properties and poses at random coordinates agree with
    MuJoCo's compiled model of the same file (links match MuJoCo's bodies in order)."""
    mujoco, model = mujoco_model(path)
    data = mujoco.MjData(model)
    tree = KinematicTree(spec)
    assert (spec.n_qpos, spec.n_dofs) == (model.nq, model.nv)
    np.testing.assert_allclose(tree.qpos0, model.qpos0, atol=1e-12)
    shift = 0 if spec.links[0].name == "world" else 1
    assert len(spec.links) + shift == model.nbody
    qpos = tree.integrate(tree.qpos0, rng.uniform(-0.5, 0.5, tree.n_dofs))
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    pos, quat = tree.forward_kinematics(qpos)
    for index, link in enumerate(spec.links):
        body = index + shift
        if link.name == "world":
            continue
        assert link.mass == pytest.approx(model.body_mass[body], rel=rtol_mass, abs=1e-12), link.name
        rotation = np.zeros(9)
        mujoco.mju_quat2Mat(rotation, model.body_iquat[body])
        rotation = rotation.reshape(3, 3)
        inertia = rotation @ np.diag(model.body_inertia[body]) @ rotation.T
        np.testing.assert_allclose(link.inertia, inertia, rtol=rtol_inertia, atol=rtol_inertia * np.abs(inertia).max(),
                                   err_msg=link.name)
        np.testing.assert_allclose(link.com, model.body_ipos[body], atol=atol_com, err_msg=link.name)
        np.testing.assert_allclose(pos[index], data.xpos[body], atol=atol_pos, err_msg=link.name)
        np.testing.assert_allclose(abs(quat[index] @ data.xquat[body]), 1.0, atol=1e-9, err_msg=link.name)
    return mujoco, model


def test_mjcf_features_match_mujoco(features_file):
    """Includes, nested defaults and childclass, degrees with a zyx Euler sequence, axisangle/xyaxes/zaxis,
    fromto, ellipsoid, mesh (scaled asset), frame, joint ref, ball/free/hinge/slide joints, explicit and
    geom-derived inertia: every body's mass properties and pose equal MuJoCo's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = load_mjcf(ps.morphs.MJCF(file=str(features_file)))
    mujoco, model = assert_matches_mujoco(spec, features_file, np.random.default_rng(4))
    names = [link.name for link in spec.links]
    assert names == ["world", "torso", "arm", "forearm", "hand"]
    (floor,) = spec.links[0].geoms
    assert floor.geom.shape.type == GeomType.PLANE and spec.links[0].mass == 0
    elbow = next(j for j in spec.joints if j.name == "elbow")
    assert elbow.limit == pytest.approx(np.radians([-90, 10]))
    assert (elbow.damping, elbow.armature, elbow.frictionloss) == (0.5, 0.01, 0.1)
    arm = spec.links[2]
    assert {(g.contype, g.conaffinity) for g in arm.geoms} == {(2, 1)}
    forearm = spec.links[3]
    assert len(forearm.geoms) == 2 and len(forearm.visuals) == 1  # the group-3 mesh collides, is not drawn
    assert spec.links[1].visuals[1].rgba == (0.0, 0.0, 1.0, 1.0)  # the material's colour
    kinds = {a.name: a for a in spec.actuators}
    assert (kinds["p_elbow"].kind, kinds["p_elbow"].kp, kinds["p_elbow"].kv) == ("position", 50.0, 5.0)
    assert kinds["p_elbow"].ctrlrange == (-1.5, 0.2)  # a position target is stated in radians
    assert (kinds["m_slide"].kind, kinds["m_slide"].gear, kinds["m_slide"].forcerange) == ("motor", 20.0, (-30, 30))
    assert (kinds["v_wrist"].kind, kinds["v_wrist"].kv) == ("velocity", 3.0)
    assert (kinds["g_elbow"].kind, kinds["g_elbow"].kp, kinds["g_elbow"].kv) == ("position", 200.0, 20.0)
    for actuator in spec.actuators:
        index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, actuator.name)
        if actuator.kind == "position":
            assert -model.actuator_biasprm[index, 1] == actuator.kp  # the servo's stiffness
            assert -model.actuator_biasprm[index, 2] == actuator.kv


@pytest.mark.parametrize("name", ["ant.xml", "humanoid.xml", "hopper.xml", "reacher.xml"])
def test_third_party_mjcf_from_gymnasium_matches_mujoco(name):
    gymnasium = pytest.importorskip("gymnasium")
    path = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tendons and springs are reported as skipped
        spec = load_mjcf(ps.morphs.MJCF(file=str(path)))
    _, model = assert_matches_mujoco(spec, path, np.random.default_rng(5))
    assert len(spec.actuators) == model.nu


def test_mujocos_own_test_model_matches_mujoco():
    """MuJoCo's test model (shipped in the mujoco wheel): inline mesh vertices, box and ellipsoid fromto,
    several hinge joints per body, springs and a height field (both skipped with a warning)."""
    mujoco = pytest.importorskip("mujoco")
    path = Path(mujoco.__file__).parent / "testdata" / "model.xml"
    if not path.is_file():
        pytest.skip("this mujoco wheel ships no testdata/model.xml")
    clear_cache()  # a cached spec would not warn again
    with pytest.warns(UserWarning, match="hfield geoms"):
        spec = load_mjcf(ps.morphs.MJCF(file=str(path)))
    # Its inline icosahedron is a convex hull whose inertia MuJoCo and trimesh integrate alike to ~1e-7.
    assert_matches_mujoco(spec, path, np.random.default_rng(9), rtol_mass=1e-6, rtol_inertia=1e-6)


@pytest.mark.skipif(not GENESIS_PANDA.is_file(), reason="Genesis's Franka MJCF is not installed here")
def test_genesis_franka_mjcf_loads_like_mujoco():
    """The benchmark's Franka: meshes, classes and general position servos load; the fingers' joint equality
    couples them and the actuator on their fixed tendon (coefficients 0.5 + 0.5: lever 1) drives the finger
    the other follows, with the servo's stiffness (biasprm: 100 N/m, 10 N s/m)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = load_mjcf(ps.morphs.MJCF(file=str(GENESIS_PANDA)))
    assert_matches_mujoco(spec, GENESIS_PANDA, np.random.default_rng(6))
    assert spec.n_dofs == 9 and len(spec.actuators) == 8
    first, fingers = spec.actuators[0], spec.actuators[7]
    assert (first.kind, first.kp, first.kv, first.forcerange) == ("position", 4500.0, 450.0, (-87.0, 87.0))
    assert (fingers.joint, fingers.kind, fingers.kp, fingers.kv) == ("finger_joint2", "position", 100.0, 10.0)
    assert [(e.joint, e.follows, e.multiplier, e.offset) for e in spec.equalities] == [
        ("finger_joint1", "finger_joint2", 1.0, 0.0)]
    assert all(g.geom.shape.type in (GeomType.CONVEX, GeomType.BOX) for link in spec.links for g in link.geoms)


@pytest.mark.skipif(not GENESIS_FRANKA_SIM.is_file(), reason="Genesis's franka_sim MJCF is not installed here")
def test_masses_from_open_meshes_are_close_to_mujoco():
    """franka_sim states masses of collision meshes only; each body's visual meshes (open STL surfaces) add
    mass at density 1000, as in MuJoCo. Its mesh volume rule differs slightly from ours on open surfaces:
    masses within 0.5%, inertias within 1% of the largest entry, centres of mass within 0.1 mm."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = load_mjcf(ps.morphs.MJCF(file=str(GENESIS_FRANKA_SIM)))
    assert_matches_mujoco(spec, GENESIS_FRANKA_SIM, np.random.default_rng(8), rtol_mass=5e-3, rtol_inertia=1e-2,
                          atol_com=1e-4)


# ----------------------------------------------------------------------------------- malformed files


def test_missing_robot_file_names_it():
    with pytest.raises(AssetError, match="URDF.file: file not found: 'robots/nothing.urdf'"):
        ps.morphs.URDF(file="robots/nothing.urdf")
    with pytest.raises(InvalidValueError, match="MJCF.scale"):
        ps.morphs.MJCF(file="robots/arm7.xml", scale=0)


@pytest.mark.parametrize("kind, text, element", [
    ("urdf", '<robot name="r"><link name="a"></robot>', "XML: malformed"),
    ("urdf", '<robot name="r"><link name="a"/><link name="b"/><joint name="j" type="screw"><parent link="a"/>'
             '<child link="b"/></joint></robot>', "<joint name='j'>: unsupported type 'screw'"),
    ("urdf", '<robot name="r"><link name="a"><visual><geometry><mesh filename="gone.stl"/></geometry></visual>'
             '</link></robot>', "<link name='a'><visual><mesh filename='gone.stl'>: mesh file not found"),
    ("urdf", '<robot name="r"><link name="a"/><joint name="j" type="fixed"><parent link="a"/><child link="z"/>'
             '</joint></robot>', "<joint name='j'>: names link 'z'"),
    ("mjcf", '<mujoco><worldbody><body name="b"><geom size="0.1"/></body></worldbody>', "XML: malformed"),
    ("mjcf", '<mujoco><worldbody><body name="b"><joint name="j" type="screw"/><geom size="0.1"/></body>'
             '</worldbody></mujoco>', "<joint name='j'>: unsupported joint type 'screw'"),
    ("mjcf", '<mujoco><asset><mesh name="m" file="gone.stl"/></asset><worldbody><body name="b">'
             '<geom type="mesh" mesh="m"/></body></worldbody></mujoco>', "<geom><mesh name='m'>: mesh file not found"),
    ("mjcf", '<mujoco><worldbody><body name="b"><geom type="mesh" mesh="m"/></body></worldbody></mujoco>',
     "<geom>: names mesh 'm'"),
    ("mjcf", '<mujoco><worldbody><body name="b"><geom class="nope" size="0.1"/></body></worldbody></mujoco>',
     "<geom>: names default class 'nope'"),
    ("mjcf", '<mujoco><worldbody><body name="b"><geom type="box" size="0.1 0.1"/></body></worldbody></mujoco>',
     "<geom>: size '0.1 0.1' is missing or not positive for a box"),
    ("mjcf", '<mujoco><worldbody><body name="b"><geom size="0.1"/><joint name="j" range="1"/></body></worldbody>'
             '</mujoco>', "<joint name='j'>: range='1' needs 2 numbers"),
    ("mjcf", '<mujoco><worldbody><body name="b"><wheel/></body></worldbody></mujoco>', "<wheel>: unknown element"),
    ("mjcf", '<mujoco><worldbody><body name="b"><geom name="g" type="torus"/></body></worldbody></mujoco>',
     "<geom name='g'>: unknown geom type 'torus'"),
    ("mjcf", '<mujoco><include file="gone.xml"/><worldbody/></mujoco>', "<include file='gone.xml'>: file not found"),
])
def test_malformed_files_name_file_and_element(tmp_path, kind, text, element):
    path = tmp_path / f"robot.{'urdf' if kind == 'urdf' else 'xml'}"
    path.write_text(text)
    with pytest.raises(AssetError) as error:
        if kind == "urdf":
            load_urdf(ps.morphs.URDF(file=str(path)))
        else:
            load_mjcf(ps.morphs.MJCF(file=str(path)))
    assert str(path) in str(error.value)
    assert element in str(error.value)
