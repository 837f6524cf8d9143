"""Robot description loaders: URDF and MJCF files into :class:`ArticulationSpec` (see
``physim/solvers/rigid/articulation_model.py``)."""

from physim.scene.loaders.mjcf import load_mjcf
from physim.scene.loaders.urdf import load_urdf

__all__ = ["load_mjcf", "load_urdf"]
