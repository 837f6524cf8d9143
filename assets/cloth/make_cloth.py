"""Square cloth meshes for PBD scenes, tests and benchmarks: an n x n grid of vertices in the z = 0 plane,
centred on the origin, two triangles per cell. Vertex (row, col) is index ``row * n + col`` (x along col,
y along row), so the corners are 0, n - 1, n (n - 1) and n n - 1.

    python assets/cloth/make_cloth.py      (writes square_32.obj next to this file)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def square_grid(n: int, size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n n, 3), m, and triangles (2 (n - 1)^2, 3) of a size x size square."""
    coords = (np.arange(n) / (n - 1) - 0.5) * size
    y, x = np.meshgrid(coords, coords, indexing="ij")
    vertices = np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], axis=1)
    row, col = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (row * n + col).ravel()
    b, c, d = a + 1, a + n, a + n + 1
    # Alternate the diagonal cell by cell so the cloth has no preferred fold direction.
    flip = ((row + col) % 2 == 1).ravel()
    first = np.where(flip[:, None], np.stack([a, b, d], 1), np.stack([a, b, c], 1))
    second = np.where(flip[:, None], np.stack([a, d, c], 1), np.stack([b, d, c], 1))
    return vertices, np.concatenate([first, second])


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """A plain OBJ (vertices and triangles only), so loaders keep the vertex order."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    Path(path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    write_obj(Path(__file__).with_name(f"square_{n}.obj"), *square_grid(n))
