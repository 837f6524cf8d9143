"""The episode contract of a dataset scene script, and running one episode as a pure function of (seed, index).

A dataset scene script is a Python file defining::

    CLASSES = ["can", "box", ...]            # optional: class names; class id = position + 1
    PARAMS = {"width": 640, "frames": 20}    # optional: parameters, overridable with --param KEY=VALUE

    def episode(rng, writer):                # rng: physim.data.Randomizer, writer: physim.data.EpisodeWriter
        scene = ps.Scene(...)                # build a fresh scene, randomized through rng
        ...
        writer.add_camera(cam); writer.add_object(entity, "can")
        for _ in range(writer.params["frames"]):
            writer.step(scene, 5)
            writer.record_frame()

It must not call ``ps.init`` at import time (the runner initialises each worker), and everything random
must come from ``rng``: episode i is then a pure function of (seed, i) and reruns give identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physim.data.errors import EpisodeError
from physim.data.randomize import Randomizer
from physim.data.writer import EpisodeWriter, FileSink

_loaded: dict[str, dict[str, Any]] = {}  # scene SHA-256 -> the script's namespace, once per process


@dataclass(frozen=True)
class SceneScript:
    """A dataset scene script, carried by value (its source) so that any worker, local or remote, can run it.

    path: where it was read (used for ``__file__`` and messages); source: its text; overrides: --param values.
    """

    path: str
    source: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> SceneScript:
        file = Path(path)
        try:
            source = file.read_text()
        except OSError as exc:
            raise EpisodeError(f"scene script {str(file)!r}: cannot read it: {exc.strerror or exc}") from None
        script = cls(str(file.resolve()), source, dict(overrides or {}))
        script.params  # noqa: B018 - load it now, so that a broken script fails before any worker starts
        return script

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def namespace(self) -> dict[str, Any]:
        key = self.sha256
        if key not in _loaded:
            namespace: dict[str, Any] = {"__name__": "physim_dataset_scene", "__file__": self.path}
            try:
                exec(compile(self.source, self.path, "exec"), namespace)  # noqa: S102 - the user's own script
            except Exception as exc:
                raise EpisodeError(f"scene script {self.path!r} failed to load: {type(exc).__name__}: {exc}") \
                    from exc
            if not callable(namespace.get("episode")):
                raise EpisodeError(f"scene script {self.path!r} defines no episode(rng, writer) function")
            _loaded[key] = namespace
        return _loaded[key]

    @property
    def classes(self) -> list[str]:
        classes = self.namespace().get("CLASSES", [])
        if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
            raise EpisodeError(f"scene script {self.path!r}: CLASSES must be a list of class names")
        return list(classes)

    @property
    def params(self) -> dict[str, Any]:
        defaults = dict(self.namespace().get("PARAMS", {}))
        unknown = sorted(set(self.overrides) - set(defaults))
        if unknown:
            raise EpisodeError(f"scene script {self.path!r}: unknown parameter(s) {unknown}; it has "
                               f"{sorted(defaults)}")
        params = {**defaults, **self.overrides}
        try:
            json.dumps(params)
        except TypeError as exc:
            raise EpisodeError(f"scene script {self.path!r}: PARAMS must be plain JSON values ({exc})") from None
        return params


def episode_rng(seed: int, index: int) -> tuple[np.random.Generator, dict[str, Any]]:
    """The episode's random stream: PCG64 seeded by SeedSequence(entropy=seed, spawn_key=(index,))."""
    sequence = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(index),))
    return np.random.Generator(np.random.PCG64(sequence)), {"entropy": int(seed), "spawn_key": [int(index)],
                                                             "bit_generator": "PCG64"}


def run_episode(script: SceneScript, seed: int, index: int, sink: FileSink) -> dict[str, Any]:
    """Run episode ``index`` of the dataset ``(script, seed)``, writing its files to ``sink``; returns its summary."""
    generator, seed_info = episode_rng(seed, index)
    rng = Randomizer(generator)
    writer = EpisodeWriter(index, seed, script.params, sink, classes=script.classes)
    script.namespace()["episode"](rng, writer)
    if not writer._frames:
        raise EpisodeError(f"episode {index}: the episode function recorded no frame (call writer.record_frame())")
    return writer.finish(rng.log, seed_info)
