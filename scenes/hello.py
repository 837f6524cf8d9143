"""Hello, physim: a dozen bodies dropped onto a plane, filmed, with one frame of every image kind.

    physim run scenes/hello.py --out out        (or: make demo)

Writes out/hello.mp4 and out/hello_{rgb,depth,segmentation,normal}.png.
"""

import dataclasses

import numpy as np

import physim as ps
from physim.render import depth_to_rgb, normal_to_rgb, save_png, segmentation_to_rgb

ps.init(backend="gpu", seed=0)  # CUDA where there is one, else the CPU (with a warning)


def build(n_envs: int = 0, res: tuple[int, int] = (640, 480)) -> tuple[ps.Scene, object]:
    """The hello scene and its camera, built (``benchmarks/hello.py`` measures this same scene)."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, substeps=2))
    scene.add_entity(ps.morphs.Plane(plane_size=(4.0, 4.0)), material=ps.materials.Rigid(friction=0.7),
                     surface=ps.surfaces.Rough(color=(0.32, 0.36, 0.40)), name="ground")

    rng = np.random.default_rng(0)
    palette = [(0.85, 0.25, 0.2), (0.95, 0.65, 0.15), (0.25, 0.6, 0.85), (0.4, 0.75, 0.35), (0.7, 0.4, 0.8)]
    shapes = [
        ps.morphs.Box(size=(0.12, 0.12, 0.12)),
        ps.morphs.Box(size=(0.2, 0.08, 0.06)),
        ps.morphs.Sphere(radius=0.06),
        ps.morphs.Capsule(radius=0.04, height=0.14),
        ps.morphs.Cylinder(radius=0.05, height=0.12),
    ]
    for index in range(12):
        template = shapes[index % len(shapes)]
        pos = (rng.uniform(-0.35, 0.35), rng.uniform(-0.35, 0.35), 0.3 + 0.15 * index)
        morph = dataclasses.replace(template, pos=pos, euler=tuple(rng.uniform(0, 180, 3)), quat=None)
        scene.add_entity(morph, material=ps.materials.Rigid(rho=600, friction=0.6, restitution=0.2),
                         surface=ps.surfaces.Smooth(color=palette[index % len(palette)]))

    # Meshes made with trimesh (assets/make_meshes.py): a vertex-coloured rock and a metal ring.
    scene.add_entity(ps.morphs.Mesh(file="meshes/rock.ply", pos=(0.0, 0.0, 2.4), euler=(30, 10, 0)),
                     material=ps.materials.Rigid(rho=2500, friction=0.8))
    scene.add_entity(ps.morphs.Mesh(file="meshes/torus.obj", scale=1.5, pos=(0.2, -0.1, 2.7), euler=(60, 0, 0)),
                     material=ps.materials.Rigid(rho=2700), surface=ps.surfaces.Metal())

    camera = scene.add_camera(res=res, pos=(1.6, -1.4, 1.0), lookat=(0.0, 0.0, 0.15), fov=40)
    scene.build(n_envs=n_envs)
    return scene, camera


if __name__ == "__main__":
    scene, camera = build()
    out = ps.output_dir()
    camera.start_recording()
    for _ in ps.progress(range(300), desc="hello"):
        scene.step()
        if scene.cur_step % 2 == 0:  # a 50 frames/s film of a 100 steps/s simulation
            camera.render()
    camera.stop_recording(save_to_filename=out / "hello.mp4", fps=50)

    rgb, depth, segmentation, normal = camera.render(rgb=True, depth=True, segmentation=True, normal=True)
    save_png(out / "hello_rgb.png", rgb)
    save_png(out / "hello_depth.png", depth_to_rgb(depth))
    save_png(out / "hello_segmentation.png", segmentation_to_rgb(segmentation))
    save_png(out / "hello_normal.png", normal_to_rgb(normal))
    resting = sum(np.linalg.norm(entity.get_vel()) < 0.05 for entity in scene.entities[1:])
    print(f"hello: {len(scene.entities) - 1} bodies, {resting} at rest after {scene.t:.1f} s; wrote {out}/hello.mp4")
