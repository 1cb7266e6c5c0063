"""Build the synthetic suite: RAF-DB, AffectNet, DFEW, FERV39k and MAFW in their real layouts.

``build_suite(out, "tiny", seed=0)`` plans every sample in the main process (labels, splits,
folds, names), renders and writes them in worker processes with a tqdm bar, then writes the
annotation files. Each sample has its own random stream ``(seed, dataset, index)``, so the
result does not depend on the number of workers. A finished dataset is marked by
``.synthetic.json``; calling again with the same preset and seed reuses it, and a build that
was interrupted resumes (every sample already written is kept).

Layout written under ``out`` by the ``tiny``, ``small`` and ``mini`` presets (synthetic frames
are 112 px; the real DFEW ones are 224 px):

- ``RAF-DB/basic/Image/aligned/{train_00001,test_0001}_aligned.jpg`` (100 px),
  ``RAF-DB/basic/EmoLabel/list_patition_label.txt``
- ``AffectNet/Manually_Annotated_Images/<k>/<hex>.jpg``, ``AffectNet/{training,validation}.csv``
- ``DFEW/Clip/clip_112x112/<00001>/`` frames, ``DFEW/Clip/original/<00001>.mp4``,
  ``DFEW/EmoLabel_DataSplit/...``
- ``FERV39k/<Scene>/<Emotion>/<0001>/`` frames, ``FERV39k/Annotation/{train,test}.csv``,
  ``label_index.txt``
- ``MAFW/frames/<00001>/`` frames, ``MAFW/anno/single/no_caption/set_K/...``

The ``paper_smoke`` preset writes a handful of samples at 224 px in the releases' own folders
(:mod:`s2d_lib.data.layouts`), for a CPU smoke run of the paper presets: DFEW
``Clip/clip_224x224_16f/<00001>/`` (16 frames each, no mp4), FERV39k
``2_ClipsforFaceCrop/<Scene>/<Emotion>/<0001>/``, MAFW ``data/frames/frames_crop_align_224/<00001>/``;
its labels are balanced within every split (each image split holds every class; the video
datasets, a clip per fold, as many classes as they have clips).

Every frame folder also holds ``landmarks.npy`` (T, 68, 2), the exact iBUG landmarks in pixels.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...progress import progress_bar
from ..errors import DatasetError
from ..labels import BASIC7, CANONICAL, CLASSES, canonical_names
from ..layouts import (AFFECTNET_IMAGES, DFEW_FRAMES_16F, DFEW_FRAMES_112, DFEW_VIDEOS,
                       FERV39K_FRAMES, MAFW_FRAMES, MAFW_FRAMES_224, RAFDB_IMAGES)
from .clips import plan_clip
from .face import AUS, expression_aus, sample_identity, sample_pose
from .render import render_face, sample_scene
from .writers import (LANDMARKS_FILE, write_affectnet_csv, write_dfew_splits, write_frames,
                      write_ferv39k_annotations, write_mafw_annotations, write_mp4,
                      write_rafdb_labels)

__all__ = ["SuitePreset", "PRESETS", "build_suite", "DFEW_FRAMES", "MAFW_FRAMES",
           "FERV39K_SCENES", "SUITE_DATASETS", "dataset_paths"]

DFEW_FRAMES = DFEW_FRAMES_112
SUITE_DATASETS = ("RAF-DB", "AffectNet", "DFEW", "FERV39k", "MAFW")
FERV39K_SCENES = ("Action", "Argue", "Business", "Conflict", "Contest", "Crime", "Crisis",
                  "DailyLife", "ElegantArt", "Experiment", "History", "Interview", "Liveshow",
                  "Medicine", "OfficialEvent", "ScholarReport", "School", "Social", "Speech",
                  "Talkshow", "Terror", "War")
_VERSION = 2
#: AffectNet codes 8, 9, 10 (none of the eight, uncertain, not a face) in generator terms.
_AFFECTNET_EXTRA = ("none", "uncertain", "nonface")
_AFFECTNET_VA = {"neutral": (0.0, 0.0), "happiness": (0.8, 0.5), "sadness": (-0.7, -0.3),
                 "surprise": (0.2, 0.8), "fear": (-0.6, 0.7), "disgust": (-0.7, 0.3),
                 "anger": (-0.6, 0.7), "contempt": (-0.5, 0.3)}


@dataclass(frozen=True)
class SuitePreset:
    """Sizes of the synthetic suite (number of images / clips per split)."""

    name: str
    rafdb: tuple[int, int]          # train, test images
    affectnet: tuple[int, int]      # training, validation images
    dfew: int                       # clips, split into 5 folds
    ferv39k: tuple[int, int]        # train, test clips
    mafw: int                       # clips, split into 5 folds
    frames: tuple[int, int] = (16, 40)   # min, max clip length
    frame_size: int = 112
    rafdb_size: int = 100
    affectnet_size: int = 128
    layout: str = "synthetic"       # clip folders: "synthetic" or the releases' ("release")
    stratified: bool = False        # labels balanced within each split, not over the whole set


#: Clip folders of each layout (relative to the dataset folder; "" is the folder itself), whether
#: DFEW also gets its mp4 files, and a fixed DFEW clip length (its 16-frame folders).
_CLIP_FOLDERS = {
    "synthetic": dict(DFEW=DFEW_FRAMES_112, FERV39k="", MAFW=MAFW_FRAMES, videos=True,
                      dfew_frames=None),
    "release": dict(DFEW=DFEW_FRAMES_16F, FERV39k=FERV39K_FRAMES, MAFW=MAFW_FRAMES_224,
                    videos=False, dfew_frames=16),
}
#: Fields added to SuitePreset after suites were first stamped, left out of the stamp at their
#: defaults so that those suites are still recognised.
_LATER_FIELDS = {"layout": "synthetic", "stratified": False}


PRESETS = {
    "tiny": SuitePreset("tiny", rafdb=(2800, 350), affectnet=(6000, 240), dfew=350,
                        ferv39k=(112, 42), mafw=165),
    "small": SuitePreset("small", rafdb=(5000, 1250), affectnet=(2000, 500), dfew=1400,
                         ferv39k=(700, 210), mafw=880, frames=(16, 48)),
    "mini": SuitePreset("mini", rafdb=(35, 14), affectnet=(24, 8), dfew=20, ferv39k=(14, 7),
                        mafw=22, frames=(10, 20)),
    # A handful per split: the base model scores every test clip in 2 x 2 views on a CPU, so
    # each video test split holds one clip (five DFEW / MAFW clips: one per fold), and the
    # training splits four (the smoke run uses no validation split).
    "paper_smoke": SuitePreset("paper_smoke", rafdb=(14, 7), affectnet=(16, 8), dfew=5,
                               ferv39k=(4, 1), mafw=5, frames=(16, 24), frame_size=224,
                               affectnet_size=224, layout="release", stratified=True),
}


def dataset_paths(out: str | Path, preset: str | SuitePreset = "tiny") -> dict[str, dict[str, Path]]:
    """Where each synthetic dataset's loader arguments point (data root, annotation folder)."""
    out = Path(out)
    folders = _CLIP_FOLDERS[(PRESETS[preset] if isinstance(preset, str) else preset).layout]
    paths = {"RAF-DB": {"root": out / "RAF-DB"}, "AffectNet": {"root": out / "AffectNet"},
             "DFEW": {"data_root": out / "DFEW" / folders["DFEW"],
                      "annotations": out / "DFEW" / "EmoLabel_DataSplit"},
             "FERV39k": {"data_root": out / "FERV39k" / folders["FERV39k"],
                         "annotations": out / "FERV39k" / "Annotation"},
             "MAFW": {"data_root": out / "MAFW" / folders["MAFW"],
                      "annotations": out / "MAFW" / "anno" / "single" / "no_caption"}}
    if folders["videos"]:
        paths["DFEW"]["video_root"] = out / "DFEW" / DFEW_VIDEOS
    return paths


