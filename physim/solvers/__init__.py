"""Solvers: Taichi kernels that advance the state of what they own. One folder per solver."""
