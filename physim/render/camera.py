"""Cameras: where they look from, what they see (RGB, depth, segmentation, normals), and recording.

How a Scene drives cameras (the whole contract)::

    cam = Camera(**user_kwargs)          # in scene.add_camera(...), before build; validates everything
    cam._attach(render_view, vis_options) # once, in scene.build(), for every camera of the scene
    cam._after_step()                     # after every scene.step()

``_attach`` accepts the scene's :class:`~physim.scene.render_view.RenderView` and its
:class:`~physim.options.VisOptions`. All cameras attached with the same RenderView object share one
:class:`~physim.render.rasterizer.Rasterizer` (one pyrender scene, built once): the first attach builds
it, the others reuse it (see :func:`shared_rasterizer`). A Rasterizer may be passed instead of the
VisOptions. Attaching twice is an error; build a new scene instead.

Conventions: ``res`` is (width, height) in pixels; ``fov`` is the VERTICAL field of view in degrees;
lengths are metres. ``transform`` is camera-to-world in the OpenGL convention (x right, y up, looking
along -z), ``extrinsics`` the same pose in the OpenCV convention (x right, y down, z forward), and ``K``
the OpenCV intrinsics, in which integer pixel coordinates are pixel centres (so ``cx = (width - 1) / 2``).

Recording, both Genesis generations:

- ``start_recording()`` (no file name): every ``render()`` that produces RGB adds that frame;
  ``stop_recording(save_to_filename=..., fps=...)`` writes the video. Frames wait in a temporary file.
- ``start_recording(save_to_filename, fps)``: the camera records ONE frame per ``scene.step()`` (in
  ``_after_step``), streamed to the file, until ``stop_recording()``. ``render()`` never adds frames in
  this mode, so a script that also calls ``render()`` every step gets no duplicates; such a render,
  made before anything moved, reuses the step's frame instead of drawing it twice.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from physim.errors import InvalidValueError, RenderError, SceneStateError
from physim.options import VisOptions
from physim.render.images import segmentation_to_rgb
from physim.render.rasterizer import CameraSlot, DrawState, Rasterizer, look_at_transform
from physim.render.recorder import FrameSpool, VideoWriter, check_fps, check_video_path
from physim.scene.render_view import RenderView
from physim.utils import validate as v

_OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
_MAX_RESOLUTION = 16384
_camera_numbers = itertools.count()

# RenderView (by identity) -> its Rasterizer, while any camera holds that Rasterizer.
_rasterizers: weakref.WeakValueDictionary[int, Rasterizer] = weakref.WeakValueDictionary()


def shared_rasterizer(view: RenderView, vis_options: VisOptions) -> Rasterizer:
    """The Rasterizer of ``view``, built on first request; later requests with the same view reuse it."""
    rasterizer = _rasterizers.get(id(view))
    if rasterizer is not None and rasterizer.view is view:
        if rasterizer.vis_options != vis_options:
            raise InvalidValueError("Camera._attach: cameras of one scene must share the same VisOptions")
        return rasterizer
    rasterizer = Rasterizer(view, vis_options)
    _rasterizers[id(view)] = rasterizer
    return rasterizer


class Camera:
    """A pinhole camera rendering a scene offscreen (pyrender rasteriser); see the module docstring.

    res: (width, height), pixels. pos, lookat: m. up: world direction that appears up in the image.
    fov: vertical field of view, degrees. near, far: clipping distances, m. env_idx: the environment
    drawn when a scene is batched. GUI: physim has no on-screen viewer, so True is an error.
    spp, denoise, model, aperture, focus_dist: Genesis's ray-tracer settings, accepted and ignored by
    this rasteriser (``model`` must still be 'pinhole' or 'thinlens').
    """

    def __init__(self, res: tuple[int, int] = (320, 240), pos: tuple[float, float, float] = (3.5, 0.0, 2.5),
                 lookat: tuple[float, float, float] = (0.0, 0.0, 0.5), up: tuple[float, float, float] = (0.0, 0.0, 1.0),
                 fov: float = 30.0, near: float = 0.05, far: float = 100.0, GUI: bool = False,  # noqa: N803
                 env_idx: int | None = 0, spp: int = 256, denoise: bool | None = None, model: str = "pinhole",
                 aperture: float = 2.8, focus_dist: float | None = None) -> None:
        if not isinstance(GUI, (bool, np.bool_)):
            raise InvalidValueError(f"Camera.GUI: must be True or False, got {GUI!r}")
        if GUI:
            raise RenderError("Camera.GUI=True: physim has no on-screen viewer; cameras render offscreen. "
                              "Use GUI=False and save images or videos (cam.render(), cam.start_recording()).")
        self._res = _resolution(res)
        self._fov = v.finite_scalar("Camera", "fov", fov, low=0.0, low_open=True)
        if self._fov >= 180.0:
            raise InvalidValueError(f"Camera.fov: must be < 180 degrees (the vertical field of view), got {fov!r}")
        self._near = v.positive("Camera", "near", near)
        self._far = v.positive("Camera", "far", far)
        if self._far <= self._near:
            raise InvalidValueError(f"Camera.far: must be > Camera.near ({self._near}), got {far!r}")
        self._env_idx = 0 if env_idx is None else _env_index("Camera.env_idx", env_idx)
        # Genesis's ray-tracer knobs: validated so typos fail, then ignored by the rasteriser.
        if isinstance(spp, bool) or not isinstance(spp, (int, np.integer)) or spp < 1:
            raise InvalidValueError(f"Camera.spp: must be an integer >= 1, got {spp!r}")
        if denoise is not None and not isinstance(denoise, (bool, np.bool_)):
            raise InvalidValueError(f"Camera.denoise: must be True, False or None, got {denoise!r}")
        v.one_of("Camera", "model", model, ("pinhole", "thinlens"))
        if model == "thinlens":
            warnings.warn("Camera.model='thinlens' needs a ray tracer; physim's rasteriser renders it as 'pinhole'",
                          UserWarning, stacklevel=2)
        v.positive("Camera", "aperture", aperture)
        if focus_dist is not None:
            v.positive("Camera", "focus_dist", focus_dist)
        self.spp, self.denoise, self.model = int(spp), denoise, model
        self.idx = next(_camera_numbers)  # names default video files; a Scene may renumber its cameras

        self._pos = self._lookat = self._up = (0.0, 0.0, 0.0)
        self._transform = np.eye(4)
        self.set_pose(pos=pos, lookat=lookat, up=up)

        self._rasterizer: Rasterizer | None = None
        self._slot: CameraSlot | None = None
        self._recording: str | None = None  # None, "render" (old Genesis) or "step" (Genesis 1.4.5)
        self._spool: FrameSpool | None = None
        self._writer: VideoWriter | None = None
        self._step_frame: tuple[Any, np.ndarray] | None = None  # (what it shows, rgb) of the last step's frame

    # --- the scene's side ------------------------------------------------------------------------------

    def _attach(self, view: RenderView, rasterizer_or_vis_options: Rasterizer | VisOptions) -> None:
        """Connect to a built scene (called once by ``scene.build()``); see the module docstring."""
        if self._rasterizer is not None:
            raise SceneStateError("Camera._attach: this camera is already attached to a built scene")
        if isinstance(rasterizer_or_vis_options, Rasterizer):
            if rasterizer_or_vis_options.view is not view:
                raise InvalidValueError("Camera._attach: the Rasterizer was built for another RenderView")
            rasterizer = rasterizer_or_vis_options
        elif isinstance(rasterizer_or_vis_options, VisOptions):
            rasterizer = shared_rasterizer(view, rasterizer_or_vis_options)
        else:
            raise InvalidValueError(f"Camera._attach: expected VisOptions or a Rasterizer, got "
                                    f"{rasterizer_or_vis_options!r}")
        width, height = self._res
        self._slot = rasterizer.add_camera(width, height, self._fov, self._near, self._far)
        self._rasterizer = rasterizer

    def _after_step(self) -> None:
        """Called by the scene after every step: records this step's frame when recording per step."""
        if self._recording != "step" or self._rasterizer is None:
            return
        assert self._writer is not None
        state = self._rasterizer.read_state(self._env_idx)
        frame = self._draw(state, self._env_idx, rgb=True)
        self._writer.append(frame.rgb)
        self._step_frame = (self._frame_key(state, self._env_idx), frame.rgb)

    # --- pose and optics ---------------------------------------------------------------------------------

    @property
    def res(self) -> tuple[int, int]:
        """(width, height), pixels."""
        return self._res

    @property
    def fov(self) -> float:
        """Vertical field of view, degrees."""
        return self._fov

    @property
    def near(self) -> float:
        return self._near

    @property
    def far(self) -> float:
        return self._far

    @property
    def pos(self) -> np.ndarray:
        """Camera position, m."""
        return np.array(self._pos)

    @property
    def lookat(self) -> np.ndarray:
        """The point the camera looks at, m."""
        return np.array(self._lookat)

    @property
    def up(self) -> np.ndarray:
        return np.array(self._up)

    @property
    def env_idx(self) -> int:
        return self._env_idx

    @property
    def is_built(self) -> bool:
        """Whether the camera is attached to a built scene."""
        return self._rasterizer is not None

    @property
    def transform(self) -> np.ndarray:
        """Camera-to-world 4x4, OpenGL convention (x right, y up, looking along -z)."""
        return self._transform.copy()

    @property
    def extrinsics(self) -> np.ndarray:
        """Camera-to-world 4x4, OpenCV convention (x right, y down, z forward)."""
        return self._transform @ _OPENGL_TO_OPENCV

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the intrinsics matrix
        """3x3 OpenCV intrinsics, pixels; integer pixel coordinates are pixel centres."""
        width, height = self._res
        focal = height / (2.0 * math.tan(math.radians(self._fov) / 2.0))
        return np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]])

    @property
    def intrinsics(self) -> np.ndarray:
        """Same as :attr:`K` (Genesis's name)."""
        return self.K

    def set_pose(self, pos: Any = None, lookat: Any = None, up: Any = None, transform: Any = None) -> None:
        """Move the camera: by any of ``pos``/``lookat``/``up`` (the others kept), or by a camera-to-world
        ``transform`` (4x4, OpenGL convention; then ``lookat`` is kept at the same distance ahead)."""
        if transform is not None:
            if pos is not None or lookat is not None or up is not None:
                raise InvalidValueError("Camera.set_pose: give either transform or pos/lookat/up, not both")
            self._set_transform(transform)
            return
        new_pos = np.array(v.finite_vector("Camera", "pos", pos, 3) if pos is not None else self._pos)
        new_lookat = np.array(v.finite_vector("Camera", "lookat", lookat, 3) if lookat is not None else self._lookat)
        new_up = np.array(v.finite_vector("Camera", "up", up, 3) if up is not None else self._up)
        forward = new_lookat - new_pos
        if np.linalg.norm(forward) < 1e-9:
            raise InvalidValueError(f"Camera.lookat: must differ from Camera.pos, got pos={tuple(new_pos)} "
                                    f"lookat={tuple(new_lookat)}")
        if np.linalg.norm(new_up) < 1e-9 or np.linalg.norm(np.cross(new_up / np.linalg.norm(new_up),
                                                                       forward / np.linalg.norm(forward))) < 1e-6:
            raise InvalidValueError(f"Camera.up: must be non-zero and not parallel to the viewing direction "
                                    f"(lookat - pos), got up={tuple(new_up)}")
        self._pos, self._lookat, self._up = (tuple(float(x) for x in a) for a in (new_pos, new_lookat, new_up))
        self._transform = look_at_transform(new_pos, new_lookat, new_up)

    def _set_transform(self, transform: Any) -> None:
        try:
            matrix = np.array(transform, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidValueError(f"Camera.transform: must be a 4x4 matrix, got {transform!r}") from None
        if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
            raise InvalidValueError(f"Camera.transform: must be a finite 4x4 matrix, got shape {matrix.shape}")
        rotation = matrix[:3, :3]
        rigid = (np.allclose(matrix[3], (0.0, 0.0, 0.0, 1.0)) and np.linalg.det(rotation) > 0
                 and np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-6))
        if not rigid:
            raise InvalidValueError("Camera.transform: must be rigid (orthonormal rotation, last row 0 0 0 1)")
        distance = float(np.linalg.norm(np.subtract(self._lookat, self._pos))) or 1.0
        pos = matrix[:3, 3]
        self._pos = tuple(float(x) for x in pos)
        self._lookat = tuple(float(x) for x in pos - matrix[:3, 2] * distance)
        self._up = tuple(float(x) for x in matrix[:3, 1])
        self._transform = matrix

    # --- rendering -------------------------------------------------------------------------------------------

    def render(self, rgb: bool = True, depth: bool = False, segmentation: bool = False, normal: bool = False,
               env_idx: int | None = None, *, colorize_seg: bool = False, antialiasing: bool | None = None,
               force_render: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None,
                                                   np.ndarray | None]:
        """Draw what is asked; returns (rgb, depth, segmentation, normal), None for what was not asked.

        rgb: (H, W, 3) uint8. depth: (H, W) float32, metres along the optical axis, 0 where nothing is hit.
        segmentation: (H, W) int32 entity index, -1 for background (with ``colorize_seg``, as Genesis: an
        (H, W, 3) uint8 picture of it instead). normal: (H, W, 3) float32 unit world-frame normals, zeros
        for background. ``env_idx`` defaults to the camera's. ``antialiasing`` forces 4x multisampling of
        the RGB on or off (None: the renderer's default, on). ``force_render`` is accepted for Genesis
        scripts; physim always renders.
        """
        if self._rasterizer is None:
            raise SceneStateError("Camera.render: build the scene first (scene.build()) before rendering")
        env = self._env_idx if env_idx is None else _env_index("Camera.render env_idx", env_idx)
        if antialiasing is not None and not isinstance(antialiasing, (bool, np.bool_)):
            raise InvalidValueError(f"Camera.render: antialiasing must be True, False or None, got {antialiasing!r}")
        state = self._rasterizer.read_state(env)
        reuse = None
        if rgb and self._step_frame is not None:
            key, step_rgb = self._step_frame
            if self._same_frame(key, self._frame_key(state, env)):
                reuse = step_rgb
        self._step_frame = None  # hand a frame out at most once: the caller owns it afterwards
        if antialiasing is not None:
            reuse = None  # the step's frame was drawn with the default anti-aliasing
        frame = self._draw(state, env, rgb=rgb and reuse is None, depth=depth, segmentation=segmentation,
                           normal=normal, antialias=antialiasing)
        if reuse is not None:
            frame.rgb = reuse
        if self._recording == "render" and frame.rgb is not None:
            assert self._spool is not None
            self._spool.append(frame.rgb)
        segmentation_out = frame.segmentation
        if colorize_seg and segmentation_out is not None:
            segmentation_out = segmentation_to_rgb(segmentation_out)
        return frame.rgb, frame.depth, segmentation_out, frame.normal

    def _draw(self, state: DrawState, env_idx: int, **passes: Any) -> Any:
        assert self._rasterizer is not None and self._slot is not None
        return self._rasterizer.render(self._slot, self._transform, state, **passes)

    def _frame_key(self, state: DrawState, env_idx: int) -> tuple[int, np.ndarray, DrawState]:
        return env_idx, self._transform.copy(), state.copy()  # copies: the scene may reuse its buffers

    @staticmethod
    def _same_frame(a: tuple, b: tuple) -> bool:
        return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2].same_as(b[2])

    # --- recording ---------------------------------------------------------------------------------------------

    @property
    def is_recording(self) -> bool:
        return self._recording is not None

    def start_recording(self, save_to_filename: str | os.PathLike | None = None, fps: float = 60) -> None:
        """Start recording. Without a file name, each ``render()`` adds a frame (old Genesis); with one, the
        camera records a frame per ``scene.step()`` into that file (Genesis 1.4.5). See the module docstring."""
        if self._recording is not None:
            raise SceneStateError("Camera.start_recording: already recording; call stop_recording() first")
        if save_to_filename is None:
            self._spool = FrameSpool()
            self._recording = "render"
        else:
            self._writer = VideoWriter(save_to_filename, fps, owner="Camera.start_recording")
            self._recording = "step"

    def stop_recording(self, save_to_filename: str | os.PathLike | None = None, fps: float | None = None) -> Path:
        """Finish recording and write the video; returns its path.

        After ``start_recording()`` without a file name: ``save_to_filename`` defaults to
        ``<script name>_cam<idx>.mp4`` in the working directory and ``fps`` to 60. After
        ``start_recording(file, fps)`` both were given already (repeating the same values is fine).
        """
        if self._recording is None:
            raise SceneStateError("Camera.stop_recording: not recording; call start_recording() first")
        if self._recording == "step":
            writer = self._writer
            assert writer is not None
            if save_to_filename is not None and \
                    check_video_path("Camera.stop_recording", save_to_filename) != writer.path:
                raise InvalidValueError(f"Camera.stop_recording: this recording goes to {str(writer.path)!r} (given to "
                                        f"start_recording); got save_to_filename={str(save_to_filename)!r}")
            if fps is not None and check_fps("Camera.stop_recording", fps) != writer.fps:
                raise InvalidValueError(f"Camera.stop_recording: this recording runs at fps={writer.fps} (given to "
                                        f"start_recording); got fps={fps!r}")
            self._recording, self._writer, self._step_frame = None, None, None
            try:
                return writer.close()
            finally:
                writer.abort()
        spool = self._spool
        assert spool is not None
        if save_to_filename is None:
            stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c") else "physim"
            save_to_filename = f"{stem}_cam{self.idx}.mp4"
        path = check_video_path("Camera.stop_recording", save_to_filename)
        fps_value = check_fps("Camera.stop_recording", 60 if fps is None else fps)
        if spool.frame_count == 0:
            raise SceneStateError("Camera.stop_recording: no frames were recorded; call cam.render() between "
                                  "start_recording() and stop_recording()")
        writer = VideoWriter(path, fps_value, owner="Camera.stop_recording")  # a bad folder fails here; retry ok
        self._recording, self._spool = None, None
        try:
            for frame in spool.frames():
                writer.append(frame)
            return writer.close()
        finally:
            writer.abort()
            spool.close()

    def __repr__(self) -> str:
        state = "built" if self.is_built else "not built"
        return f"Camera(res={self._res}, pos={self._pos}, lookat={self._lookat}, fov={self._fov}, {state})"

    # --- per-entity silhouettes (the data pipeline's visibility fractions) -------------------------------------

    def render_entity_masks(self, entity_indices: Any, env_idx: int | None = None) -> np.ndarray:
        """Unoccluded (amodal) silhouettes: for each entity index, the pixels it would cover if it were alone.

        Returns a (len(entity_indices), H, W) bool array. An entity that is not drawn (no visual, or not
        in view) gets an all-False mask. Together with ``render(segmentation=True)`` this gives an object's
        visible fraction (visible pixels / silhouette pixels). One segmentation pass per entity.
        """
        if self._rasterizer is None:
            raise SceneStateError("Camera.render_entity_masks: build the scene first (scene.build()) before rendering")
        env = self._env_idx if env_idx is None else _env_index("Camera.render_entity_masks env_idx", env_idx)
        wanted = [int(index) for index in np.atleast_1d(np.asarray(entity_indices, dtype=np.int64))]
        rasterizer = self._rasterizer
        state = rasterizer.read_state(env)
        width, height = self._res
        masks = np.zeros((len(wanted), height, width), dtype=bool)
        # The segmentation pass draws only the nodes its colour map names: drawing with a map that names
        # one entity's nodes gives that entity's silhouette with nothing in front of it.
        full_map = rasterizer._seg_node_map
        nodes_of: dict[int, list[Any]] = {}
        nodes = [*rasterizer._mesh_nodes, *getattr(rasterizer, "_particle_nodes", [])]
        items = [*rasterizer.view.items, *getattr(rasterizer.view, "particle_items", [])]
        for node, item in zip(nodes, items, strict=True):
            nodes_of.setdefault(int(item.entity_index), []).append(node)
        try:
            for row, index in enumerate(wanted):
                if index not in nodes_of:
                    continue
                rasterizer._seg_node_map = {node: full_map[node] for node in nodes_of[index]}
                frame = self._draw(state, env, rgb=False, segmentation=True)
                np.equal(frame.segmentation, index, out=masks[row])
        finally:
            rasterizer._seg_node_map = full_map
        return masks


def _resolution(res: Any) -> tuple[int, int]:
    try:
        values = tuple(res)
    except TypeError:
        raise InvalidValueError(f"Camera.res: must be (width, height) in pixels, got {res!r}") from None
    if len(values) != 2 or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) for x in values):
        raise InvalidValueError(f"Camera.res: must be two integers (width, height), got {res!r}")
    if any(not 1 <= int(x) <= _MAX_RESOLUTION for x in values):
        raise InvalidValueError(f"Camera.res: width and height must be in [1, {_MAX_RESOLUTION}] pixels, got {res!r}")
    return int(values[0]), int(values[1])


def _env_index(owner: str, env_idx: Any) -> int:
    if isinstance(env_idx, bool) or not isinstance(env_idx, (int, np.integer)) or env_idx < 0:
        raise InvalidValueError(f"{owner}: must be an integer >= 0, got {env_idx!r}")
    return int(env_idx)


__all__ = ["Camera", "shared_rasterizer"]
