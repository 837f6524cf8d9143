"""Offscreen rendering: cameras (RGB, depth, segmentation, normals), videos, and image helpers.

Importing this package does not import pyrender or OpenGL: the headless GL platform is chosen (and
pyrender imported) when the first scene with cameras is built. See :mod:`physim.render.camera` for the
contract between a Scene and its cameras.
"""

from physim.render.camera import Camera, shared_rasterizer
from physim.render.gl import describe
from physim.render.images import (
    depth_to_millimetres,
    depth_to_rgb,
    normal_to_rgb,
    save_png,
    segmentation_colors,
    segmentation_to_rgb,
)
from physim.render.rasterizer import Rasterizer
from physim.render.recorder import VideoWriter, write_video

__all__ = [
    "Camera",
    "Rasterizer",
    "VideoWriter",
    "depth_to_millimetres",
    "depth_to_rgb",
    "describe",
    "normal_to_rgb",
    "save_png",
    "segmentation_colors",
    "segmentation_to_rgb",
    "shared_rasterizer",
    "write_video",
]