# ---------------------------------------------------------------- planning (main process)

def _rng(seed: int, dataset: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SUITE_DATASETS.index(dataset), index])


def _balanced(classes: tuple[str, ...], n: int, rng: np.random.Generator) -> list[str]:
    labels = [classes[i % len(classes)] for i in range(n)]
    rng.shuffle(labels)
    return labels


def _split_labels(classes: tuple[str, ...], sizes: tuple[int, ...], rng: np.random.Generator,
                  stratified: bool) -> list[str]:
    """Labels of consecutive splits of ``sizes``: balanced over them all, or within each one."""
    if stratified:
        return [y for n in sizes for y in _balanced(classes, n, rng)]
    return _balanced(classes, sum(sizes), rng)


def _folds(labels: list[str], rng: np.random.Generator, k: int = 5) -> list[int]:
    """Stratified fold (1..k) of each sample."""
    folds, position = [0] * len(labels), 0
    for cls in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(idx)
        for i in idx:  # one running count over all classes keeps the folds' sizes equal
            folds[i] = position % k + 1
            position += 1
    return folds


@dataclass(frozen=True)
class _Item:
    dataset: str
    index: int
    label: str           # canonical expression, or an AffectNet extra (_AFFECTNET_EXTRA)
    files: tuple[str, ...]  # output paths relative to the suite root; the last one marks completion
    size: int
    seed: int
    frames: tuple[int, int] = (0, 0)


