"""The episode writer: what a scene script's episode function records, and how it becomes files.

Per frame and camera it writes RGB (PNG), depth (16-bit PNG in millimetres, optionally float32 metres as
.npy), instance segmentation (16-bit PNG of instance ids, 0 for no annotated object), world normals (PNG),
and the annotations: BOP ``scene_camera.json`` / ``scene_gt.json`` / ``scene_gt_info.json`` per camera,
COCO instances with RLE masks per episode, and per step a Parquet table of every object's pose and velocity
(and of robots' joints when there are robots). ``episode.json``, written last, holds the episode's
metadata: the randomization log, objects with their 3D boxes, cameras, frames, and every file's SHA-256.

Where the files go is a sink's business (a folder, or memory for Ray tasks); see :mod:`physim.data.layout`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from physim.data import formats as fm
from physim.data.errors import EpisodeError
from physim.utils.rotations import pose_matrix

FORMAT = "physim-dataset/1"
# COCO ids are global across a dataset without renumbering: image id = episode * 10^6 + camera * 10^4 + frame,
# annotation id = image id * 10^3 + instance id. Hence these limits per episode.
MAX_CAMERAS, MAX_FRAMES, MAX_OBJECTS = 100, 10_000, 999
_MAX_BOX_VERTICES = 256  # mesh vertices projected for an object's full 2D box (hull vertices, subsampled)


class FileSink(Protocol):
    """Where an episode's files go: ``put(relative_path, data)``."""

    def put(self, path: str, data: bytes) -> None: ...


