"""The constraints of PBD bodies, built once on the host, and their graph colouring.

- Cloth stretch: one distance constraint per mesh edge, at its rest length.
- Cloth bending: one hinge per edge shared by two triangles, holding the signed dihedral angle between them
  at its rest value (Bridson et al. 2003's angle gradients; ``hinge_angles``), with the stiffness of the
  Discrete Shells energy (Grinspun et al. 2003): the hinge of edge e takes D |e|^2 / A_e, N m/rad, for a
  bending stiffness D (N m) and A_e the area of its two triangles, which sums to the plate energy
  D/2 kappa^2 per area under a uniform bend (``hinge_stiffness_factors``). A distance constraint across the
  edge between the two opposite vertices (as Mueller's "Ten Minute Physics" cloth has it) was the first
  bending model here: its length changes only to second order in the angle, so it has no stiffness about a
  flat cloth, and a strip clamped at one end drooped as far under compliance 1e-8 m/N as under 1e-2
  (measured): the compliance did nothing.
- Tethers (long-range attachments, Kim, Chentanez and Mueller 2012): a free cloth particle may be no farther
  from a pinned particle than its rest geodesic distance along the cloth. A single short substep's constraint
  sweep carries a pin's pull only a few edges down a cloth, so a cloth hung by its corners stretches there
  until many substeps pass; the tether bounds every particle directly by the pin, in one projection. The
  rest distance is geodesic, not Euclidean: on a folded or curved mesh (a garment, a sleeve) the straight line
  is shorter than the way along the cloth, and a Euclidean tether would pull the cloth through itself or
  hold a fold shut. It is the shortest path over the mesh's edges plus chords across flat patches
  (``geodesic_graph``), replaced by the straight line where the two agree to within ``FLAT_PATH`` (the flat
  case, where the straight line is the exact geodesic). Each particle keeps the ``slots`` nearest pins.
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


def bending_hinges(faces: np.ndarray) -> np.ndarray:
    """(K, 4) hinges (x0, x1, x2, x3), one per edge shared by exactly two triangles: the edge x0 -> x1 as the
    first triangle (x0, x1, x2) runs it, x3 the other triangle's vertex off the edge. With consistently wound
    triangles a flat mesh's hinges are at angle 0 (``hinge_angles``)."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    opposite = np.concatenate([faces[:, 2], faces[:, 0], faces[:, 1]])
    keys = np.sort(directed, axis=1)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    keys, directed, opposite = keys[order], directed[order], opposite[order]
    same = np.all(keys[1:] == keys[:-1], axis=1)
    # Exactly two faces on the edge: equal to the next key, and not part of a run of three or more.
    before = np.concatenate([[False], same[:-1]])
    after = np.concatenate([same[1:], [False]])
    first = np.flatnonzero(same & ~before & ~after)
    hinges = np.stack([directed[first, 0], directed[first, 1], opposite[first], opposite[first + 1]], axis=1)
    return hinges[hinges[:, 2] != hinges[:, 3]]


def hinge_angles(positions: np.ndarray, hinges: np.ndarray) -> np.ndarray:
    """Signed dihedral angle of each hinge, rad: 0 flat, positive when x3 lies behind triangle (x0, x1, x2)
    (against its right-handed normal); the same formula as the solver's kernel."""
    x0, x1, x2, x3 = (positions[hinges[:, k]] for k in range(4))
    edge = x1 - x0
    n1, n2 = np.cross(x2 - x0, x2 - x1), np.cross(x3 - x1, x3 - x0)
    n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
    n2 /= np.linalg.norm(n2, axis=1, keepdims=True)
    sine = np.einsum("ij,ij->i", np.cross(n1, n2), edge / np.linalg.norm(edge, axis=1, keepdims=True))
    return np.arctan2(sine, np.einsum("ij,ij->i", n1, n2))


def hinge_stiffness_factors(positions: np.ndarray, hinges: np.ndarray) -> np.ndarray:
    """|e|^2 / A_e of each hinge (A_e the area of its two triangles), 1: the hinge's stiffness per unit of the
    cloth's bending stiffness."""
    x0, x1, x2, x3 = (positions[hinges[:, k]] for k in range(4))
    area = 0.5 * (np.linalg.norm(np.cross(x1 - x0, x2 - x0), axis=1)
                  + np.linalg.norm(np.cross(x1 - x0, x3 - x0), axis=1))
    return np.sum((x1 - x0) ** 2, axis=1) / np.maximum(area, 1e-30)


