"""Pouring: a nozzle pours water into a rigid cup standing in an SPH tank, filmed.

    physim run scenes/pour.py --out out

Writes out/pour.mp4. The cup is five fixed boxes (a floor and four walls); the nozzle is an SPH entity with a
``Nozzle`` morph whose reserved particles ``emit()`` releases a disc at a time.
"""

import numpy as np

import physim as ps

ps.init(backend="gpu", seed=0)
CUP_WALL, CUP_INNER, CUP_HEIGHT = 0.012, 0.1, 0.12  # m: 10 cm inside, 12 cm tall, 1.2 cm walls and floor


def build(particle_size: float = 0.008, res: tuple[int, int] = (480, 480)) -> tuple[ps.Scene, object, object]:
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.004, substeps=2),
                     sph_options=ps.options.SPHOptions(lower_bound=(-0.15, -0.15, 0.0), upper_bound=(0.15, 0.15, 0.45),
                                                       particle_size=particle_size, auto_substeps=True))
    scene.add_entity(ps.morphs.Plane(), surface=ps.surfaces.Rough(color=(0.35, 0.35, 0.38)), name="ground")
    glass = ps.surfaces.Default(color=(0.85, 0.85, 0.9))
    for index, box in enumerate(ps.morphs.open_box((CUP_INNER, CUP_INNER), CUP_HEIGHT, CUP_WALL)):
        scene.add_entity(box, surface=glass, name=f"cup_{index}")
    # 1.3 s at 0.8 m/s through a 1.6 cm radius: 0.84 l, about 70 % of the cup's 1.2 l.
    jet = scene.add_entity(ps.morphs.Nozzle(pos=(0.0, 0.0, 0.25), radius=0.016, direction=(0.0, 0.0, -1.0),
                                            speed=0.8, max_particles=40_000),
                           material=ps.materials.SPH.Liquid(), surface=ps.surfaces.Default(color=(0.2, 0.45, 0.9)),
                           name="water")
    camera = scene.add_camera(res=res, pos=(0.45, -0.45, 0.4), lookat=(0.0, 0.0, 0.1), fov=40)
    scene.build()
    return scene, jet, camera


def in_cup(positions: np.ndarray, particle_size: float) -> int:
    """How many of the particles at ``positions`` (n, 3), m, are inside the cup (half a particle of slack)."""
    slack = 0.5 * particle_size
    inside = (np.abs(positions[:, :2]).max(axis=1) < CUP_INNER / 2 + slack) & (positions[:, 2] > CUP_WALL - slack)
    return int(inside.sum())


if __name__ == "__main__":
    scene, jet, camera = build()
    out = ps.output_dir()
    camera.start_recording()
    for _ in ps.progress(range(500), desc="pour"):
        if scene.t < 1.3:
            jet.emit()
        scene.step()
        if scene.cur_step % 2 == 0:
            camera.render()
    camera.stop_recording(save_to_filename=out / "pour.mp4", fps=125)
    poured = jet.get_n_active()
    landed = in_cup(jet.get_particles_pos()[:poured], scene.sph_options.particle_size)
    print(f"pour: {poured} particles poured ({poured * jet.particle_mass:.3f} kg), {landed} in the cup; "
          f"wrote {out}/pour.mp4")
