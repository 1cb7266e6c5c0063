"""Following one face through a clip with several, and the crop rule: tracks of a face that was
hidden for a while are joined so that another face seen throughout does not take over; the crop
is turned by the eye line's roll so that the eyes are level."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from s2d_course.synthetic.face import Pose, expression_aus, sample_identity
from s2d_course.synthetic.render import render_face, sample_scene
from s2d_course.synthetic.writers import write_mp4
from s2d_lib.blazeface import BlazeFaceDetector
from s2d_lib.data.decode import ClipReader
from s2d_lib.face_detection import (crop_face, join_tracks, largest_track, link_tracks, roll_of,
                                    square_box, track_face)

#: The two-face clip: 61 frames of 240 x 120, checked every 5th (13 checks); the big face on the
#: left is covered in frames 18-43 (5 checks in a row: its track ends and starts again).
FRAMES, HIDDEN, EVERY = 61, range(18, 44), 5


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector()


def two_faces() -> list[Image.Image]:
    """A big face on the left, hidden by a grey card for a while, and a smaller one on the right
    seen throughout (about 2.7 times less area: more than either half of the big face's track,
    less than the whole)."""
    rng = np.random.default_rng(3)
    big, small = sample_identity(rng), sample_identity(rng)
    left_scene, right_scene = (sample_scene(rng, 120, occlusion=0, blur=0) for _ in range(2))
    frames = []
    for t in range(FRAMES):
        left, _ = render_face(big, expression_aus({"happiness": t / FRAMES}),
                              Pose(scale=0.7, shift=(0.02 * np.sin(t / 6), 0)), left_scene, 120)
        right, _ = render_face(small, expression_aus({"surprise": 1 - t / FRAMES}),
                               Pose(scale=0.32, roll=0.1 * np.sin(t / 5)), right_scene, 120)
        canvas = Image.new("RGB", (240, 120))
        canvas.paste(left, (0, 0))
        canvas.paste(right, (120, 0))
        if t in HIDDEN:
            canvas.paste((128, 128, 128), (0, 0, 120, 120))
        frames.append(canvas)
    return frames


def test_the_hidden_face_keeps_its_identity_and_the_note_says_which(tmp_path, detector):
    path = tmp_path / "two_faces.mp4"
    write_mp4(path, two_faces())
    reader = ClipReader(path)
    track = track_face(reader, "blazeface", every=EVERY, progress=False)
    centres = (track.boxes[:, 0] + track.boxes[:, 2]) / 2
    assert (centres < 120).all(), centres           # the big face, in every frame
    assert track.faces == 2 and "largest of 2 faces seen, at the left" in track.note, track.note
    assert not track.present[25:38].any()             # hidden: no face, not the other one's
    assert track.present[:18].all() and track.present[45:].all()
    # Without joining its two tracks, the face seen throughout would have been followed.
    checked = sorted(set(range(0, FRAMES, EVERY)) | {FRAMES - 1})
    detections = {f: detector(frame) for f, frame in zip(checked, reader.read(checked))}
    unjoined = largest_track(link_tracks({f: b for f, b in detections.items() if len(b)}))
    assert all((b[0] + b[2]) / 2 > 120 for b in unjoined.values())


def test_join_tracks_joins_a_face_found_again_where_it_was():
    a1 = {0: np.array([0.0, 0, 10, 10]), 5: np.array([1.0, 0, 11, 10])}
    a2 = {30: np.array([3.0, 1, 13, 11])}
    other = {f: np.array([50.0, 0, 60, 10]) for f in range(0, 35, 5)}
    far = {40: np.array([30.0, 0, 40, 10])}  # after a2, but three sides away: another face
    joined = join_tracks([a1, other, a2, far])
    assert {tuple(sorted(t)) for t in joined} == {(0, 5, 30), tuple(range(0, 35, 5)), (40,)}
    assert sorted(largest_track(joined)) == list(range(0, 35, 5))  # 7 detections against 3


def test_the_aligned_crop_levels_the_eyes(detector):
    rng = np.random.default_rng(7)
    identity, scene = sample_identity(rng), sample_scene(rng, 160, occlusion=0, blur=0)
    image, _ = render_face(identity, {}, Pose(roll=0.35, scale=0.45), scene, 160)
    frame = np.asarray(image)
    boxes, points, _ = detector.detect(frame)
    roll = roll_of(points[0])
    assert 12 < abs(roll) < 30, roll                  # 0.35 rad = 20 degrees
    square = square_box(boxes[0], 0.25)
    rolls = {}
    for name, turn in (("unaligned", 0.0), ("aligned", roll)):
        crop = crop_face(frame, square, 128, turn)
        found = detector.detect(crop)[1]
        rolls[name] = roll_of(found[0])
    assert abs(rolls["unaligned"]) > 12 and abs(rolls["aligned"]) < 5, rolls
    np.testing.assert_array_equal(crop_face(frame, square, 64, 0.0), crop_face(frame, square, 64))
