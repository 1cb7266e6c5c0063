"""One sample of the synthetic suite, planned in the main process and rendered in a worker:
a still image (RAF-DB, AffectNet) or a clip (DFEW, FERV39k, MAFW), each from its own random
stream ``(seed, dataset, index)`` so that the result does not depend on the number of workers."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from s2d_lib.data.labels import BASIC7, CANONICAL
from .clips import head_motion, plan_clip
from .face import AUS, EXPRESSION_GAIN, expression_aus, sample_identity, sample_pose
from .nuisances import NuisanceRates, blur_vectors, nuisance_flags, plan_nuisances
from .render import motion_blur, render_face, sample_scene
from .timeline import TIMED_FPS, TimedPlan, draw_timeline, timed_plan
from .writers import write_frames, write_mp4

__all__ = ["SUITE_DATASETS", "AFFECTNET_VA", "Item", "item_rng", "item_timeline", "clip_frames",
           "render_item"]

SUITE_DATASETS = ("RAF-DB", "AffectNet", "DFEW", "FERV39k", "MAFW")
#: AffectNet's valence / arousal of each expression (the annotation's centre, before noise).
AFFECTNET_VA = {"neutral": (0.0, 0.0), "happiness": (0.8, 0.5), "sadness": (-0.7, -0.3),
                 "surprise": (0.2, 0.8), "fear": (-0.6, 0.7), "disgust": (-0.7, 0.3),
                 "anger": (-0.6, 0.7), "contempt": (-0.5, 0.3)}


def item_rng(seed: int, dataset: str, index: int) -> np.random.Generator:
    """The random stream of sample ``index`` of ``dataset``."""
    return np.random.default_rng([seed, SUITE_DATASETS.index(dataset), index])


@dataclass(frozen=True)
class Item:
    dataset: str
    index: int
    label: str           # canonical expression, or an AffectNet extra (_AFFECTNET_EXTRA)
    files: tuple[str, ...]  # output paths relative to the suite root; the last one marks completion
    size: int
    seed: int
    frames: tuple[int, int] = (0, 0)
    blend: float = 0.0         # probability of a two-expression blend
    written: str | None = None  # the label of the annotation files when it is not ``label``
    talk: float = 0.35         # probability of speech-like mouth motion (clips)
    nuisances: NuisanceRates | None = None  # clips: draw nuisances and record their flags
    gain: float = EXPRESSION_GAIN  # how far the expression moves the landmarks (.face.landmarks)
    appearance: float = 0.0    # strength of the appearance cues (.render._draw_appearance)
    apex_share: float | None = None  # clips: the apex held over this share of frames, else neutral
    timing: str | None = None  # clips of the claims3 worlds: "realistic" or "pure" (.timeline)
    emphatic: float = 0.0      # claims3 worlds: share of the neutral clips that talk emphatically

    @property
    def annotated(self) -> str:
        """The label the annotation files give this sample."""
        return self.written or self.label


def _static_face(item: Item, rng: np.random.Generator):
    """Identity, AUs, pose and talk of one still image."""
    idn = sample_identity(rng)
    pose = sample_pose(rng)
    if item.label in CANONICAL:
        weights = {item.label: 1.0}
    else:  # AffectNet "none" / "uncertain": a weak expression of any kind
        weights = {str(rng.choice(BASIC7)): rng.uniform(0.2, 0.6)}
    second = None
    if item.label in CANONICAL and rng.random() < item.blend:  # ambiguous blend, labelled with the dominant one
        w = rng.uniform(0.65, 0.8)
        second = str(rng.choice(BASIC7))
        weights = {item.label: w, second: 1 - w}
    aus = expression_aus(weights, rng.uniform(0.7, 1.0)) if weights else {}
    for au in rng.choice(AUS[:-1], 2, replace=False):  # idiosyncratic, expression-free motion
        aus[au] = min(1.0, aus.get(au, 0.0) + rng.uniform(0, 0.15))
    if rng.random() < 0.05:
        aus["43"] = 1.0
    talk = rng.uniform(0, 0.5) if rng.random() < 0.15 else 0.0
    return idn, aus, pose, talk, second


def _render_static(item: Item, root: Path) -> dict:
    rng = item_rng(item.seed, item.dataset, item.index)
    idn, aus, pose, talk, second = _static_face(item, rng)
    scene = sample_scene(rng, item.size)
    img, lm = render_face(idn, aus, pose, scene, item.size, talk, gain=item.gain,
                          appearance=item.appearance)
    if item.label == "nonface":  # AffectNet code 10: the background alone
        img, lm = scene.background.reduce(2), None
    path = root / item.files[0]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=scene.jpeg_quality)
    meta = {"landmarks": lm, "second": second if second != item.label else None}
    if lm is not None:
        lo, hi = lm.min(0), lm.max(0)
        pad = (hi - lo) * 0.15
        x0, y0 = np.clip(lo - pad, 0, item.size - 1).astype(int)
        x1, y1 = np.clip(hi + pad, 0, item.size).astype(int)
        meta["box"] = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        va = np.array(AFFECTNET_VA.get(item.label, (0.0, 0.0)))
        meta["va"] = tuple(np.clip(va * rng.uniform(0.6, 1.0) + rng.normal(0, 0.1, 2), -1, 1))
    return meta


def item_timeline(item: Item) -> TimedPlan:
    """The timeline of a clip of the ``claims3`` worlds (no head motion), from the clip's own
    timeline stream: what the calibration reads and the annotation files' label come from."""
    rng = np.random.default_rng([item.seed, SUITE_DATASETS.index(item.dataset), item.index, 2])
    return timed_plan(draw_timeline(rng, item.frames), item.label, item.timing, item.emphatic,
                      item.blend, item.talk)


