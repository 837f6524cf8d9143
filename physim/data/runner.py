"""``physim generate``: run a dataset scene script's episodes in a local process pool, in this process, or as
Ray tasks, resumably; see :func:`generate`.

Episode i is a pure function of (scene script, parameters, seed, i), so it does not matter which worker or
machine runs it, nor how often. Local workers write an episode under ``DIR/.partial/`` and rename it into
``DIR/episodes/``; Ray tasks return the files and the driver writes them the same way, so a cluster needs
no shared file system. Only this (driving) process appends to the manifest.
"""

from __future__ import annotations

import concurrent.futures as cf
import errno
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from physim.data import layout
from physim.data.episode import SceneScript, run_episode
from physim.data.errors import DatasetError, EpisodeError
from physim.data.writer import MemorySink


@dataclass
class Report:
    """What a run did. ``images``: camera captures (one camera's RGB/depth/segmentation... of one frame)."""

    out: Path
    requested: int
    done_before: int = 0
    done_now: int = 0
    frames: int = 0
    images: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)  # every failed attempt
    skipped: list[int] = field(default_factory=list)  # episodes given up on (--skip-failures)
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return self.done_before + self.done_now == self.requested

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        state = "interrupted" if self.interrupted else ("complete" if self.complete else "incomplete")
        lines = [f"physim generate: {state}: {self.done_before + self.done_now}/{self.requested} episodes in "
                 f"{self.out}/ ({self.done_now} made now, {self.done_before} already there)",
                 f"  {self.frames} frames, {self.images} images, {self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s: "
                 f"{self.images_per_s:.1f} images/s",
                 f"  failures: {len(self.failures)} failed attempt(s), {len(self.skipped)} episode(s) skipped"
                 + (f" {self.skipped}" if self.skipped else "")]
        if not self.complete:
            lines.append("  rerun the same command to finish the missing episodes")
        return "\n".join(lines)


