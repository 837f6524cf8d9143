"""A cloth drapes over a sphere and a box: XPBD cloth (stretch and bending constraints, self-collision)
falling onto rigid bodies and the ground, filmed as a deforming surface.

    physim run scenes/cloth_drape.py --out out

Writes out/cloth_drape.mp4 and out/cloth_drape.png.
"""

import numpy as np

import physim as ps
from physim.render import save_png

ps.init(backend="gpu", seed=0)  # CUDA where there is one, else the CPU (with a warning)


def build(n_envs: int = 0, res: tuple[int, int] = (640, 480)) -> tuple[ps.Scene, object, object]:
    """The drape scene, its cloth and its camera, built. The cloth is ``assets/cloth/square_32.obj`` (32 x 32
    vertices) scaled to 1.2 m, 0.2 kg/m^2, released flat 0.35 m above a sphere and a box."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, substeps=2),
                     pbd_options=ps.options.PBDOptions(lower_bound=(-1.5, -1.5, 0.0), upper_bound=(1.5, 1.5, 1.5),
                                                       particle_size=0.012, substeps=12))
    scene.add_entity(ps.morphs.Plane(plane_size=(4.0, 4.0)), material=ps.materials.Rigid(friction=0.6),
                     surface=ps.surfaces.Rough(color=(0.32, 0.36, 0.40)), name="ground")
    scene.add_entity(ps.morphs.Sphere(radius=0.2, pos=(-0.22, 0.0, 0.2), fixed=True),
                     material=ps.materials.Rigid(friction=0.4), surface=ps.surfaces.Smooth(color=(0.85, 0.3, 0.2)),
                     name="sphere")
    scene.add_entity(ps.morphs.Box(size=(0.25, 0.25, 0.3), pos=(0.3, 0.05, 0.15), euler=(0, 0, 25)),
                     material=ps.materials.Rigid(rho=400, friction=0.6),
                     surface=ps.surfaces.Smooth(color=(0.25, 0.55, 0.85)), name="box")
    cloth = scene.add_entity(ps.morphs.Mesh(file="cloth/square_32.obj", scale=1.2, pos=(0.0, 0.0, 0.75)),
                             material=ps.materials.PBD.Cloth(rho=0.2, stretch_compliance=1e-7,
                                                             bending_compliance=1e5, friction=0.4, damping=0.2),
                             surface=ps.surfaces.Default(color=(0.95, 0.8, 0.3)), name="cloth")
    camera = scene.add_camera(res=res, pos=(1.7, -1.6, 1.2), lookat=(0.0, 0.0, 0.25), fov=40)
    scene.build(n_envs=n_envs)
    return scene, cloth, camera


if __name__ == "__main__":
    scene, cloth, camera = build()
    out = ps.output_dir()
    camera.start_recording()
    for _ in ps.progress(range(250), desc="cloth_drape"):
        scene.step()
        if scene.cur_step % 2 == 0:  # a 50 frames/s film of a 100 steps/s simulation
            camera.render()
    camera.stop_recording(save_to_filename=out / "cloth_drape.mp4", fps=50)
    rgb, *_ = camera.render(rgb=True)
    save_png(out / "cloth_drape.png", rgb)
    x = cloth.get_particles_pos()
    print(f"cloth_drape: {cloth.n_particles} cloth particles, lowest at {x[:, 2].min():.3f} m, highest at "
          f"{x[:, 2].max():.3f} m after {scene.t:.1f} s; finite: {bool(np.isfinite(x).all())}; wrote "
          f"{out}/cloth_drape.mp4")