def _plan_clip(item: Item, rng: np.random.Generator, base):
    """The plan of one clip and its blend's second expression (None without one)."""
    if item.timing is not None:
        plan = item_timeline(item)
        plan = replace(plan, poses=head_motion(rng, plan.num_frames, base))
        return plan, next((c for c in plan.blend if c != item.label), None)
    T = int(rng.integers(item.frames[0], item.frames[1] + 1))
    options = CANONICAL if item.dataset == "MAFW" else BASIC7
    if item.apex_share is None:  # the older worlds' order of draws
        second = str(rng.choice(options)) if rng.random() < item.blend else None
    else:  # both draws always: worlds that differ only in their blend share keep every other draw
        u, pick = rng.random(), str(rng.choice(options))
        second = pick if u < item.blend else None
    return plan_clip(rng, item.label, T, base, second, talk_prob=item.talk,
                     apex_share=item.apex_share), second


def clip_frames(item: Item, render: bool = True) -> tuple[list, np.ndarray | None, dict | None, dict]:
    """Frames, landmarks, nuisance flags (None without nuisances) and metadata of one clip;
    with ``render=False`` only the metadata (the plan is drawn, nothing is drawn)."""
    rng = item_rng(item.seed, item.dataset, item.index)
    idn = sample_identity(rng)
    base = sample_pose(rng, 0.6)
    scene = sample_scene(rng, item.size)
    plan, second = _plan_clip(item, rng, base)
    T = plan.num_frames
    meta = {"second": second if second != item.label else None, "quality": scene.jpeg_quality}
    if not render:
        return [], None, None, meta
    poses, hands, flags = plan.poses, (None,) * T, None
    if item.nuisances is not None:  # their own stream: the clip under them is the same clip
        nuisances = plan_nuisances(
            np.random.default_rng([item.seed, SUITE_DATASETS.index(item.dataset), item.index, 1]),
            plan, idn, item.nuisances)
        poses, hands = nuisances.poses, nuisances.hands
    frames, lms = [], []
    for t in range(T):
        img, lm = render_face(idn, plan.aus(t), poses[t], scene, item.size, float(plan.talk[t]),
                              hands[t], gain=item.gain, appearance=item.appearance)
        frames.append(img)
        lms.append(lm)
    lms = np.stack(lms)
    if item.nuisances is not None:
        blur = blur_vectors(lms, nuisances.exposure)
        frames = [motion_blur(img, v) for img, v in zip(frames, blur)]
        flags = nuisance_flags(plan, nuisances, blur, item.size)
        if isinstance(plan, TimedPlan):  # the stressed syllables' look-alike, frame by frame
            flags["lookalike"] = [round(float(v), 3) for v in plan.lookalike]
    return frames, lms, flags, meta


def _render_clip(item: Item, root: Path) -> dict:
    done = all((root / f).exists() for f in item.files)
    frames, lms, flags, meta = clip_frames(item, render=not done)
    for f in () if done else item.files:
        path = root / f
        if path.suffix == ".mp4":
            write_mp4(path, frames, *((int(TIMED_FPS),) if item.timing else ()))
        else:
            write_frames(path.parent, frames, lms, meta["quality"], flags)
    return {"second": meta["second"]}


def render_item(args: tuple[Item, Path]) -> tuple[Item, dict]:
    item, root = args
    render = _render_clip if item.frames[1] else _render_static
    return item, render(item, root)
