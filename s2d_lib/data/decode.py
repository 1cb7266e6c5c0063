"""Reading the frames of one clip, from a folder of images (PIL) or a video file (decord, else PyAV).

Every failure becomes a :class:`DatasetError` naming the folder or file: a missing folder, a
folder without frames, an unreadable image, an empty or undecodable video.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import av
import numpy as np
from PIL import Image

from .errors import DatasetError

try:  # decord is fast but has no wheels for every platform; PyAV is the fallback
    import decord
except ImportError:  # pragma: no cover - depends on the platform
    decord = None

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "ClipReader"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")


class ClipReader:
    """``len(reader)`` frames; ``reader.read(indices)`` -> uint8 (len(indices), H, W, 3).

    ``path`` is a folder of frame images (read in name order; other files such as
    ``landmarks.npy`` are ignored) or a video file.
    """

    def __init__(self, path: str | Path, backend: str = "auto") -> None:
        self.path = Path(path)
        self._frames: list[Path] | None = None
        self._video = None
        self._decoded: list[np.ndarray] | None = None
        if self.path.is_dir():
            self._frames = sorted(p for p in self.path.iterdir()
                                  if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not self._frames:
                raise DatasetError(self.path, "frame folder holds no images")
            return
        if not self.path.is_file():
            raise DatasetError(self.path, "no such frame folder or video file")
        if self.path.stat().st_size == 0:
            raise DatasetError(self.path, "empty video file")
        if backend == "auto":
            backend = "decord" if decord is not None else "pyav"
        if backend == "decord":
            try:
                self._video = decord.VideoReader(str(self.path), num_threads=1)
            except (decord.DECORDError, RuntimeError) as e:  # decord raises both
                raise DatasetError(self.path, f"unreadable video ({str(e).splitlines()[0]})") from None
        else:
            try:
                with av.open(str(self.path)) as container:
                    self._decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            except (av.error.FFmpegError, ValueError, IndexError) as e:
                raise DatasetError(self.path, f"unreadable video ({e})") from None
        if len(self) == 0:
            raise DatasetError(self.path, "video has no frames")

    def __len__(self) -> int:
        if self._frames is not None:
            return len(self._frames)
        return len(self._video) if self._video is not None else len(self._decoded)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """The frames at ``indices`` (each in ``0..len-1``)."""
        indices = [int(i) for i in indices]
        if any(not 0 <= i < len(self) for i in indices):
            raise DatasetError(self.path, f"frame index outside 0..{len(self) - 1}: {indices}")
        if self._frames is not None:
            out = []
            for i in indices:
                try:
                    with Image.open(self._frames[i]) as im:
                        out.append(np.asarray(im.convert("RGB")))
                except OSError as e:
                    raise DatasetError(self._frames[i], f"unreadable frame ({e})") from None
            return np.stack(out)
        if self._video is not None:
            try:
                return self._video.get_batch(indices).asnumpy()
            except (decord.DECORDError, RuntimeError) as e:
                raise DatasetError(self.path, f"cannot decode frames ({e})") from None
        return np.stack([self._decoded[i] for i in indices])
