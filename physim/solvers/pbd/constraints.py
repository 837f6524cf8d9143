"""The distance constraints of PBD bodies, built once on the host, and their graph colouring.

- Cloth stretch: one constraint per mesh edge, at its rest length.
- Cloth bending: for each edge shared by two triangles, a distance constraint between the two vertices
  opposite it, at their rest distance (as in Mueller's "Ten Minute Physics" cloth): it resists folding about
  the edge, and is much cheaper than a dihedral-angle constraint. Its compliance sets the bending softness.
- Soft bodies (``PBD.Elastic``): the sampled lattice's neighbours along the 26 lattice directions (axes,
  face and body diagonals), each at its rest length: the diagonals resist shear and inversion, so the
  lattice recovers its shape after a deformation.

Colouring: constraints sharing a particle get different colours (greedy, in order), so each colour can be
solved in parallel without two threads writing one particle.
"""

from __future__ import annotations

import numpy as np


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2) of a triangle mesh, each as (low, high) vertex index."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(edges, axis=1), axis=0)


def bending_pairs(faces: np.ndarray) -> np.ndarray:
    """(K, 2) vertex pairs opposite each edge shared by exactly two triangles."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    opposite = np.concatenate([faces[:, 2], faces[:, 0], faces[:, 1]])
    keys = np.sort(edges, axis=1)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    keys, opposite = keys[order], opposite[order]
    same = np.all(keys[1:] == keys[:-1], axis=1)
    # Exactly two faces on the edge: equal to the next key, and not part of a run of three or more.
    before = np.concatenate([[False], same[:-1]])
    after = np.concatenate([same[1:], [False]])
    first = np.flatnonzero(same & ~before & ~after)
    pairs = np.stack([opposite[first], opposite[first + 1]], axis=1)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def lattice_pairs(positions: np.ndarray, spacing: float) -> np.ndarray:
    """(K, 2) pairs of lattice points one axis, face-diagonal or body-diagonal step apart."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(positions).query_pairs(r=spacing * (3**0.5) * 1.001, output_type="ndarray")
    return pairs.reshape(-1, 2).astype(np.int64)


def color(pairs: np.ndarray, n_particles: int) -> np.ndarray:
    """A colour per constraint such that no two constraints sharing a particle have the same colour."""
    used = [0] * n_particles  # bit c set: the particle already has a constraint of colour c
    colors = np.empty(len(pairs), np.int64)
    for index, (i, j) in enumerate(pairs.tolist()):
        taken = used[i] | used[j]
        c = (~taken & (taken + 1)).bit_length() - 1  # the lowest free colour
        colors[index] = c
        used[i] |= 1 << c
        used[j] |= 1 << c
    return colors
