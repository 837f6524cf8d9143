"""Writing camera frames to video files (.mp4 through libx264, .gif), atomically and in bounded memory.

- :class:`VideoWriter` streams RGB frames to an ffmpeg process (the binary that imageio-ffmpeg ships)
  as they come, so a long recording never sits in memory. ffmpeg writes a temporary file next to the
  target, which replaces the target only when encoding succeeded: no half-written video is ever left
  under the name asked for, and a failed or abandoned recording leaves nothing behind.
- :class:`FrameSpool` keeps frames on disk (an anonymous temporary file) for recordings whose file
  name is only known at the end (Genesis's ``start_recording()`` ... ``stop_recording(filename)``).

MP4 is H.264 in yuv420p, which needs even sizes: odd widths or heights are padded by one black
column/row (right/bottom), so any camera resolution records. GIFs keep the exact size and get a
palette per frame (streamed; no whole-video palette pass).
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import tempfile
import weakref
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from physim.errors import InvalidValueError, RenderError, SceneStateError
from physim.render.files import open_temp_beside

VIDEO_EXTENSIONS = (".mp4", ".gif")


def check_video_path(owner: str, path: object) -> Path:
    """An absolute video path with a supported extension; raises InvalidValueError naming ``owner``."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidValueError(f"{owner}: save_to_filename must be a file path, got {path!r}")
    resolved = Path(path).expanduser().absolute()
    if resolved.suffix.lower() not in VIDEO_EXTENSIONS:
        raise InvalidValueError(f"{owner}: cannot write video {str(resolved)!r}: the extension must be one of "
                                f"{', '.join(VIDEO_EXTENSIONS)}")
    return resolved


def check_fps(owner: str, fps: object) -> float:
    """A finite frame rate > 0, frames/s."""
    try:
        value = float(fps)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidValueError(f"{owner}: fps must be a number > 0, got {fps!r}") from None
    if isinstance(fps, bool) or not math.isfinite(value) or value <= 0:
        raise InvalidValueError(f"{owner}: fps must be a finite number > 0, got {fps!r}")
    return value


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise RenderError("writing videos needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise RenderError(f"no ffmpeg binary found for writing videos: {exc}") from None


def _encoder_args(extension: str) -> list[str]:
    if extension == ".gif":
        # One palette per frame: streamable (palettegen over the whole video would buffer it all).
        return ["-filter_complex", "split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1",
                "-loop", "0", "-f", "gif"]
    return ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18",
            "-preset", "fast", "-movflags", "+faststart", "-f", "mp4"]


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _abandon(process_box: list, temp_path: str) -> None:
    """Stop ffmpeg (if running) and delete the temporary file. Used by abort() and the GC finalizer."""
    process = process_box[0] if process_box else None
    if process is not None and process.poll() is None:
        try:
            process.kill()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
    _remove_quietly(temp_path)


