"""500 mixed objects poured into a bin: boxes, spheres, capsules, cylinders and pebbles.

    physim run scenes/bin_pour.py --out out

Writes out/bin_pour.mp4 and prints how many objects ended inside the bin, at rest.
"""

import dataclasses

import numpy as np

import physim as ps

ps.init(backend="gpu", seed=0)

N_OBJECTS = 500
BIN_HALF, WALL, WALL_HEIGHT = 0.45, 0.04, 0.35  # m

scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, substeps=2))
scene.add_entity(ps.morphs.Plane(plane_size=(6.0, 6.0)), surface=ps.surfaces.Rough(color=(0.3, 0.33, 0.36)))
wood = ps.surfaces.Rough(color=(0.55, 0.38, 0.22))
for sign in (-1, 1):
    scene.add_entity(ps.morphs.Box(size=(WALL, 2 * BIN_HALF + 2 * WALL, WALL_HEIGHT),
                                   pos=(sign * (BIN_HALF + WALL / 2), 0, WALL_HEIGHT / 2), fixed=True), surface=wood)
    scene.add_entity(ps.morphs.Box(size=(2 * BIN_HALF, WALL, WALL_HEIGHT),
                                   pos=(0, sign * (BIN_HALF + WALL / 2), WALL_HEIGHT / 2), fixed=True), surface=wood)

rng = np.random.default_rng(1)
templates = [
    ps.morphs.Box(size=(0.06, 0.06, 0.06)),
    ps.morphs.Box(size=(0.09, 0.04, 0.03)),
    ps.morphs.Sphere(radius=0.035),
    ps.morphs.Capsule(radius=0.022, height=0.06),
    ps.morphs.Cylinder(radius=0.03, height=0.05),
    ps.morphs.Mesh(file="meshes/rock.ply", scale=0.6),
]
palette = [(0.9, 0.3, 0.25), (0.95, 0.7, 0.2), (0.3, 0.6, 0.9), (0.45, 0.8, 0.4), (0.75, 0.45, 0.85), (0.9, 0.9, 0.9)]
# Poured from a 30 x 30 cm spout, layer after layer, so they arrive over about 3 s.
for index in range(N_OBJECTS):
    layer, slot = divmod(index, 16)
    row, column = divmod(slot, 4)
    pos = (-0.12 + 0.08 * column + rng.uniform(-0.01, 0.01), -0.12 + 0.08 * row + rng.uniform(-0.01, 0.01),
           0.6 + 0.09 * layer)
    morph = dataclasses.replace(templates[index % len(templates)], pos=pos, euler=tuple(rng.uniform(0, 360, 3)),
                                quat=None)
    scene.add_entity(morph, material=ps.materials.Rigid(rho=800, friction=0.5),
                     surface=ps.surfaces.Smooth(color=palette[index % len(palette)]))

camera = scene.add_camera(res=(640, 480), pos=(1.5, -1.3, 1.4), lookat=(0, 0, 0.25), fov=40)
scene.build()

camera.start_recording()
for _ in ps.progress(range(800), desc="pouring"):
    scene.step()
    if scene.cur_step % 4 == 0:
        camera.render()
camera.stop_recording(save_to_filename=ps.output_dir() / "bin_pour.mp4", fps=25)

objects = scene.entities[5:]
positions = np.array([entity.get_pos() for entity in objects])
inside = np.all(np.abs(positions[:, :2]) < BIN_HALF, axis=1)
resting = np.array([np.linalg.norm(entity.get_vel()) < 0.05 for entity in objects])
print(f"bin_pour: {inside.sum()} of {len(objects)} objects inside the bin, {resting.sum()} at rest")