class MemorySink:
    """Keeps an episode's files in memory (``files``: relative path -> bytes), e.g. to return them from a Ray task."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, path: str, data: bytes) -> None:
        self.files[path] = data


@dataclass
class _Camera:
    name: str
    camera: Any
    rgb: bool
    depth: bool
    depth_float: bool
    segmentation: bool
    normal: bool
    visibility: bool
    index: int
    scene_camera: dict[str, Any] = field(default_factory=dict)
    scene_gt: dict[str, Any] = field(default_factory=dict)
    scene_gt_info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Object:
    inst_id: int
    entity: Any
    class_name: str
    class_id: int
    lower: np.ndarray  # object-frame axis-aligned box of the visual mesh, m
    upper: np.ndarray
    box_vertices: np.ndarray  # (N, 3) object-frame points whose projection bounds the object's image


@dataclass
class _Robot:
    name: str
    entity: Any
    end_effector: Any
    command: np.ndarray | None = None


class EpisodeWriter:
    """Records one episode. A scene script's ``episode(rng, writer)`` registers cameras and objects, steps
    the scene with :meth:`step` (which logs trajectories) and calls :meth:`record_frame` to capture images.

    index: the episode's number; seed: the dataset seed; params: the scene's parameters (``writer.params``);
    classes: the dataset's class names (id = position + 1), from the script's ``CLASSES``.
    """

    def __init__(self, index: int, seed: int, params: dict[str, Any], sink: FileSink,
                 classes: list[str] | None = None) -> None:
        self.index = int(index)
        self.seed = int(seed)
        self.params = dict(params)
        self.classes = list(classes or [])
        self._sink = sink
        self._hashes: dict[str, dict[str, Any]] = {}
        self._cameras: list[_Camera] = []
        self._objects: list[_Object] = []
        self._robots: list[_Robot] = []
        self._scene: Any = None
        self._frames: list[dict[str, Any]] = []
        self._trajectory: list[tuple] = []
        self._robot_rows: list[dict[str, Any]] = []
        self._coco_images: list[dict[str, Any]] = []
        self._coco_annotations: list[dict[str, Any]] = []
        self._metadata: dict[str, Any] = {}
        self._finished = False

    # --- registering ------------------------------------------------------------------------------------

    def add_camera(self, camera: Any, name: str | None = None, *, rgb: bool = True, depth: bool = True,
                   depth_float: bool = False, segmentation: bool = True, normal: bool = True,
                   visibility: bool = True) -> str:
        """Record ``camera`` at every :meth:`record_frame`; returns its name (``cam0``, ``cam1``... by default).

        depth: 16-bit PNG in mm; depth_float: also float32 metres (.npy). visibility: compute each object's
        unoccluded silhouette for its visible fraction (one extra segmentation pass per object).
        """
        name = name or f"cam{len(self._cameras)}"
        if any(c.name == name for c in self._cameras) or not name.isidentifier():
            raise EpisodeError(f"EpisodeWriter.add_camera: camera name {name!r} must be a unique identifier")
        if len(self._cameras) >= MAX_CAMERAS:
            raise EpisodeError(f"EpisodeWriter.add_camera: at most {MAX_CAMERAS} cameras per episode")
        if visibility and not segmentation:
            raise EpisodeError(f"EpisodeWriter.add_camera({name!r}): visibility needs segmentation=True")
        self._cameras.append(_Camera(name, camera, rgb, depth, depth_float, segmentation, normal, visibility,
                                     len(self._cameras)))
        return name

    def add_object(self, entity: Any, class_name: str, class_id: int | None = None) -> int:
        """Annotate a rigid entity as an object of class ``class_name``; returns its instance id (1, 2, ...).

        class_id defaults to the class's position in the script's ``CLASSES`` plus one.
        """
        if class_id is None:
            if class_name not in self.classes:
                raise EpisodeError(f"EpisodeWriter.add_object({entity.name!r}): class {class_name!r} is not in the "
                                   f"scene script's CLASSES {self.classes}; add it there or pass class_id")
            class_id = self.classes.index(class_name) + 1
        if isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer)) or class_id < 1:
            raise EpisodeError(f"EpisodeWriter.add_object({entity.name!r}): class_id must be an integer >= 1, "
                               f"got {class_id!r}")
        if len(self._objects) >= MAX_OBJECTS:
            raise EpisodeError(f"EpisodeWriter.add_object: at most {MAX_OBJECTS} objects per episode")
        if any(o.entity is entity for o in self._objects):
            raise EpisodeError(f"EpisodeWriter.add_object: entity {entity.name!r} was already added")
        self._bind_scene(entity.scene)
        mesh = entity.scene._visuals.get(entity.idx)
        if mesh is None:
            raise EpisodeError(f"EpisodeWriter.add_object: entity {entity.name!r} has no visual mesh to annotate")
        vertices = np.asarray(mesh.convex_hull.vertices if len(mesh.vertices) > _MAX_BOX_VERTICES else mesh.vertices,
                              dtype=np.float64)
        if len(vertices) > _MAX_BOX_VERTICES:
            vertices = vertices[np.linspace(0, len(vertices) - 1, _MAX_BOX_VERTICES).astype(np.int64)]
        lower, upper = np.asarray(mesh.vertices).min(axis=0), np.asarray(mesh.vertices).max(axis=0)
        inst_id = len(self._objects) + 1
        self._objects.append(_Object(inst_id, entity, class_name, int(class_id), lower, upper,
                                     np.vstack([vertices, fm.box_corners(lower, upper)])))
        return inst_id

    def add_robot(self, entity: Any, name: str | None = None, end_effector: Any = None) -> None:
        """Log a robot's joint positions, velocities and forces at every step, its last command (see
        :meth:`record_command`) and, with ``end_effector`` (a link handle with get_pos/get_quat, e.g.
        ``robot.get_link("hand")``), that link's world pose."""
        for method in ("get_dofs_position", "get_dofs_velocity"):
            if not callable(getattr(entity, method, None)):
                raise EpisodeError(f"EpisodeWriter.add_robot: {entity!r} has no {method}(); is it a robot?")
        self._robots.append(_Robot(name or getattr(entity, "name", f"robot{len(self._robots)}"), entity, end_effector))

    def record_command(self, entity: Any, command: Any) -> None:
        """The latest joint command sent to a robot (logged with the following steps until the next one)."""
        for robot in self._robots:
            if robot.entity is entity:
                robot.command = np.asarray(command, dtype=np.float64).reshape(-1)
                return
        raise EpisodeError("EpisodeWriter.record_command: add the robot with add_robot() first")

    def metadata(self, **values: Any) -> None:
        """Extra plain-JSON metadata for ``episode.json`` (under ``metadata``)."""
        self._metadata.update(values)

    def _bind_scene(self, scene: Any) -> None:
        if self._scene is None:
            if getattr(scene, "n_envs", 0) != 0:
                raise EpisodeError("EpisodeWriter: episodes record unbatched scenes (scene.build(n_envs=0))")
            self._scene = scene
        elif scene is not self._scene:
            raise EpisodeError("EpisodeWriter: every object of an episode must belong to the same scene")

    # --- recording ----------------------------------------------------------------------------------------

    def step(self, scene: Any, steps: int = 1) -> None:
        """Advance ``scene`` by ``steps`` steps, logging every object's (and robot's) state after each."""
        self._bind_scene(scene)
        for _ in range(int(steps)):
            scene.step()
            self.record_state()

    def record_state(self) -> None:
        """Log the current pose and velocity of every object, and robots' joints, as trajectory rows."""
        if self._scene is None:
            return
        step, t = int(self._scene.cur_step), float(self._scene.t)
        for obj in self._objects:
            entity = obj.entity
            self._trajectory.append((step, t, obj.inst_id, *entity.get_pos(), *entity.get_quat(), *entity.get_vel(),
                                     *entity.get_ang()))
        for robot in self._robots:
            row: dict[str, Any] = {"step": step, "t": t, "robot": robot.name,
                                   "q": np.asarray(robot.entity.get_dofs_position(), dtype=np.float64).tolist(),
                                   "dq": np.asarray(robot.entity.get_dofs_velocity(), dtype=np.float64).tolist(),
                                   "command": None if robot.command is None else robot.command.tolist()}
            if callable(getattr(robot.entity, "get_dofs_force", None)):
                row["tau"] = np.asarray(robot.entity.get_dofs_force(), dtype=np.float64).tolist()
            if robot.end_effector is not None:
                row["ee_pos"] = np.asarray(robot.end_effector.get_pos(), dtype=np.float64).tolist()
                row["ee_quat"] = np.asarray(robot.end_effector.get_quat(), dtype=np.float64).tolist()
            self._robot_rows.append(row)

    def record_frame(self) -> int:
        """Render every camera now and record the images and annotations; returns the frame number."""
        if not self._cameras:
            raise EpisodeError("EpisodeWriter.record_frame: add a camera first (writer.add_camera(cam))")
        frame = len(self._frames)
        if frame >= MAX_FRAMES:
            raise EpisodeError(f"EpisodeWriter.record_frame: at most {MAX_FRAMES} frames per episode")
        scene = self._scene  # known once an object was added or the scene stepped through the writer
        self._frames.append({"frame": frame, "step": int(scene.cur_step) if scene is not None else 0,
                             "t": float(scene.t) if scene is not None else 0.0})
        world_poses = [pose_matrix(o.entity.get_pos(), o.entity.get_quat()) for o in self._objects]
        for cam in self._cameras:
            self._record_camera(cam, frame, world_poses)
        return frame

    def _record_camera(self, cam: _Camera, frame: int, world_poses: list[np.ndarray]) -> None:
        camera = cam.camera
        rgb, depth, seg, normal = camera.render(rgb=cam.rgb, depth=cam.depth or cam.depth_float,
                                                segmentation=cam.segmentation, normal=cam.normal)
        width, height = camera.res
        stem = f"{self.index:06d}"
        folder = f"episodes/{stem}/{cam.name}"
        name = f"{frame:06d}"
        if rgb is not None:
            self._put(f"{folder}/rgb/{name}.png", fm.png_bytes(rgb))
        if cam.depth:
            self._put(f"{folder}/depth/{name}.png", fm.png_bytes(fm.depth_png(depth)))
        if cam.depth_float:
            self._put(f"{folder}/depth_m/{name}.npy", _npy_bytes(depth.astype(np.float32)))
        if normal is not None:
            self._put(f"{folder}/normal/{name}.png", fm.png_bytes(fm.normal_png(normal)))

        K = camera.K
        cam_to_world = camera.extrinsics  # OpenCV axes
        world_to_cam = np.linalg.inv(cam_to_world)
        self_key = str(frame)
        cam.scene_camera[self_key] = {
            "cam_K": fm.rounded(K.reshape(-1), 6), "depth_scale": fm.DEPTH_SCALE_MM,
            "cam_R_w2c": fm.rounded(world_to_cam[:3, :3].reshape(-1), 9),
            "cam_t_w2c": fm.rounded(world_to_cam[:3, 3] * 1000.0, 4), "width": width, "height": height}

        instance = None
        masks = None
        if seg is not None:
            lut_size = max([o.entity.idx for o in self._objects], default=-1) + 2
            lut = np.zeros(lut_size, dtype=np.uint16)  # entity index + 1 -> instance id (0: background/unannotated)
            for obj in self._objects:
                lut[obj.entity.idx + 1] = obj.inst_id
            instance = lut[np.clip(seg + 1, 0, lut_size - 1)]
            instance[seg + 1 >= lut_size] = 0
            self._put(f"{folder}/seg/{name}.png", fm.png_bytes(instance))
        image_id = self.index * 1_000_000 + cam.index * 10_000 + frame
        self._coco_images.append({"id": image_id, "file_name": f"{folder}/rgb/{name}.png", "width": width,
                                  "height": height, "episode": self.index, "camera": cam.name, "frame": frame})

        gt, gt_info = [], []
        in_view = []
        for obj, world_pose in zip(self._objects, world_poses):
            obj_to_cam = world_to_cam @ world_pose
            points = obj.box_vertices @ obj_to_cam[:3, :3].T + obj_to_cam[:3, 3]
            visible_box = None
            if np.all(points[:, 2] > 1e-6):
                pixels = fm.project(K, points)
                visible_box = fm.points_bbox(pixels)
                inside = not (pixels[:, 0].max() < -0.5 or pixels[:, 0].min() > width - 0.5 or
                              pixels[:, 1].max() < -0.5 or pixels[:, 1].min() > height - 0.5)
            else:
                inside = bool(np.any(points[:, 2] > 0))
            in_view.append(inside)
            corners = fm.box_corners(obj.lower, obj.upper) @ obj_to_cam[:3, :3].T + obj_to_cam[:3, 3]
            gt.append({"obj_id": obj.class_id, "inst_id": obj.inst_id,
                       "cam_R_m2c": fm.rounded(obj_to_cam[:3, :3].reshape(-1), 9),
                       "cam_t_m2c": fm.rounded(obj_to_cam[:3, 3] * 1000.0, 4),
                       "bbox_3d_c": fm.rounded(corners * 1000.0, 4)})
            gt_info.append({"bbox_obj": visible_box if visible_box is not None else [-1, -1, 0, 0]})
        if instance is not None and cam.visibility and self._objects:
            wanted = [o.entity.idx for o, inside in zip(self._objects, in_view) if inside]
            drawn = camera.render_entity_masks(wanted) if wanted else np.zeros((0, height, width), dtype=bool)
            masks = iter(drawn)
        for obj, info, inside in zip(self._objects, gt_info, in_view):
            if instance is None:
                continue
            visible = instance == obj.inst_id
            px_visib = int(visible.sum())
            full = next(masks) if masks is not None and inside else None
            info["bbox_visib"] = fm.mask_bbox(visible)
            info["px_count_visib"] = px_visib
            if masks is not None:
                px_all = int(full.sum()) if full is not None else 0
                info["px_count_all"] = px_all
                info["visib_fract"] = round(px_visib / px_all, 6) if px_all > 0 else 0.0
            if px_visib > 0:
                area = px_visib
                self._coco_annotations.append({
                    "id": image_id * 1000 + obj.inst_id, "image_id": image_id, "category_id": obj.class_id,
                    "segmentation": fm.mask_rle(visible), "area": area, "bbox": info["bbox_visib"], "iscrowd": 0,
                    "inst_id": obj.inst_id, "visib_fract": info.get("visib_fract")})
        cam.scene_gt[self_key] = gt
        cam.scene_gt_info[self_key] = gt_info

    def _put(self, path: str, data: bytes) -> None:
        if path in self._hashes:
            raise EpisodeError(f"EpisodeWriter: {path} was written twice")
        self._sink.put(path, data)
        self._hashes[path] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    # --- finishing ------------------------------------------------------------------------------------------

    def finish(self, randomization: dict[str, Any], seed_info: dict[str, Any]) -> dict[str, Any]:
        """Write the annotation files and ``episode.json`` (last); returns a summary of the episode."""
        if self._finished:
            raise EpisodeError("EpisodeWriter.finish: called twice")
        self._finished = True
        root = f"episodes/{self.index:06d}"
        for cam in self._cameras:
            self._put(f"{root}/{cam.name}/scene_camera.json", fm.json_bytes(cam.scene_camera))
            self._put(f"{root}/{cam.name}/scene_gt.json", fm.json_bytes(cam.scene_gt))
            self._put(f"{root}/{cam.name}/scene_gt_info.json", fm.json_bytes(cam.scene_gt_info))
        categories = sorted({(o.class_id, o.class_name) for o in self._objects})
        self._put(f"{root}/coco.json", fm.json_bytes({
            "info": {"description": f"physim episode {self.index}", "version": FORMAT},
            "images": self._coco_images, "annotations": self._coco_annotations,
            "categories": [{"id": cid, "name": cname, "supercategory": "object"} for cid, cname in categories]}))
        if self._trajectory or self._objects:
            rows = np.array(self._trajectory, dtype=np.float64).reshape(-1, 16)
            names = ["pos_x", "pos_y", "pos_z", "quat_w", "quat_x", "quat_y", "quat_z", "vel_x", "vel_y", "vel_z",
                     "ang_x", "ang_y", "ang_z"]
            columns: dict[str, Any] = {"episode": np.full(len(rows), self.index, dtype=np.int32),
                                       "step": rows[:, 0].astype(np.int32), "t": rows[:, 1],
                                       "inst_id": rows[:, 2].astype(np.int32)}
            columns.update({column: rows[:, 3 + i] for i, column in enumerate(names)})
            self._put(f"{root}/trajectories.parquet", fm.parquet_bytes(columns))
        if self._robot_rows:
            keys = ["step", "t", "robot", "q", "dq", "tau", "command", "ee_pos", "ee_quat"]
            self._put(f"{root}/robots.parquet", fm.parquet_bytes(
                {key: [row.get(key) for row in self._robot_rows] for key in keys}))
        episode = {
            "format": FORMAT, "episode": self.index, "seed": self.seed, "seed_sequence": seed_info,
            "params": self.params, "randomization": randomization, "metadata": self._metadata,
            "objects": [{"inst_id": o.inst_id, "name": o.entity.name, "entity_index": o.entity.idx,
                         "class_name": o.class_name, "class_id": o.class_id,
                         "bbox_3d": {"lower": fm.rounded(o.lower), "upper": fm.rounded(o.upper),
                                     "frame": "object"}} for o in self._objects],
            "cameras": [{"name": c.name, "width": c.camera.res[0], "height": c.camera.res[1], "fov_deg": c.camera.fov,
                         "near": c.camera.near, "far": c.camera.far, "K": fm.rounded(c.camera.K, 6),
                         "outputs": [kind for kind in ("rgb", "depth", "depth_float", "segmentation", "normal",
                                                       "visibility") if getattr(c, kind)]}
                        for c in self._cameras],
            "frames": self._frames,
            "steps": int(self._scene.cur_step) if self._scene is not None else 0,
            "files": dict(sorted(self._hashes.items())),
        }
        self._sink.put(f"{root}/episode.json", fm.json_bytes(episode))
        images = len(self._frames) * len(self._cameras)  # one image = one camera's capture of one frame
        return {"episode": self.index, "frames": len(self._frames), "images": images,
                "bytes": sum(entry["bytes"] for entry in self._hashes.values()),
                "objects": len(self._objects), "annotations": len(self._coco_annotations)}


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
