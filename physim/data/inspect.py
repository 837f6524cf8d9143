"""``physim inspect DIR``: what a dataset holds (counts, per class, visibility, integrity) and a contact sheet
of random samples with instance masks and boxes drawn, for people who would rather look than read."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from physim.data import formats as fm
from physim.data import layout
from physim.data.errors import DatasetError
from physim.render.images import segmentation_colors


def inspect_dataset(root: str | Path, samples: int = 12, sheet: str | Path | None = None, seed: int = 0,
                    verify: bool = False) -> dict[str, Any]:
    """Summarise the dataset in ``root``; draw ``samples`` random images into ``sheet`` (default
    ``root/contact_sheet.png``; none when samples is 0). verify: check every file against its SHA-256."""
    root = Path(root).expanduser().resolve()
    identity_file = root / layout.DATASET
    if not identity_file.is_file():
        raise DatasetError(f"{str(root)!r} is not a physim dataset (no {layout.DATASET}); make one with "
                           "`physim generate SCENE.py --out DIR`")
    identity = json.loads(identity_file.read_text())
    manifest = layout.Manifest(root)
    episodes_dir = root / layout.EPISODES
    indices = sorted(int(p.name) for p in episodes_dir.iterdir() if p.name.isdigit()) if episodes_dir.is_dir() else []
    summary: dict[str, Any] = {"dataset": str(root), "scene": identity.get("scene"), "seed": identity.get("seed"),
                               "params": identity.get("params"), "episodes": len(indices), "frames": 0, "images": 0,
                               "objects": 0, "annotations": 0, "bytes": 0, "per_class": {},
                               "missing_episodes": [], "skipped_after_failure": sorted(set(manifest.failed) -
                                                                                       set(indices)),
                               "mean_visib_fract": None, "corrupt_files": []}
    if indices:
        summary["missing_episodes"] = sorted(set(range(indices[-1] + 1)) - set(indices))
    per_class: Counter = Counter()
    visibilities: list[float] = []
    images: list[tuple[int, str, int]] = []
    for index in indices:
        folder = layout.episode_dir(root, index)
        episode = json.loads((folder / "episode.json").read_text())
        cameras = [camera["name"] for camera in episode["cameras"]]
        summary["frames"] += len(episode["frames"])
        summary["images"] += len(episode["frames"]) * len(cameras)
        summary["objects"] += len(episode["objects"])
        summary["bytes"] += sum(entry["bytes"] for entry in episode["files"].values())
        images.extend((index, camera, frame["frame"]) for camera in cameras for frame in episode["frames"])
        coco = json.loads((folder / "coco.json").read_text())
        names = {category["id"]: category["name"] for category in coco["categories"]}
        summary["annotations"] += len(coco["annotations"])
        for annotation in coco["annotations"]:
            per_class[names.get(annotation["category_id"], str(annotation["category_id"]))] += 1
            if annotation.get("visib_fract") is not None:
                visibilities.append(annotation["visib_fract"])
        if verify:
            for relative, entry in episode["files"].items():
                path = root / relative
                if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                    summary["corrupt_files"].append(relative)
    summary["per_class"] = dict(sorted(per_class.items()))
    if visibilities:
        summary["mean_visib_fract"] = round(float(np.mean(visibilities)), 4)
    if samples > 0 and images:
        target = Path(sheet) if sheet is not None else root / "contact_sheet.png"
        rng = np.random.default_rng(seed)
        chosen = [images[i] for i in sorted(rng.choice(len(images), size=min(samples, len(images)), replace=False))]
        contact_sheet(root, chosen, target)
        summary["contact_sheet"] = str(target)
    return summary


def contact_sheet(root: Path, chosen: list[tuple[int, str, int]], target: Path, tile_width: int = 320) -> None:
    """Tile the chosen (episode, camera, frame) RGB images, each with its instance masks tinted, visible
    boxes drawn and class names written, into one PNG at ``target``."""
    from PIL import Image, ImageDraw

    tiles = []
    for index, camera, frame in chosen:
        folder = layout.episode_dir(root, index)
        rgb_path = folder / camera / "rgb" / f"{frame:06d}.png"
        if not rgb_path.is_file():
            continue
        rgb = fm.read_png(rgb_path).astype(np.float32)
        seg_path = folder / camera / "seg" / f"{frame:06d}.png"
        if seg_path.is_file():
            instances = fm.read_png(seg_path).astype(np.int64)
            colours = segmentation_colors(instances).astype(np.float32)
            tinted = instances > 0
            rgb[tinted] = 0.55 * rgb[tinted] + 0.45 * colours[tinted]
        picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
        scale = tile_width / picture.width
        picture = picture.resize((tile_width, max(1, round(picture.height * scale))), Image.BILINEAR)
        draw = ImageDraw.Draw(picture)
        episode = json.loads((folder / "episode.json").read_text())
        classes = {obj["inst_id"]: obj["class_name"] for obj in episode["objects"]}
        info_path = folder / camera / "scene_gt_info.json"
        gt_path = folder / camera / "scene_gt.json"
        if info_path.is_file() and gt_path.is_file():
            infos = json.loads(info_path.read_text()).get(str(frame), [])
            gts = json.loads(gt_path.read_text()).get(str(frame), [])
            for gt, info in zip(gts, infos):
                x, y, w, h = info.get("bbox_visib", [-1, -1, 0, 0])
                if w <= 0 or h <= 0:
                    continue
                colour = tuple(int(c) for c in segmentation_colors(np.array([gt["inst_id"]]))[0])
                box = [x * scale, y * scale, (x + w) * scale, (y + h) * scale]
                draw.rectangle(box, outline=colour, width=2)
                label = f"{classes.get(gt['inst_id'], gt['obj_id'])} {info.get('visib_fract', 1.0):.2f}"
                draw.text((box[0] + 2, max(0.0, box[1] - 11)), label, fill=colour)
        draw.text((4, 4), f"ep {index} {camera} f{frame}", fill=(255, 255, 255))
        tiles.append(picture)
    if not tiles:
        return
    columns = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    height = max(tile.height for tile in tiles)
    sheet = Image.new("RGB", (columns * tile_width + (columns + 1) * 4, rows * height + (rows + 1) * 4), (24, 24, 24))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (4 + (i % columns) * (tile_width + 4), 4 + (i // columns) * (height + 4)))
    target.parent.mkdir(parents=True, exist_ok=True)
    layout.atomic_write(target, _png(sheet))


def _png(picture: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few readable lines."""
    lines = [f"dataset {summary['dataset']}: scene {summary['scene']}, seed {summary['seed']}",
             f"  {summary['episodes']} episodes, {summary['frames']} frames, {summary['images']} images, "
             f"{summary['objects']} objects, {summary['annotations']} visible-object annotations, "
             f"{summary['bytes'] / 1e6:.1f} MB"]
    if summary["per_class"]:
        lines.append("  per class: " + ", ".join(f"{name} {count}" for name, count in summary["per_class"].items()))
    if summary["mean_visib_fract"] is not None:
        lines.append(f"  mean visible fraction of annotated objects: {summary['mean_visib_fract']:.3f}")
    if summary["missing_episodes"]:
        lines.append(f"  missing episodes (not made yet): {summary['missing_episodes'][:20]}"
                     + (" ..." if len(summary["missing_episodes"]) > 20 else ""))
    if summary["skipped_after_failure"]:
        lines.append(f"  skipped after failing: {summary['skipped_after_failure']}")
    if summary["corrupt_files"]:
        lines.append(f"  CORRUPT or missing files: {summary['corrupt_files'][:20]}")
    if "contact_sheet" in summary:
        lines.append(f"  contact sheet: {summary['contact_sheet']}")
    return "\n".join(lines)
