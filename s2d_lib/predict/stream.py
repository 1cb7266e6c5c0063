"""Reading a video of any length and size in constant memory: forward, upright, at a working size.

A phone films 4K (3840 x 2160, 25 MB per RGB frame); the predictor needs a face crop of the
model's input size (224 px for the released checkpoints) and a detector frame of 320 px. A
:class:`VideoStream` therefore

- decodes the file forward with PyAV, one frame at a time, and converts to RGB only the frames
  asked for, scaled in the same FFmpeg call so that the longer side is at most ``max_side``
  (:data:`WORKING_SIDE`, 1280 px: a face that fills a third of a 720p frame is still 240 px,
  above the model's input); smaller videos are read at their own size, unchanged;
- holds no frame beyond the ones a ``read`` returns: memory does not grow with the video's
  length (every stage of the predictor asks for increasing frame indices, so each stage is one
  forward pass; asking for an earlier frame starts a new pass from the beginning);
- turns the frames upright by the container's display rotation (a phone stores a portrait clip
  sideways with a rotation tag), and by a further ``turn`` on request (:func:`turned`, for a clip
  whose tag is missing);
- refuses a file without a video stream (an audio-only ``.m4a`` / ``.mp4``) or without a frame
  with a message naming the file.

A folder of frame images keeps its :class:`~s2d_lib.data.decode.ClipReader` (each image is read
when asked for); :func:`open_video` picks.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from ..data.decode import ClipReader
from ..data.errors import DatasetError

__all__ = ["WORKING_SIDE", "VideoStream", "Turned", "open_video", "turned"]

#: Longest side, in pixels, at which the predictor reads a video's frames.
WORKING_SIDE = 1280


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


class VideoStream:
    """``len(stream)`` frames; ``stream.read(indices)`` -> uint8 ``(len(indices), H, W, 3)``,
    upright and at most ``max_side`` pixels on the longer side, decoded forward (see the
    module's docstring). ``size`` is (width, height) of what ``read`` returns, ``source_size``
    the upright size in the file, ``rotation`` the display rotation applied (degrees,
    counter-clockwise)."""

    def __init__(self, path: str | os.PathLike, max_side: int | None = WORKING_SIDE) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(self.path, "no such frame folder or video file")
        if self.path.stat().st_size == 0:
            raise DatasetError(self.path, "empty video file")
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    kinds = sorted({s.type for s in container.streams})
                    raise DatasetError(self.path, "no video stream (the file holds "
                                       + (" and ".join(kinds) if kinds else "no stream")
                                       + " only): nothing to find a face in")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                self._count = sum(1 for packet in container.demux(stream) if packet.size)
            with av.open(str(self.path)) as container:
                first = next(container.decode(video=0), None)
        except av.error.FFmpegError as exc:
            raise DatasetError(self.path, f"unreadable video (FFmpeg: {exc.strerror})") from None
        if first is None or self._count == 0:
            raise DatasetError(self.path, "video has no frames")
        self.fps = float(rate) if rate else None
        self.rotation = int(round(first.rotation or 0)) % 360
        w, h = first.width, first.height
        if self.rotation in (90, 270):
            w, h = h, w
        self.source_size = (w, h)
        scale = 1.0 if max_side is None else min(1.0, max_side / max(w, h))
        self.scale = scale
        self.size = (w, h) if scale == 1.0 else (_even(w * scale), _even(h * scale))
        self._container = None
        self._frames = None
        self._position = -1      # index of the last frame taken from the decoder
        self._last = None        # that frame (still YUV), for a file that ends early

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"VideoStream({str(self.path)!r}, {len(self)} frames, {self.size[0]}x{self.size[1]})"

    def _restart(self) -> None:
        self.close()
        self._container = av.open(str(self.path))
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: decoding is most of the time at 4K
        self._frames = self._container.decode(stream)
        self._position, self._last = -1, None

    def close(self) -> None:
        """Close the decoder (a later ``read`` opens it again)."""
        if self._container is not None:
            self._container.close()
        self._container = self._frames = None

    def _frame_at(self, index: int):
        if self._container is None or index < self._position:
            self._restart()
        while self._position < index:
            try:
                frame = next(self._frames)
            except StopIteration:
                break  # fewer frames than packets: the last one stands for the rest
            except av.error.FFmpegError as exc:
                raise DatasetError(self.path, f"cannot decode frame {self._position + 1} "
                                   f"(FFmpeg: {exc.strerror})") from None
            self._position += 1
            self._last = frame
        return self._last

    def _rgb(self, frame) -> np.ndarray:
        w, h = self.size
        if self.rotation in (90, 270):
            w, h = h, w
        if (w, h) == (frame.width, frame.height):
            array = frame.to_ndarray(format="rgb24")
        else:
            array = frame.reformat(width=w, height=h, format="rgb24",
                                   interpolation="AREA").to_ndarray()
        return np.ascontiguousarray(np.rot90(array, self.rotation // 90)) if self.rotation \
            else array

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """The frames at ``indices`` (each in ``0..len-1``), in the order asked for."""
        indices = [int(i) for i in indices]
        if any(not 0 <= i < len(self) for i in indices):
            raise DatasetError(self.path, f"frame index outside 0..{len(self) - 1}: {indices}")
        out = {}
        for i in sorted(set(indices)):
            out[i] = self._rgb(self._frame_at(i))
        return np.stack([out[i] for i in indices])

    def describe(self) -> str:
        """How the frames are read when it is not as stored: scaled down, turned by the rotation
        tag ("" otherwise)."""
        w, h = self.source_size
        parts = [f"read at {self.size[0]}x{self.size[1]} (from {w}x{h})"] if self.scale < 1 else []
        if self.rotation:
            parts.append(f"turned {self.rotation}° counter-clockwise by the file's rotation tag")
        return ", ".join(parts)


class Turned:
    """A reader whose frames are turned by ``degrees`` counter-clockwise (90, 180 or 270)."""

    def __init__(self, reader, degrees: int) -> None:
        if degrees % 90:
            raise ValueError(f"turn by a multiple of 90 degrees, not {degrees}")
        self.reader, self.degrees = reader, degrees % 360
        self.path = reader.path

    def __len__(self) -> int:
        return len(self.reader)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """The inner reader's frames, turned."""
        frames = self.reader.read(indices)
        return np.ascontiguousarray(np.rot90(frames, self.degrees // 90, axes=(1, 2)))


def turned(reader, degrees: int):
    """``reader`` with its frames turned ``degrees`` counter-clockwise (itself for 0)."""
    return reader if degrees % 360 == 0 else Turned(reader, degrees)


def open_video(path: str | os.PathLike, max_side: int | None = WORKING_SIDE):
    """A :class:`VideoStream` for a video file, a ``ClipReader`` for a folder of frames; a
    ``DatasetError`` naming ``path`` when neither can be read."""
    path = Path(path)
    return ClipReader(path) if path.is_dir() else VideoStream(path, max_side)