def generate(scene: str | os.PathLike | SceneScript, out: str | os.PathLike, episodes: int, *, seed: int = 0,
             workers: int = 1, ray_address: str | None = None, params: dict[str, Any] | None = None,
             retries: int = 1, skip_failures: bool = False, min_free_mb: float = 200.0, backend: str = "cpu",
             progress: bool = True) -> Report:
    """Make episodes ``0 .. episodes-1`` of the dataset in ``out`` that are not there yet.

    workers: local worker processes (0 runs episodes in this process). ray_address: run episodes as Ray
    tasks instead ("auto" joins the running cluster, "local" starts one on this machine with ``workers``
    CPUs; an already initialised Ray is used as it is). retries: further attempts for a failed episode.
    skip_failures: give up on an episode that failed every attempt (recorded in the manifest, run again by
    the next rerun) instead of stopping. min_free_mb: refuse to start (or go on) with less free disk.
    Raises DatasetError (unusable folder, full disk) or EpisodeError (an episode failed; with its traceback).
    """
    script = scene if isinstance(scene, SceneScript) else SceneScript.read(scene, params)
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 0:
        raise DatasetError(f"generate: episodes must be an integer >= 0, got {episodes!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise DatasetError(f"generate: workers must be an integer >= 0, got {workers!r}")
    root = Path(out).expanduser().resolve()
    min_free = int(min_free_mb * 1e6)
    identity = {"format": layout.FORMAT, "scene": Path(script.path).name, "scene_sha256": script.sha256,
                "seed": int(seed), "params": script.params, "classes": script.classes}
    layout.prepare(root, identity, min_free)
    manifest = layout.Manifest(root)
    manifest.reconcile()
    todo = deque(i for i in range(episodes) if i not in manifest.done)
    report = Report(out=root, requested=episodes, done_before=episodes - len(todo))

    if ray_address is not None:
        pool: _Pool = _RayPool(script, seed, root, backend, ray_address, workers)
    elif workers == 0:
        pool = _InProcess(script, seed, root, backend)
    else:
        pool = _LocalPool(script, seed, root, backend, workers)
    attempts: dict[int, int] = {}
    started = time.perf_counter()
    bar = tqdm(total=len(todo), desc="episodes", unit="episode", disable=not progress or None, file=sys.stderr,
               dynamic_ncols=True)
    try:
        while todo or pool.busy:
            while todo and pool.has_room():
                layout.check_free_space(root, min_free)
                pool.submit(todo.popleft())
            for index, result in pool.wait():
                if result["ok"]:
                    summary = result["summary"]
                    manifest.append({"status": "done", "episode": index, "frames": summary["frames"],
                                     "images": summary["images"], "bytes": summary["bytes"],
                                     "seconds": round(result["seconds"], 3)})
                    report.done_now += 1
                    report.frames += summary["frames"]
                    report.images += summary["images"]
                    report.bytes += summary["bytes"]
                    bar.update(1)
                    elapsed = time.perf_counter() - started
                    bar.set_postfix_str(f"{report.images / max(elapsed, 1e-9):.1f} img/s")
                    continue
                attempts[index] = attempts.get(index, 0) + 1
                failure = {"episode": index, "attempt": attempts[index], "error": result["error"]}
                report.failures.append(failure)
                tqdm.write(f"physim generate: episode {index} failed (attempt {attempts[index]}): {result['error']}",
                           file=sys.stderr)
                if result.get("fatal"):
                    raise DatasetError(f"episode {index}: {result['error']}")
                if attempts[index] <= retries:
                    todo.append(index)
                elif skip_failures:
                    manifest.append({"status": "failed", "episode": index, "attempts": attempts[index],
                                     "error": result["error"]})
                    report.skipped.append(index)
                    bar.update(1)
                else:
                    raise EpisodeError(f"episode {index} failed {attempts[index]} time(s): {result['error']}\n"
                                       f"{result.get('traceback', '')}".rstrip() + "\n(rerun with --skip-failures to "
                                       "go on past failing episodes; finished episodes are kept)")
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        pool.close()
        bar.close()
        report.seconds = time.perf_counter() - started
        try:
            (root / layout.PARTIAL).rmdir()  # empty once every episode was committed or discarded
        except OSError:
            pass
        if report.complete and episodes > 0:
            layout.merge_coco(root, sorted(manifest.done))
    return report


# --- executing episodes --------------------------------------------------------------------------------------

def _init_backend(backend: str) -> None:
    os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")
    from physim import backend as physim_backend

    if not physim_backend.is_initialized():
        physim_backend.init(backend=backend, precision="32", seed=0)


def _attempt(script: SceneScript, seed: int, index: int, root: Path | None) -> dict[str, Any]:
    """Run one episode; in a folder under ``root`` (then committed), or in memory when ``root`` is None."""
    started = time.perf_counter()
    sink: Any = MemorySink() if root is None else layout.FolderSink(root, index)
    try:
        summary = run_episode(script, seed, index, sink)
        result: dict[str, Any] = {"ok": True, "summary": summary}
        if root is None:
            result["files"] = sink.files
        else:
            sink.commit()
    except Exception as exc:  # noqa: BLE001 - a failing episode is reported, never lost
        if root is not None:
            sink.discard()
        fatal = isinstance(exc, (OSError, DatasetError)) and getattr(exc, "errno", None) in (errno.ENOSPC, errno.EROFS,
                                                                                               errno.EACCES)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                "fatal": fatal, "seconds": time.perf_counter() - started}
    result["seconds"] = time.perf_counter() - started
    return result


class _Pool:
    busy: bool

    def has_room(self) -> bool: ...

    def submit(self, index: int) -> None: ...

    def wait(self) -> list[tuple[int, dict[str, Any]]]: ...

    def close(self) -> None: ...


class _InProcess(_Pool):
    def __init__(self, script: SceneScript, seed: int, root: Path, backend: str) -> None:
        _init_backend(backend)
        self.script, self.seed, self.root = script, seed, root
        self.queue: list[int] = []

    @property
    def busy(self) -> bool:
        return bool(self.queue)

    def has_room(self) -> bool:
        return not self.queue

    def submit(self, index: int) -> None:
        self.queue.append(index)

    def wait(self) -> list[tuple[int, dict[str, Any]]]:
        index = self.queue.pop()
        return [(index, _attempt(self.script, self.seed, index, self.root))]

    def close(self) -> None:
        self.queue.clear()