class VideoWriter:
    """Streams (H, W, 3) uint8 RGB frames into ``path`` at ``fps`` frames/s; see the module docstring.

    The temporary file is created at once, so a bad folder fails at construction with a message naming
    the path. ffmpeg starts with the first frame (whose size fixes the video's).
    """

    def __init__(self, path: str | os.PathLike, fps: float, owner: str = "VideoWriter") -> None:
        self.owner = owner
        self.path = check_video_path(owner, path)
        self.fps = check_fps(owner, fps)
        self.frame_count = 0
        self._size: tuple[int, int] | None = None  # (height, width)
        self._process_box: list[subprocess.Popen | None] = [None]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, self._temp_path = open_temp_beside(self.path)
            os.close(handle)
        except OSError as exc:
            raise InvalidValueError(f"{owner}: cannot write video {str(self.path)!r}: {exc.strerror or exc}") from None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the writer; closed in close/abort
        self._finalizer = weakref.finalize(self, _abandon, self._process_box, self._temp_path)

    @property
    def is_open(self) -> bool:
        return self._finalizer.alive

    def append(self, frame: np.ndarray) -> None:
        """Add one frame: (H, W, 3) uint8 RGB, the same size as the first."""
        if not self.is_open:
            raise SceneStateError(f"{self.owner}: the video {str(self.path)!r} is already closed")
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InvalidValueError(f"{self.owner}: frames must be (H, W, 3) uint8 RGB, got {frame.dtype} "
                                    f"{frame.shape}")
        if self._size is None:
            self._start(frame.shape[0], frame.shape[1])
        elif frame.shape[:2] != self._size:
            raise InvalidValueError(f"{self.owner}: every frame must be {self._size[1]}x{self._size[0]} pixels "
                                    f"(width x height), got {frame.shape[1]}x{frame.shape[0]}")
        process = self._process_box[0]
        assert process is not None and process.stdin is not None
        try:
            process.stdin.write(memoryview(np.ascontiguousarray(frame)))
        except (BrokenPipeError, OSError):
            message = self._ffmpeg_failure()
            self.abort()
            raise RenderError(message) from None
        self.frame_count += 1

    def _start(self, height: int, width: int) -> None:
        self._size = (height, width)
        command = [_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                   "-r", str(Fraction(self.fps).limit_denominator(1001)), "-i", "-", "-an",
                   *_encoder_args(self.path.suffix.lower()), self._temp_path]
        try:
            self._process_box[0] = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                                    stderr=self._stderr)
        except OSError as exc:
            self.abort()
            raise RenderError(f"{self.owner}: could not start ffmpeg to write {str(self.path)!r}: {exc}") from None

    def _ffmpeg_failure(self) -> str:
        process = self._process_box[0]
        if process is not None:
            try:
                if process.stdin is not None:
                    process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self._stderr.seek(0)
        detail = self._stderr.read().decode(errors="replace").strip().splitlines()[-5:]
        return f"{self.owner}: ffmpeg failed writing {str(self.path)!r}: {' / '.join(detail) or 'no message'}"

    def close(self) -> Path:
        """Finish the video and move it into place; returns its path. With no frames, nothing is written."""
        if not self.is_open:
            raise SceneStateError(f"{self.owner}: the video {str(self.path)!r} is already closed")
        if self.frame_count == 0:
            self.abort()
            raise SceneStateError(f"{self.owner}: no frames were recorded, so {str(self.path)!r} was not written")
        process = self._process_box[0]
        assert process is not None and process.stdin is not None
        try:
            process.stdin.close()
            returncode = process.wait()
        except OSError:
            returncode = -1
        if returncode != 0:
            message = self._ffmpeg_failure()
            self.abort()
            raise RenderError(message)
        try:
            os.replace(self._temp_path, self.path)
        except OSError as exc:
            self.abort()
            raise RenderError(f"{self.owner}: could not move the finished video to {str(self.path)!r}: {exc}") from None
        self._finalizer.detach()
        self._stderr.close()
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the temporary file; the target path is left untouched."""
        if self._finalizer.alive:
            self._finalizer()
            self._stderr.close()


class FrameSpool:
    """Same-size RGB frames kept in an anonymous temporary file (deleted when closed), in order."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the spool; closed in close()
        self.shape: tuple[int, int, int] | None = None
        self.frame_count = 0

    def append(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if self.shape is None:
            self.shape = frame.shape
        elif frame.shape != self.shape:
            raise InvalidValueError(f"recording: every frame must have shape {self.shape}, got {frame.shape}")
        self._file.write(memoryview(frame))
        self.frame_count += 1

    def frames(self) -> Iterator[np.ndarray]:
        """The frames in order; each is a view of one reused buffer, valid until the next is produced."""
        if self.shape is None:
            return
        buffer = np.empty(self.shape, dtype=np.uint8)
        self._file.seek(0)
        for _ in range(self.frame_count):
            if self._file.readinto(memoryview(buffer).cast("B")) != buffer.nbytes:
                raise RenderError("recording: the temporary frame file was truncated")
            yield buffer

    def close(self) -> None:
        self._file.close()


def write_video(path: str | os.PathLike, frames: Iterator[np.ndarray], fps: float, owner: str = "write_video") -> Path:
    """Write an iterable of RGB frames to ``path`` (see :class:`VideoWriter`); returns the path."""
    writer = VideoWriter(path, fps, owner=owner)
    try:
        for frame in frames:
            writer.append(frame)
        return writer.close()
    except BaseException:
        writer.abort()
        raise
