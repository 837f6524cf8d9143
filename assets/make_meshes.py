"""Regenerate the small meshes in assets/meshes/ (they are committed; run this only to change them).

    python assets/make_meshes.py
"""

from pathlib import Path

import numpy as np
import trimesh

HERE = Path(__file__).resolve().parent / "meshes"


def rock(seed: int = 7) -> trimesh.Trimesh:
    """A lumpy, vertex-coloured pebble about 0.12 m across."""
    rng = np.random.default_rng(seed)
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.06)
    bumps = 1.0 + 0.18 * rng.standard_normal(len(mesh.vertices)).clip(-1.5, 1.5)
    mesh.vertices *= bumps[:, None] * np.array([1.0, 0.8, 0.65])
    shade = 0.55 + 0.35 * (mesh.vertices[:, 2] - mesh.vertices[:, 2].min()) / np.ptp(mesh.vertices[:, 2])
    colors = np.c_[shade * 0.62, shade * 0.5, shade * 0.38, np.ones_like(shade)]
    mesh.visual.vertex_colors = (colors * 255).astype(np.uint8)
    return mesh


def torus() -> trimesh.Trimesh:
    """A ring of 0.1 m outer diameter; its collider is its convex hull (a disc)."""
    return trimesh.creation.torus(major_radius=0.035, minor_radius=0.015, major_sections=32, minor_sections=12)


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    rock().export(HERE / "rock.ply")
    torus().export(HERE / "torus.obj")
    print("wrote", sorted(p.name for p in HERE.iterdir()))