# Worker-process state of the local pool, set by _pool_init.
_worker: dict[str, Any] = {}


def _pool_init(script: SceneScript, seed: int, root: str, backend: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops the workers
    _init_backend(backend)
    _worker.update(script=script, seed=seed, root=Path(root))
    script.namespace()


def _pool_run(index: int) -> dict[str, Any]:
    return _attempt(_worker["script"], _worker["seed"], index, _worker["root"])


class _LocalPool(_Pool):
    """A process pool (spawned, never forked: a process that rendered with EGL must not be forked)."""

    def __init__(self, script: SceneScript, seed: int, root: Path, backend: str, workers: int) -> None:
        self.args = (script, seed, str(root), backend)
        self.workers = workers
        self.futures: dict[cf.Future, int] = {}
        self.executor = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_pool_init, initargs=self.args)

    @property
    def busy(self) -> bool:
        return bool(self.futures)

    def has_room(self) -> bool:
        return len(self.futures) < self.workers

    def submit(self, index: int) -> None:
        self.futures[self.executor.submit(_pool_run, index)] = index

    def wait(self) -> list[tuple[int, dict[str, Any]]]:
        done, _ = cf.wait(list(self.futures), return_when=cf.FIRST_COMPLETED)
        out, broken = [], False
        for future in done:
            index = self.futures.pop(future)
            try:
                out.append((index, future.result()))
            except cf.process.BrokenProcessPool:
                broken = True
                out.append((index, {"ok": False, "error": "a worker process died (killed, or crashed in native code)",
                                    "seconds": 0.0}))
            except Exception as exc:  # noqa: BLE001 - e.g. the worker's initializer failed
                out.append((index, {"ok": False, "error": f"{type(exc).__name__}: {exc}", "seconds": 0.0}))
        if broken:
            for index in list(self.futures.values()):
                out.append((index, {"ok": False, "error": "its worker pool broke (another worker died)",
                                    "seconds": 0.0}))
            self.futures.clear()
            self._stop()
            self.executor = self._start()
        return out

    def _stop(self) -> None:
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # only the workers this pool started
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)

    def close(self) -> None:
        self._stop()


def _ray_task(script: SceneScript, seed: int, index: int, backend: str) -> dict[str, Any]:
    _init_backend(backend)
    return _attempt(script, seed, index, None)


class _RayPool(_Pool):
    """Episodes as Ray tasks (one CPU each); they return their files and this process writes them."""

    def __init__(self, script: SceneScript, seed: int, root: Path, backend: str, address: str, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise DatasetError("--ray needs Ray: pip install 'physim[cluster]'") from None
        self.ray = ray
        if not ray.is_initialized():
            try:
                if address == "local":
                    ray.init(num_cpus=max(workers, 1), include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=address, log_to_driver=False)
            except Exception as exc:  # noqa: BLE001 - Ray's connection errors vary by version
                reason = str(exc).rstrip(".")
                raise DatasetError(f"--ray {address}: cannot start or join Ray: {type(exc).__name__}: {reason}. Start "
                                   "a cluster first (`ray start --head`), or use --ray local to run one here") from None
        self.remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        self.script, self.seed, self.root, self.backend = script, seed, root, backend
        self.capacity = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        self.refs: dict[Any, int] = {}

    @property
    def busy(self) -> bool:
        return bool(self.refs)

    def has_room(self) -> bool:
        return len(self.refs) < self.capacity

    def submit(self, index: int) -> None:
        self.refs[self.remote.remote(self.script, self.seed, index, self.backend)] = index

    def wait(self) -> list[tuple[int, dict[str, Any]]]:
        ready, _ = self.ray.wait(list(self.refs), num_returns=1)
        out = []
        for ref in ready:
            index = self.refs.pop(ref)
            try:
                result = self.ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a lost task or worker is a failed attempt
                out.append((index, {"ok": False, "error": f"{type(exc).__name__}: {exc}", "seconds": 0.0}))
                continue
            if result["ok"]:
                layout.commit_files(self.root, index, result.pop("files"))
            out.append((index, result))
        return out

    def close(self) -> None:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        self.refs.clear()
