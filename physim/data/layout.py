"""The dataset folder: its identity (``dataset.json``), its manifest, atomic episode folders, pre-flight checks.

::

    DIR/
      dataset.json           what made it: scene script (name, SHA-256), seed, parameters, classes
      manifest.jsonl         one line per finished (or skipped-after-failure) episode, appended as they finish
      coco_instances.json    all episodes' COCO annotations, merged when a run completes
      episodes/000000/...    one folder per episode (see physim.data.writer), renamed into place when complete
      .partial/              episodes being written (cleared at start)

An episode folder exists only once complete: it is written under ``.partial/`` and renamed into
``episodes/``, so a crash or Ctrl-C leaves no half episode, and a rerun skips what is there.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from physim.data import formats as fm
from physim.data.errors import DatasetError
from physim.data.writer import FORMAT

EPISODES = "episodes"
PARTIAL = ".partial"
MANIFEST = "manifest.jsonl"
DATASET = "dataset.json"
COCO = "coco_instances.json"


def episode_dir(root: Path, index: int) -> Path:
    return root / EPISODES / f"{index:06d}"


def prepare(root: Path, identity: dict[str, Any], min_free_bytes: int) -> None:
    """Create or reopen the dataset folder; fail at once if it is unwritable, full, or another dataset's.

    identity: what the episodes are a function of (scene SHA-256, seed, parameters); a folder made with
    another identity cannot be resumed into.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / EPISODES).mkdir(exist_ok=True)
        probe = root / f".write-probe-{os.getpid()}"
        with open(probe, "wb") as handle:
            handle.write(b"physim")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        raise DatasetError(f"cannot write to the dataset folder {str(root)!r}: {_os_reason(exc)}") from None
    check_free_space(root, min_free_bytes)
    shutil.rmtree(root / PARTIAL, ignore_errors=True)  # leftovers of an interrupted run
    existing = root / DATASET
    if existing.exists():
        try:
            found = json.loads(existing.read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{str(existing)!r} is unreadable ({exc}); is {str(root)!r} a physim dataset?") \
                from None
        for key in ("format", "scene_sha256", "seed", "params"):
            if found.get(key) != identity.get(key):
                raise DatasetError(
                    f"{str(root)!r} holds a dataset made with another {key} ({found.get(key)!r}, now "
                    f"{identity.get(key)!r}); episodes are a function of the scene script, the seed and the "
                    "parameters, so resuming would mix two datasets. Use the same ones to resume, or another --out.")
        return
    try:
        atomic_write(existing, fm.json_bytes(identity))
    except OSError as exc:
        raise DatasetError(f"cannot write {str(existing)!r}: {_os_reason(exc)}") from None


def check_free_space(root: Path, min_free_bytes: int) -> None:
    free = shutil.disk_usage(root).free
    if free < min_free_bytes:
        raise DatasetError(f"the disk holding {str(root)!r} has {free / 1e6:.0f} MB free; this run needs at least "
                           f"{min_free_bytes / 1e6:.0f} MB (free some space, choose another --out, or lower "
                           "--min-free-mb)")


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


def atomic_write(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(temp, "wb") as handle:
        handle.write(data)
    os.replace(temp, path)


def write_files(folder: Path, files: dict[str, bytes], prefix: str) -> None:
    """Write ``files`` (paths relative to the dataset root, under ``prefix``) below ``folder``."""
    for relative, data in files.items():
        if not relative.startswith(prefix):
            raise DatasetError(f"episode file {relative!r} lies outside its episode folder {prefix!r}")
        target = folder / relative[len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


class FolderSink:
    """Writes an episode's files under ``root/.partial/<index>.<pid>/`` as they come; :meth:`commit` renames it."""

    def __init__(self, root: Path, index: int) -> None:
        self.root = root
        self.index = index
        self.prefix = f"{EPISODES}/{index:06d}/"
        self.folder = root / PARTIAL / f"{index:06d}.{os.getpid()}.{time.monotonic_ns()}"
        self.folder.mkdir(parents=True)

    def put(self, path: str, data: bytes) -> None:
        write_files(self.folder, {path: data}, self.prefix)

    def commit(self) -> bool:
        """Move the finished episode into place; False (and the partial folder removed) if it is already there."""
        return commit_folder(self.root, self.folder, self.index)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def commit_folder(root: Path, folder: Path, index: int) -> bool:
    target = episode_dir(root, index)
    try:
        os.rename(folder, target)  # atomic; fails when the target exists (a finished duplicate)
    except OSError as exc:
        if target.exists():
            shutil.rmtree(folder, ignore_errors=True)
            return False
        raise DatasetError(f"cannot move episode {index} into place at {str(target)!r}: {_os_reason(exc)}") from None
    return True


def commit_files(root: Path, index: int, files: dict[str, bytes]) -> bool:
    """Write an episode held in memory (e.g. returned by a Ray task) and move it into place."""
    folder = root / PARTIAL / f"{index:06d}.{os.getpid()}.{time.monotonic_ns()}"
    try:
        folder.mkdir(parents=True)
        write_files(folder, files, f"{EPISODES}/{index:06d}/")
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise DatasetError(f"cannot write episode {index} under {str(root)!r}: {_os_reason(exc)}") from None
    return commit_folder(root, folder, index)


# --- the manifest -----------------------------------------------------------------------------------------

class Manifest:
    """``manifest.jsonl``: one JSON line per event (``done`` or ``failed``), appended and flushed as it happens.

    A line cut short by a crash is ignored on reading; the episode folders are the ground truth for what
    is complete, and :meth:`reconcile` adds a ``done`` line for a folder whose line was lost.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / MANIFEST
        self.root = root
        self.done: dict[int, dict[str, Any]] = {}
        self.failed: dict[int, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
                if entry.get("status") == "done":
                    self.done[int(entry["episode"])] = entry
                    self.failed.pop(int(entry["episode"]), None)
                elif entry.get("status") == "failed":
                    self.failed[int(entry["episode"])] = entry

    def reconcile(self) -> None:
        """Make the manifest agree with the episode folders (the ground truth)."""
        present = {int(p.name) for p in (self.root / EPISODES).iterdir()
                   if p.name.isdigit() and (p / "episode.json").is_file()}
        for index in sorted(present - set(self.done)):
            episode = json.loads((episode_dir(self.root, index) / "episode.json").read_text())
            self.append({"status": "done", "episode": index, "frames": len(episode.get("frames", [])),
                         "images": len(episode.get("frames", [])) * len(episode.get("cameras", [])),
                         "recovered": True})
        for index in set(self.done) - present:
            del self.done[index]  # its folder was removed: it will be made again

    def append(self, entry: dict[str, Any]) -> None:
        with open(self.path, "ab") as handle:
            handle.write(json.dumps(entry, sort_keys=True).encode() + b"\n")
            handle.flush()
        index = int(entry["episode"])
        if entry["status"] == "done":
            self.done[index] = entry
            self.failed.pop(index, None)
        else:
            self.failed[index] = entry


def merge_coco(root: Path, indices: list[int]) -> Path:
    """Merge the episodes' ``coco.json`` files into ``DIR/coco_instances.json`` (ids are already global)."""
    images, annotations, categories = [], [], {}
    for index in sorted(indices):
        coco = json.loads((episode_dir(root, index) / "coco.json").read_text())
        images.extend(coco["images"])
        annotations.extend(coco["annotations"])
        for category in coco["categories"]:
            categories[category["id"]] = category
    merged = {"info": {"description": "physim synthetic dataset", "version": FORMAT}, "licenses": [],
              "images": images, "annotations": annotations,
              "categories": [categories[key] for key in sorted(categories)]}
    target = root / COCO
    atomic_write(target, fm.json_bytes(merged))
    return target
