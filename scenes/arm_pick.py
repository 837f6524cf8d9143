"""Pick and lift: the 7-DoF arm reaches a cube with inverse kinematics, grasps it by friction, lifts it
10 cm and holds it for 2 s.

    physim run scenes/arm_pick.py --out out

Writes out/arm_pick.mp4 and prints how far the cube rose and how much it slipped in the fingers.
"""

import numpy as np

import physim as ps

ps.init(backend="gpu", seed=0)  # CUDA where there is one, else the CPU (with a warning)

CUBE_SIZE = 0.05  # m
CUBE_POS = np.array([0.45, 0.0, CUBE_SIZE / 2])
DOWN = np.array([0.0, 1.0, 0.0, 0.0])  # the hand's z axis pointing at the floor, fingers opening along y
OPEN, CLOSED = 0.04, 0.0  # finger travel, m: the fingers stop on the cube before reaching CLOSED
LIFT = 0.10  # m
# PD gains of the arm's joints and fingers (those of its MJCF twin's position actuators)
KP = np.array([800, 800, 500, 500, 200, 200, 100, 400, 400], float)
KV = np.array([57, 57, 45, 45, 28, 28, 20, 20, 20], float)


def build(n_envs: int = 0, res: tuple[int, int] = (640, 480), camera: bool = True):
    """The pick scene: (scene, arm, cube, camera or None), built."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, substeps=2))
    scene.add_entity(ps.morphs.Plane(plane_size=(3.0, 3.0)), material=ps.materials.Rigid(friction=0.6),
                     surface=ps.surfaces.Rough(color=(0.32, 0.36, 0.40)), name="ground")
    arm = scene.add_entity(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True), name="arm")
    cube = scene.add_entity(ps.morphs.Box(size=(CUBE_SIZE,) * 3, pos=tuple(CUBE_POS)),
                            material=ps.materials.Rigid(rho=500, friction=1.0),
                            surface=ps.surfaces.Smooth(color=(0.85, 0.25, 0.2)), name="cube")
    cam = scene.add_camera(res=res, pos=(1.3, -1.0, 0.8), lookat=(0.3, 0.0, 0.25), fov=40) if camera else None
    scene.build(n_envs=n_envs)
    arm.set_dofs_kp(KP)
    arm.set_dofs_kv(KV)
    arm.set_gravity_compensation(1.0)  # the arm's controller cancels its own weight, as real arms' do
    return scene, arm, cube, cam


def pick(scene, arm, cube, on_step=lambda: None) -> dict:
    """Reach, grasp, lift, hold. Returns the cube's rise (m) and its slip in the fingers while held (m)."""
    hand = arm.get_link("tcp")
    fingers = [arm.get_joint("left_finger_joint").dof_idx_local, arm.get_joint("right_finger_joint").dof_idx_local]
    arm_dofs = [dof for dof in range(arm.n_dofs) if dof not in fingers]

    def move(target_pos, finger, seconds):
        """IK for the hand at ``target_pos``, then glide the joint targets there over ``seconds``."""
        start = arm.get_dofs_position()
        goal = arm.inverse_kinematics(hand, pos=target_pos, quat=DOWN, init_qpos=arm.get_qpos(),
                                      dofs_idx_local=arm_dofs, max_iters=200, pos_tol=1e-4)
        goal[fingers] = finger
        steps = int(round(seconds / scene.dt))
        for step in range(steps):
            blend = 0.5 - 0.5 * np.cos(np.pi * min(1.0, (step + 1) / (0.8 * steps)))  # smooth start and stop
            arm.control_dofs_position(start + blend * (goal - start))
            scene.step()
            on_step()

    above = CUBE_POS + [0.0, 0.0, 0.12]
    at = CUBE_POS + [0.0, 0.0, 0.01]  # the finger pads centred on the cube's upper half
    move(above, OPEN, 1.5)
    move(at, OPEN, 1.0)
    move(at, CLOSED, 0.6)
    grasped_height = cube.get_pos()[2]
    move(at + [0.0, 0.0, LIFT], CLOSED, 1.0)
    offset_start = cube.get_pos() - hand.get_pos()
    heights = []
    for _ in range(int(round(2.0 / scene.dt))):  # hold for 2 s
        scene.step()
        on_step()
        heights.append(cube.get_pos()[2])
    slip = float(np.linalg.norm(cube.get_pos() - hand.get_pos() - offset_start))
    return {"rise": float(cube.get_pos()[2] - grasped_height), "slip": slip,
            "lowest_while_held": float(min(heights)), "cube_z": float(cube.get_pos()[2])}


if __name__ == "__main__":
    scene, arm, cube, camera = build()
    out = ps.output_dir()
    camera.start_recording()

    def film():
        if scene.cur_step % 2 == 0:  # a 50 frames/s film of a 100 steps/s simulation
            camera.render()

    result = pick(scene, arm, cube, film)
    camera.stop_recording(save_to_filename=out / "arm_pick.mp4", fps=50)
    print(f"arm_pick: the cube rose {100 * result['rise']:.1f} cm and slipped {1000 * result['slip']:.2f} mm "
          f"while held for 2 s; wrote {out}/arm_pick.mp4")
