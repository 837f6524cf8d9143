"""Five MPM materials side by side: jelly, plasticine, sand, water and snow dropped onto the floor, filmed.

    physim run scenes/mpm_materials.py --out out

Writes out/mpm_materials.mp4 and out/mpm_materials.png (the last frame). Each column starts as the same
cube; how it lands tells the material: the jelly bounces and keeps its shape, the plasticine flattens and
stays flat, the sand slumps into a pile, the water spreads, the snow packs and breaks.
"""

import physim as ps
from physim.render import save_png

ps.init(backend="gpu", seed=0)  # CUDA where there is one, else the CPU (with a warning)

MATERIALS = (
    ("jelly", ps.materials.MPM.Elastic(E=5e4, nu=0.3), (0.9, 0.35, 0.45)),
    ("plasticine", ps.materials.MPM.Plasticine(E=2e5, yield_lower=2e3), (0.95, 0.7, 0.2)),
    ("sand", ps.materials.MPM.Sand(), (0.85, 0.75, 0.5)),
    ("water", ps.materials.MPM.Liquid(viscosity=1e-3), (0.2, 0.5, 0.95)),
    ("snow", ps.materials.MPM.Snow(), (0.95, 0.95, 1.0)),
)


def build(grid_density: float = 48, res: tuple[int, int] = (640, 360)) -> tuple[ps.Scene, object]:
    """The five cubes in a 1.5 m x 0.4 m x 0.6 m domain, built; returns (scene, camera)."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=2e-3, substeps=8),
                     mpm_options=ps.options.MPMOptions(lower_bound=(-0.75, -0.2, 0.0), upper_bound=(0.75, 0.2, 0.6),
                                                       grid_density=grid_density, auto_substeps=True))
    scene.add_entity(ps.morphs.Plane(plane_size=(3.0, 3.0)), surface=ps.surfaces.Rough(color=(0.3, 0.32, 0.35)),
                     name="floor")
    for column, (name, material, color) in enumerate(MATERIALS):
        x = -0.56 + 0.28 * column
        scene.add_entity(ps.morphs.Box(size=(0.14, 0.14, 0.14), pos=(x, 0.0, 0.3)), material=material,
                         surface=ps.surfaces.Rough(color=color), name=name)
    camera = scene.add_camera(res=res, pos=(0.0, -2.0, 0.7), lookat=(0.0, 0.0, 0.15), fov=35)
    scene.build()
    return scene, camera


if __name__ == "__main__":
    scene, camera = build()
    out = ps.output_dir()
    camera.start_recording()
    for _ in ps.progress(range(400), desc="mpm_materials"):  # 0.8 s
        scene.step()
        if scene.cur_step % 8 == 0:  # 62.5 frames/s of simulated time, played at 25: slow motion
            camera.render()
    camera.stop_recording(save_to_filename=out / "mpm_materials.mp4", fps=25)
    rgb, _, _, _ = camera.render()
    save_png(out / "mpm_materials.png", rgb)
    heights = {entity.name: entity.get_particles_pos()[:, 2].max() for entity in scene.entities[1:]}
    print("mpm_materials: top of each material after 0.8 s (m): "
          + ", ".join(f"{name} {height:.3f}" for name, height in heights.items()))
