"""Convex decomposition of meshes by CoACD, cached on disk so each mesh is decomposed once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh

CACHE_DIR = Path(os.environ.get("PHYSIM_CACHE", Path.home() / ".cache" / "physim")) / "decompositions"


def convex_parts(mesh: trimesh.Trimesh, threshold: float) -> list[np.ndarray]:
    """Vertex arrays of the convex parts of ``mesh`` (its frame, m), from the cache when possible."""
    key = hashlib.sha256()
    key.update(np.ascontiguousarray(mesh.vertices, np.float64).tobytes())
    key.update(np.ascontiguousarray(mesh.faces, np.int64).tobytes())
    key.update(f"coacd-1|{threshold:.6g}".encode())
    cached = CACHE_DIR / f"{key.hexdigest()}.npz"
    if cached.is_file():
        with np.load(cached) as data:
            return [data[name] for name in sorted(data.files, key=lambda name: int(name.split("_")[1]))]

    import coacd

    coacd.set_log_level("error")
    parts = coacd.run_coacd(coacd.Mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces)), threshold=threshold,
                            seed=0)
    vertices = [np.asarray(part_vertices, np.float64) for part_vertices, _ in parts]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Written beside its final name and renamed: a crash never leaves a half-written cache entry.
    with tempfile.NamedTemporaryFile(dir=CACHE_DIR, suffix=".npz", delete=False) as handle:
        np.savez(handle, **{f"part_{index}": array for index, array in enumerate(vertices)})
    os.replace(handle.name, cached)
    return vertices