def geodesic_graph(positions: np.ndarray, faces: np.ndarray, rings: int = 3, flat_degrees: float = 5.0):
    """A sparse (n, n) graph whose shortest paths approximate geodesic distances on the rest mesh, m: the
    mesh's edges at their length, plus a chord from each vertex to the vertices up to ``rings`` edges away,
    at their straight-line distance, where the mesh is flat there (both vertex normals within
    ``flat_degrees`` of each other and of square to the chord). On a flat patch the chord is the geodesic; on
    a gently curved one it is shorter by a fraction (angle^2 / 24) too small to matter; across a crease or a
    fold it is not added, so a folded mesh keeps its distances round the fold."""
    from scipy.sparse import coo_matrix, triu

    n = len(positions)
    edges = mesh_edges(faces)
    a, b, c = (positions[faces[:, k]] for k in range(3))
    normals = np.zeros((n, 3))
    for k in range(3):
        np.add.at(normals, faces[:, k], np.cross(b - a, c - a))  # area-weighted vertex normals
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    adjacency = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = adjacency + adjacency.T
    reach = adjacency.copy()
    for _ in range(rings - 1):
        reach = reach + reach @ adjacency
    near = triu(reach, k=1).tocoo()
    i, j = near.row, near.col
    chord = positions[j] - positions[i]
    length = np.linalg.norm(chord, axis=1)
    unit = chord / np.maximum(length, 1e-30)[:, None]
    tilt = np.sin(np.radians(flat_degrees))
    flat = (np.einsum("ij,ij->i", normals[i], normals[j]) > np.cos(np.radians(flat_degrees))) & \
        (np.abs(np.einsum("ij,ij->i", normals[i], unit)) < tilt) & \
        (np.abs(np.einsum("ij,ij->i", normals[j], unit)) < tilt)
    pairs = np.concatenate([edges, np.stack([i[flat], j[flat]], axis=1)])
    weights = np.concatenate([np.linalg.norm(positions[edges[:, 0]] - positions[edges[:, 1]], axis=1), length[flat]])
    # One entry per pair (an edge is also its own chord): coo_matrix would add duplicates up.
    pairs, first = np.unique(pairs, axis=0, return_index=True)
    weights = np.maximum(weights[first], 1e-12)  # a zero weight would read as no edge
    return coo_matrix((weights, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()


# Where the graph's path is at most this much longer than the straight line, the rest mesh between is flat to
# within the graph's own error (up to 1.3% on a regular grid, see ``geodesic_graph``): take the straight line.
FLAT_PATH = 0.015


def tethers(graph, positions: np.ndarray, pinned: np.ndarray, tethered: np.ndarray,
            slots: int) -> tuple[np.ndarray, np.ndarray]:
    """The tethers of every particle: for each free ``tethered`` particle the ``slots`` pinned particles
    nearest along ``graph`` (``geodesic_graph`` of the rest ``positions``) and their rest geodesic distances:
    anchors (n, slots) int32 (-1: none) and lengths (n, slots), m. The length is the graph's shortest path, or
    the straight line where the path is within ``FLAT_PATH`` of it: a slack of even 1% over half a metre
    gathers in a few edges as a local stretch of tens of per cent. Only pins on the edge of a pinned patch
    (with a free neighbour) anchor: a path from a free particle to a pin inside the patch passes one of them."""
    from scipy.sparse.csgraph import dijkstra

    n = len(pinned)
    best_length, best_anchor = np.full((n, slots), np.inf), np.full((n, slots), -1, np.int64)
    free = tethered & ~pinned
    rows, cols = graph.nonzero()
    edge_of_patch = np.unique(np.concatenate([rows[pinned[rows] & free[cols]], cols[pinned[cols] & free[rows]]]))
    for chunk in np.array_split(edge_of_patch, max(1, -(-len(edge_of_patch) // 64))):  # (64, n) at a time
        if len(chunk) == 0:
            continue
        distance = dijkstra(graph, directed=False, indices=chunk).T  # (n, len(chunk))
        length = np.concatenate([best_length, distance], axis=1)
        anchor = np.concatenate([best_anchor, np.broadcast_to(chunk, distance.shape)], axis=1)
        nearest = np.argsort(length, axis=1, kind="stable")[:, :slots]
        best_length = np.take_along_axis(length, nearest, axis=1)
        best_anchor = np.take_along_axis(anchor, nearest, axis=1)
    keep = np.isfinite(best_length) & free[:, None]
    straight = np.linalg.norm(positions[:, None, :] - positions[np.maximum(best_anchor, 0)], axis=2)
    length = np.where(best_length <= (1.0 + FLAT_PATH) * straight, straight, best_length)
    return np.where(keep, best_anchor, -1).astype(np.int32), np.where(keep, length, 0.0)


def lattice_pairs(positions: np.ndarray, spacing: float) -> np.ndarray:
    """(K, 2) pairs of lattice points one axis, face-diagonal or body-diagonal step apart."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(positions).query_pairs(r=spacing * (3**0.5) * 1.001, output_type="ndarray")
    return pairs.reshape(-1, 2).astype(np.int64)


def color(members: np.ndarray, n_particles: int) -> np.ndarray:
    """A colour per constraint (a row of particle indices, -1 for none) such that no two constraints sharing
    a particle have the same colour."""
    used = [0] * (n_particles + 1)  # bit c set: the particle already has a constraint of colour c (-1: spare)
    colors = np.empty(len(members), np.int64)
    for index, row in enumerate(members.tolist()):
        taken = 0
        for particle in row:
            taken |= used[particle]
        c = (~taken & (taken + 1)).bit_length() - 1  # the lowest free colour
        colors[index] = c
        for particle in row:
            used[particle] |= 1 << c
        used[-1] = 0
    return colors
