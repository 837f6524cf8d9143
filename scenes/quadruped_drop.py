"""A quadruped dropped onto the ground: its floating base falls, the legs hold a standing pose with PD
control, and it comes to rest on its four feet.

    physim run scenes/quadruped_drop.py --out out

Writes out/quadruped_drop.mp4 and prints where the trunk came to rest.
"""

import numpy as np

import physim as ps

ps.init(backend="gpu", seed=0)  # CUDA where there is one, else the CPU (with a warning)

# Standing pose per leg (hip, thigh, knee), rad, and the legs' PD gains.
STAND = np.array([0.0, 0.8, -1.5])
KP, KV = 60.0, 2.0
DROP_HEIGHT = 0.6  # m, the trunk's starting height


def build(n_envs: int = 0, res: tuple[int, int] = (640, 480), camera: bool = True):
    """The drop scene: (scene, robot, camera or None), built, legs commanded to the standing pose."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, substeps=4))
    scene.add_entity(ps.morphs.Plane(plane_size=(4.0, 4.0)), material=ps.materials.Rigid(friction=0.9),
                     surface=ps.surfaces.Rough(color=(0.32, 0.36, 0.40)), name="ground")
    robot = scene.add_entity(ps.morphs.URDF(file="robots/quadruped.urdf", pos=(0.0, 0.0, DROP_HEIGHT)),
                             name="quadruped")
    cam = scene.add_camera(res=res, pos=(1.6, -1.4, 0.9), lookat=(0.0, 0.0, 0.25), fov=40) if camera else None
    scene.build(n_envs=n_envs)
    legs = [robot.get_joint(f"{leg}_{part}_joint").dof_idx_local
            for leg in ("FL", "FR", "RL", "RR") for part in ("hip", "thigh", "knee")]
    pose = np.tile(STAND, 4)
    robot.set_dofs_position(pose, legs)
    robot.set_dofs_kp(np.full(len(legs), KP), legs)
    robot.set_dofs_kv(np.full(len(legs), KV), legs)
    robot.control_dofs_position(pose, legs)
    return scene, robot, cam


if __name__ == "__main__":
    scene, robot, camera = build()
    out = ps.output_dir()
    camera.start_recording()
    for _ in ps.progress(range(200), desc="quadruped_drop"):
        scene.step()
        if scene.cur_step % 2 == 0:
            camera.render()
    camera.stop_recording(save_to_filename=out / "quadruped_drop.mp4", fps=50)
    height = robot.get_pos()[2]
    speed = np.linalg.norm(robot.get_dofs_velocity()[:3])
    print(f"quadruped_drop: the trunk came to rest {100 * height:.1f} cm above the ground (moving at "
          f"{100 * speed:.2f} cm/s); wrote {out}/quadruped_drop.mp4")
