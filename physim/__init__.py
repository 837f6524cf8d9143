"""physim: physics simulation and rendering, Taichi kernels underneath, a Genesis-style API on top.

    import physim as ps
    ps.init(backend="cpu")
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    box = scene.add_entity(ps.morphs.Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 1)))
    scene.build()
    for _ in range(100):
        scene.step()
"""

from __future__ import annotations

from physim import errors, options
from physim.backend import cpu, cuda, gpu, init, vulkan
from physim.scene import materials, morphs, surfaces
from physim.scene.scene import Scene
from physim.utils.run import output_dir, progress

__version__ = "0.1.0"

__all__ = ["Scene", "cpu", "cuda", "errors", "gpu", "init", "materials", "morphs", "options", "output_dir", "progress",
           "surfaces", "vulkan", "__version__"]
