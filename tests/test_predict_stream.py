"""One's own video as people film it: read forward at a working size, upright by the rotation
tag, turned when the face is found only sideways, and a file without video refused in our words."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from s2d_lib.data.decode import ClipReader
from s2d_lib.data.errors import DatasetError
from s2d_lib.predict import main, predict_video
from s2d_lib.predict.stream import VideoStream, open_video, turned
from s2d_course.synthetic.writers import write_mp4

from test_predict import T, clip, tiny_checkpoint  # noqa: F401 (fixtures)


def _write(path: Path, frames: list[np.ndarray], rotation: int = 0, fps: int = 25) -> Path:
    """H.264 at near-lossless quality, with a display rotation tag when ``rotation`` is set."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "10"}
        if rotation:
            stream.set_display_rotation(rotation)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _pattern(n: int, h: int, w: int) -> list[np.ndarray]:
    """Frames with a bright square in the top-left corner (which way is up) moving right."""
    frames = []
    for t in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[4:4 + h // 4, 4 + 2 * t:4 + 2 * t + w // 5] = 230
        frames.append(f)
    return frames


def test_the_stream_reads_what_the_clip_reader_reads_in_any_order(clip):
    path, _ = clip
    stream, reader = VideoStream(path), ClipReader(path)
    assert len(stream) == len(reader) and stream.size == (128, 128) and stream.rotation == 0
    for indices in ([0, 5, 6, 30], [2, 1], [35, 35, 0]):  # backwards starts a new pass
        np.testing.assert_array_equal(stream.read(indices), reader.read(indices))


def test_a_large_video_is_read_at_the_working_size(tmp_path):
    path = _write(tmp_path / "wide.mp4", _pattern(6, 360, 640))
    stream = VideoStream(path, max_side=320)
    frames = stream.read([0, 5])
    assert frames.shape == (2, 180, 320, 3) and stream.source_size == (640, 360)
    assert "from 640x360" in stream.describe()
    full = VideoStream(path, max_side=None).read([5])[0]
    small = np.asarray(Image.fromarray(full).resize((320, 180), Image.BILINEAR))
    assert np.abs(frames[1].astype(int) - small).mean() < 6


@pytest.mark.parametrize("rotation", [90, 270])
def test_the_rotation_tag_turns_the_frames_upright(tmp_path, rotation):
    upright = _pattern(4, 96, 64)  # portrait, as seen
    stored = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in upright]  # sideways
    stream = VideoStream(_write(tmp_path / "portrait.mp4", stored, rotation))
    assert stream.rotation == rotation and stream.size == (64, 96)
    got = stream.read([0, 3])
    assert got.shape == (2, 96, 64, 3)
    assert np.abs(got.astype(int) - np.stack([upright[0], upright[3]])).mean() < 4
    assert "rotation tag" in stream.describe()


def test_turned_reader():
    frames = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)

    class Reader:
        path = "x"

        def __len__(self):
            return 2

        def read(self, indices):
            return frames[list(indices)]
    assert turned(Reader(), 90).read([1]).shape == (1, 4, 3, 3)
    np.testing.assert_array_equal(turned(Reader(), 90).read([1])[0], np.rot90(frames[1]))
    assert isinstance(turned(Reader(), 0), Reader)


def test_a_sideways_clip_gets_its_face_found_and_says_it_turned_it(clip, tiny_checkpoint,  # noqa: F811
                                                                     tmp_path):
    """A portrait clip read without its rotation: the face lies on its side; the predictor finds
    it turned a quarter turn clockwise and says so."""
    path, _ = clip
    sideways = [np.ascontiguousarray(np.rot90(f)) for f in ClipReader(path).read(range(len(ClipReader(path))))]
    video = tmp_path / "sideways.mp4"
    write_mp4(video, [Image.fromarray(f) for f in sideways])
    from s2d_lib.checkpoints import load_any_checkpoint
    model = load_any_checkpoint(tiny_checkpoint)
    p = predict_video(video, model, consecutive=True, progress=False, device="cpu")
    assert p.turn == 270
    assert "found with the frames turned 90° clockwise" in p.detector_note
    assert "turned 90° clockwise" in p.reading and p.to_json()["turn_degrees"] == 270
    assert p.has_face.all()
    upright = predict_video(path, model, consecutive=True, progress=False, device="cpu")
    assert upright.turn == 0 and upright.has_face.all()


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            samples = (0.1 * np.sin(np.arange(1024) / 5.0)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 16000, i * 1024, Fraction(1, 16000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("name", ["voice.m4a", "voice.mp4"])
def test_an_audio_only_file_has_no_video_stream(name, tiny_checkpoint, tmp_path):  # noqa: F811
    audio = _audio_only(tmp_path / name)
    with pytest.raises(DatasetError, match="no video stream"):
        open_video(audio)
    with pytest.raises(SystemExit) as exc:
        main([str(audio), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "out"),
              "--no-progress"])
    message = str(exc.value.code)
    assert message.startswith("error: ") and str(audio) in message and "no video stream" in message
    assert "Check failed" not in message and not (tmp_path / "out").exists()
