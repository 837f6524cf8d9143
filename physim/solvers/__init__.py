"""Solvers: Taichi kernels that advance the state of what they own. One folder per solver."""

# Before any solver module defines its kernels: shortcuts in Taichi's front end (see the module).
from physim.utils import taichi_frontend  # noqa: F401