# ---------------------------------------------------------------- rendering (workers)

def _static_face(item: _Item, rng: np.random.Generator):
    """Identity, AUs, pose and talk of one still image."""
    idn = sample_identity(rng)
    pose = sample_pose(rng)
    if item.label in CANONICAL:
        weights = {item.label: 1.0}
    else:  # AffectNet "none" / "uncertain": a weak expression of any kind
        weights = {str(rng.choice(BASIC7)): rng.uniform(0.2, 0.6)}
    if item.label in CANONICAL and rng.random() < 0.1:  # ambiguous blend, labelled with the dominant one
        w = rng.uniform(0.65, 0.8)
        weights = {item.label: w, str(rng.choice(BASIC7)): 1 - w}
    aus = expression_aus(weights, rng.uniform(0.7, 1.0)) if weights else {}
    for au in rng.choice(AUS[:-1], 2, replace=False):  # idiosyncratic, expression-free motion
        aus[au] = min(1.0, aus.get(au, 0.0) + rng.uniform(0, 0.15))
    if rng.random() < 0.05:
        aus["43"] = 1.0
    talk = rng.uniform(0, 0.5) if rng.random() < 0.15 else 0.0
    return idn, aus, pose, talk


def _render_static(item: _Item, root: Path) -> dict:
    rng = _rng(item.seed, item.dataset, item.index)
    idn, aus, pose, talk = _static_face(item, rng)
    scene = sample_scene(rng, item.size)
    img, lm = render_face(idn, aus, pose, scene, item.size, talk)
    if item.label == "nonface":  # AffectNet code 10: the background alone
        img, lm = scene.background.reduce(2), None
    path = root / item.files[0]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=scene.jpeg_quality)
    meta = {"landmarks": lm}
    if lm is not None:
        lo, hi = lm.min(0), lm.max(0)
        pad = (hi - lo) * 0.15
        x0, y0 = np.clip(lo - pad, 0, item.size - 1).astype(int)
        x1, y1 = np.clip(hi + pad, 0, item.size).astype(int)
        meta["box"] = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        va = np.array(_AFFECTNET_VA.get(item.label, (0.0, 0.0)))
        meta["va"] = tuple(np.clip(va * rng.uniform(0.6, 1.0) + rng.normal(0, 0.1, 2), -1, 1))
    return meta


def _render_clip(item: _Item, root: Path) -> dict:
    rng = _rng(item.seed, item.dataset, item.index)
    if all((root / f).exists() for f in item.files):
        return {}
    idn = sample_identity(rng)
    base = sample_pose(rng, 0.6)
    scene = sample_scene(rng, item.size)
    T = int(rng.integers(item.frames[0], item.frames[1] + 1))
    second = str(rng.choice(CANONICAL if item.dataset == "MAFW" else BASIC7)) \
        if rng.random() < 0.15 else None
    plan = plan_clip(rng, item.label, T, base, second)
    frames, lms = [], []
    for t in range(T):
        img, lm = render_face(idn, plan.aus(t), plan.poses[t], scene, item.size, float(plan.talk[t]))
        frames.append(img)
        lms.append(lm)
    for f in item.files:
        path = root / f
        if path.suffix == ".mp4":
            write_mp4(path, frames)
        else:
            write_frames(path.parent, frames, np.stack(lms), scene.jpeg_quality)
    return {}


