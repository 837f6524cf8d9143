"""Particle rendering benchmark: frames/s of a camera drawing N particles, as sphere impostors (point
sprites, physim's default), as instanced icospheres (the former path) and as the body's reconstructed
surface (``vis_mode="recon"``: rebuilt every frame), and prints one JSON line.

    python benchmarks/render_particles.py [--counts 50000 500000] [--frames 3]

Scene: N particles of radius 5 mm on a lattice of 1 cm, jittered by 0.5 mm as a simulated body's are,
filling a cube (0.37 m for 50k particles, 0.79 m for 500k) on a floor, the default lights with the key
light's shadow map, one 640x480 camera. Each frame moves the particles (a small jitter: the shadow map is
redrawn, as in a simulation) and renders RGB + depth + segmentation. The first frame (shader compilation, buffer
allocation) is timed apart as ``first_frame_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")

RADIUS, SPACING = 0.005, 0.01  # m


def particle_cloud(count: int, seed: int = 0) -> np.ndarray:
    """About ``count`` points SPACING apart, jittered, in a cube resting on z = 0, m (an MPM body's layout)."""
    per_side = round(count ** (1.0 / 3.0))
    axis = (np.arange(per_side) + 0.5) * SPACING
    lattice = np.stack(np.meshgrid(axis - axis.mean(), axis - axis.mean(), axis, indexing="ij"), -1).reshape(-1, 3)
    return lattice + np.random.default_rng(seed).normal(0.0, 0.05 * SPACING, lattice.shape)


def measure(count: int, mode: str, frames: int) -> dict:
    """One row: ``mode`` is "icospheres", "impostors" or "surface"."""
    import trimesh

    from physim.options import VisOptions
    from physim.render import particles
    from physim.render.camera import Camera
    from physim.render.rasterizer import Rasterizer
    from physim.scene.render_view import ParticleItem, RenderItem, RenderView
    from physim.scene.surfaces import Surface

    cloud = particle_cloud(count)
    side = float(cloud[:, 2].max())
    positions = [cloud]
    floor = RenderItem(entity_index=0, name="floor", mesh=trimesh.creation.box(extents=(4.0, 4.0, 0.02)),
                       surface=Surface(color=(0.8, 0.8, 0.8)))
    pose = np.eye(4)
    pose[2, 3] = -0.01
    item = ParticleItem(entity_index=1, name="cube", surface=Surface(color=(0.9, 0.3, 0.1)), n_particles=len(cloud),
                        radius=RADIUS, reconstruct=mode == "surface")
    view = RenderView([floor], lambda env: pose[None], 2, [item], lambda env: positions)
    saved, particles.SPHERE_IMPOSTORS = particles.SPHERE_IMPOSTORS, mode == "impostors"
    try:
        camera = Camera(res=(640, 480), pos=(2.2 * side, -2.2 * side, 1.6 * side), lookat=(0.0, 0.0, 0.4 * side),
                        fov=40.0)
        camera._attach(view, Rasterizer(view, VisOptions()))
    finally:
        particles.SPHERE_IMPOSTORS = saved
    rng = np.random.default_rng(1)

    def frame() -> np.ndarray:
        positions[0] = cloud + rng.normal(0.0, 1e-4, cloud.shape)
        _, _, seg, _ = camera.render(rgb=True, depth=True, segmentation=True)
        return seg

    start = time.perf_counter()
    seg = frame()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(frames):
        frame()
    elapsed = time.perf_counter() - start
    return {"fps": round(frames / elapsed, 3), "first_frame_s": round(first, 2),
            "particle_pixels": int((seg == 1).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument("--frames", type=int, default=3, help="timed frames per row (after the first)")
    args = parser.parse_args()
    import physim as ps
    from physim.render import gl

    ps.init(backend="cpu", precision="32", seed=0)
    result: dict = {"benchmark": "render_particles", "resolution": [640, 480], "passes": "rgb+depth+seg",
                    "gl": gl.shared_context().info["renderer"]}
    for count in args.counts:
        for mode in ("icospheres", "impostors", "surface"):
            result[f"{mode}_{count}"] = measure(count, mode, args.frames)
        before, after = result[f"icospheres_{count}"]["fps"], result[f"impostors_{count}"]["fps"]
        result[f"speedup_{count}"] = round(after / before, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
