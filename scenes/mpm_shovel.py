"""A rigid blade ploughing a bed of sand: the blade is driven at constant speed (its velocity set every step),
the sand it meets piles up ahead of it and pushes back (two-way rigid-MPM coupling), filmed.

    physim run scenes/mpm_shovel.py --out out

Writes out/mpm_shovel.mp4 and out/mpm_shovel.png, and prints the force the sand put on the blade.
"""

import numpy as np

import physim as ps
from physim.render import save_png

ps.init(backend="gpu", seed=0)  # CUDA where there is one, else the CPU (with a warning)

SPEED = 0.4  # m/s


def build(grid_density: float = 48, res: tuple[int, int] = (640, 360)) -> tuple[ps.Scene, object, object, object]:
    """A 0.8 m x 0.4 m sand bed 6 cm deep and a blade behind it; returns (scene, camera, blade, sand)."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=2e-3, substeps=4),
                     mpm_options=ps.options.MPMOptions(lower_bound=(-0.45, -0.25, 0.0), upper_bound=(0.45, 0.25, 0.3),
                                                       grid_density=grid_density))
    scene.add_entity(ps.morphs.Plane(plane_size=(3.0, 3.0)), material=ps.materials.Rigid(friction=0.0),
                     surface=ps.surfaces.Rough(color=(0.3, 0.32, 0.35)), name="floor")
    sand = scene.add_entity(ps.morphs.Box(lower=(-0.25, -0.2, 0.0), upper=(0.45, 0.2, 0.06)),
                            material=ps.materials.MPM.Sand(), surface=ps.surfaces.Rough(color=(0.86, 0.74, 0.5)),
                            name="sand")
    blade = scene.add_entity(ps.morphs.Box(size=(0.03, 0.3, 0.2), pos=(-0.35, 0.0, 0.101)),
                             material=ps.materials.Rigid(rho=3000, friction=0.5),
                             surface=ps.surfaces.Metal(color=(0.6, 0.62, 0.66)), name="blade")
    camera = scene.add_camera(res=res, pos=(-0.3, -1.3, 0.6), lookat=(0.05, 0.0, 0.05), fov=40)
    scene.build()
    return scene, camera, blade, sand


if __name__ == "__main__":
    scene, camera, blade, sand = build()
    out = ps.output_dir()
    camera.start_recording()
    drag = []
    for _ in ps.progress(range(500), desc="mpm_shovel"):  # 1 s, 40 cm of travel
        blade.set_vel((SPEED, 0.0, 0.0))
        blade.set_ang((0.0, 0.0, 0.0))
        scene.step()
        # The sand's push is what the blade lost over the step (gravity and the floor act vertically).
        drag.append(blade.mass * (SPEED - blade.get_vel()[0]) / scene.dt)
        if scene.cur_step % 10 == 0:
            camera.render()
    camera.stop_recording(save_to_filename=out / "mpm_shovel.mp4", fps=25)
    rgb, _, _, _ = camera.render()
    save_png(out / "mpm_shovel.png", rgb)
    x = sand.get_particles_pos()
    ahead = x[x[:, 0] > blade.get_pos()[0]]
    print(f"mpm_shovel: blade at x = {blade.get_pos()[0]:.2f} m; mean drag over the last 0.25 s "
          f"{np.mean(drag[-125:]):.1f} N; sand piled ahead to {ahead[:, 2].max():.3f} m (bed 0.06 m)")