def _render(args: tuple[_Item, Path]) -> tuple[_Item, dict]:
    item, root = args
    render = _render_clip if item.frames[1] else _render_static
    return item, render(item, root)


# ---------------------------------------------------------------- per-dataset plans

def _plan(dataset: str, p: SuitePreset, seed: int) -> list[_Item]:
    rng = np.random.default_rng([seed, SUITE_DATASETS.index(dataset), 10**6])
    items = []
    if dataset == "RAF-DB":
        n_train, n_test = p.rafdb
        labels = _split_labels(canonical_names("RAF-DB"), p.rafdb, rng, p.stratified)
        for i, y in enumerate(labels):
            name = f"train_{i + 1:05d}" if i < n_train else f"test_{i - n_train + 1:04d}"
            items.append(_Item(dataset, i, y, (f"RAF-DB/basic/{RAFDB_IMAGES}/{name}_aligned.jpg",),
                               p.rafdb_size, seed))
    elif dataset == "AffectNet":
        n = sum(p.affectnet)
        labels = _split_labels(canonical_names("AffectNet"), p.affectnet, rng, p.stratified)
        if p.stratified:  # one row of each of codes 8-10, at the end of the validation file
            labels += list(_AFFECTNET_EXTRA)
        else:
            for i in rng.choice(n, max(1, n // 25), replace=False):  # a few rows with codes 8-10
                labels[i] = _AFFECTNET_EXTRA[i % 3]
        for i, y in enumerate(labels):
            name = hashlib.sha1(f"{seed}-{i}".encode()).hexdigest()
            items.append(_Item(dataset, i, y,
                               (f"AffectNet/{AFFECTNET_IMAGES}/{i // 1000 + 1}/{name}.jpg",),
                               p.affectnet_size, seed))
    else:
        sizes = {"DFEW": (p.dfew,), "FERV39k": p.ferv39k, "MAFW": (p.mafw,)}[dataset]
        labels = _split_labels(canonical_names(dataset), sizes, rng, p.stratified)
        folders = _CLIP_FOLDERS[p.layout]
        frames = p.frames
        counters: dict[tuple[str, str], int] = {}
        for i, y in enumerate(labels):
            if dataset == "FERV39k":
                scene = str(rng.choice(FERV39K_SCENES))
                emotion = CLASSES["FERV39k"][canonical_names("FERV39k").index(y)]
                counters[scene, emotion] = counters.get((scene, emotion), 0) + 1
                folder = "/".join(f for f in ("FERV39k", folders["FERV39k"], scene, emotion) if f)
                files = (f"{folder}/{counters[scene, emotion]:04d}/{LANDMARKS_FILE}",)
            elif dataset == "DFEW":
                files = ((f"DFEW/{DFEW_VIDEOS}/{i + 1:05d}.mp4",) if folders["videos"] else ()) + \
                        (f"DFEW/{folders['DFEW']}/{i + 1:05d}/{LANDMARKS_FILE}",)
                frames = (folders["dfew_frames"],) * 2 if folders["dfew_frames"] else p.frames
            else:
                files = (f"MAFW/{folders['MAFW']}/{i + 1:05d}/{LANDMARKS_FILE}",)
            items.append(_Item(dataset, i, y, files, p.frame_size, seed, frames))
    return items


def _write_annotations(dataset: str, p: SuitePreset, seed: int, root: Path,
                       results: list[tuple[_Item, dict]]) -> None:
    results = sorted(results, key=lambda r: r[0].index)
    rng = np.random.default_rng([seed, SUITE_DATASETS.index(dataset), 10**6 + 1])
    if dataset == "RAF-DB":
        names = canonical_names("RAF-DB")
        write_rafdb_labels(root / "RAF-DB" / "basic",
                           [(Path(it.files[0]).name.replace("_aligned", ""), names.index(it.label))
                            for it, _ in results])
    elif dataset == "AffectNet":
        names = canonical_names("AffectNet")
        rows = []
        for it, meta in results:
            code = (8 + _AFFECTNET_EXTRA.index(it.label) if it.label in _AFFECTNET_EXTRA
                    else names.index(it.label))
            va = meta.get("va", (-2.0, -2.0)) if code < 8 else (-2.0, -2.0)
            rows.append(dict(path=it.files[0].split(f"{AFFECTNET_IMAGES}/")[1],
                             box=meta.get("box", (0, 0, it.size, it.size)),
                             landmarks=meta["landmarks"], expression=code,
                             valence=va[0], arousal=va[1]))
        n_train = p.affectnet[0]
        write_affectnet_csv(root / "AffectNet" / "training.csv", rows[:n_train])
        write_affectnet_csv(root / "AffectNet" / "validation.csv", rows[n_train:])
    else:
        names = canonical_names(dataset)
        labels = [it.label for it, _ in results]
        if dataset == "FERV39k":
            samples = [("/".join(Path(it.files[0]).parts[-4:-1]), names.index(it.label))
                       for it, _ in results]
            # stratified: the labels were planned split by split, train first
            order = np.arange(len(samples)) if p.stratified else rng.permutation(len(samples))
            n_train = p.ferv39k[0]
            write_ferv39k_annotations(root / "FERV39k", {
                "train": [samples[i] for i in order[:n_train]],
                "test": [samples[i] for i in order[n_train:]]})
        else:
            ids = {f"{it.index + 1:05d}": names.index(it.label) for it, _ in results}
            folds = dict(zip(ids, _folds(labels, rng)))
            writer = write_dfew_splits if dataset == "DFEW" else write_mafw_annotations
            writer(root / dataset, folds, ids)


def _stamp(p: SuitePreset, seed: int, dataset: str) -> dict:
    preset = asdict(p)
    for key, default in _LATER_FIELDS.items():
        if preset[key] == default:
            del preset[key]
    return {"version": _VERSION, "seed": seed, "dataset": dataset, "preset": preset}


def build_suite(out: str | Path, preset: str | SuitePreset = "tiny", seed: int = 0,
                workers: int | None = None, datasets: tuple[str, ...] = SUITE_DATASETS,
                progress: bool = True) -> dict[str, str]:
    """Write the synthetic suite under ``out``; returns ``{dataset: "built" | "reused"}``.

    Raises :class:`DatasetError` if ``out`` holds a dataset built with another preset or seed.
    """
    p = PRESETS[preset] if isinstance(preset, str) else preset
    root = Path(out)
    status, todo = {}, []
    for ds in datasets:
        stamp = root / ds / ".synthetic.json"
        if stamp.exists():
            if json.loads(stamp.read_text()) != json.loads(json.dumps(_stamp(p, seed, ds))):
                raise DatasetError(stamp, f"{ds} was built with another preset or seed; "
                                          "use another --out or delete the folder")
            status[ds] = "reused"
        else:
            todo.append(ds)
    items = [it for ds in todo for it in _plan(ds, p, seed)]
    # Clips are the slow items: hand them out first and in small chunks.
    items.sort(key=lambda it: -it.frames[1])
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    results: dict[str, list] = {ds: [] for ds in todo}
    bar = progress_bar(total=len(items), desc=f"synthetic {p.name} suite", unit="sample",
                       disable=not progress or not items)
    jobs = [(it, root) for it in items]
    if workers > 1 and len(items) > 1:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            for item, meta in pool.imap_unordered(_render, jobs, chunksize=4):
                results[item.dataset].append((item, meta))
                bar.update()
    else:
        for job in jobs:
            item, meta = _render(job)
            results[item.dataset].append((item, meta))
            bar.update()
    bar.close()
    for ds in todo:
        _write_annotations(ds, p, seed, root, results[ds])
        (root / ds / ".synthetic.json").write_text(json.dumps(_stamp(p, seed, ds), indent=1))
        status[ds] = "built"
    return status
