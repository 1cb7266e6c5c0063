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

The ``claims`` preset is a harder world for testing the paper's ablations: class frequencies
of the real annotation files (:mod:`.frequencies`; AffectNet stays balanced), more two-expression
blends, label noise between confusable classes, more talking, and the frame-level nuisances of
:mod:`.nuisances` (a hand over the face, motion blur, the face partly out of view, head turns).
Its clip folders also hold ``nuisance.json`` (one 0 / 1 list per nuisance, and the expression
intensity, per frame), and each dataset folder ``synthetic_labels.csv``: every sample's true
(rendered) label, the label written to the annotation files, and the blend's second expression.
All of this is off in the other presets, whose output is unchanged.

The ``claims3`` presets are clips with time in them (:mod:`.timeline`, 8 frames at 15 fps):
their ``nuisance.json`` also holds ``lookalike`` (the per-frame amplitude of emphatic speech's
surprise- or fear-like syllables), their DFEW folds are stratified on the clean label, and each
fold's ``test_set_K.csv`` holds the clean label while ``train_set_K.csv`` holds one annotator's
(they differ on the blended clips of the ``claims3_blend*`` worlds).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from s2d_lib.progress import progress_bar
from s2d_lib.data.errors import DatasetError
from s2d_lib.data.labels import CLASSES, canonical_names
from s2d_lib.data.layouts import (AFFECTNET_IMAGES, DFEW_FRAMES_16F, DFEW_FRAMES_112, DFEW_VIDEOS,
                                  FERV39K_FRAMES, FOLDS, MAFW_FRAMES, MAFW_FRAMES_224,
                                  RAFDB_IMAGES)
from .frequencies import confuse, split_counts
from .items import SUITE_DATASETS, Item, item_timeline, render_item
from .presets import _LATER_FIELDS, PRESETS, SuitePreset, _records
from .writers import (LANDMARKS_FILE, SYNTHETIC_LABELS, write_affectnet_csv, write_dfew_splits,
                      write_ferv39k_annotations, write_mafw_annotations, write_rafdb_labels,
                      write_synthetic_labels)

__all__ = ["SuitePreset", "PRESETS", "build_suite", "DFEW_FRAMES", "MAFW_FRAMES",
           "FERV39K_SCENES", "SUITE_DATASETS", "dataset_paths", "clean_folds"]

DFEW_FRAMES = DFEW_FRAMES_112
FERV39K_SCENES = ("Action", "Argue", "Business", "Conflict", "Contest", "Crime", "Crisis",
                  "DailyLife", "ElegantArt", "Experiment", "History", "Interview", "Liveshow",
                  "Medicine", "OfficialEvent", "ScholarReport", "School", "Social", "Speech",
                  "Talkshow", "Terror", "War")
_VERSION = 2
#: AffectNet codes 8, 9, 10 (none of the eight, uncertain, not a face) in generator terms.
_AFFECTNET_EXTRA = ("none", "uncertain", "nonface")


#: Clip folders of each layout (relative to the dataset folder; "" is the folder itself), whether
#: DFEW also gets its mp4 files, and a fixed DFEW clip length (its 16-frame folders).
_CLIP_FOLDERS = {
    "synthetic": dict(DFEW=DFEW_FRAMES_112, FERV39k="", MAFW=MAFW_FRAMES, videos=True,
                      dfew_frames=None),
    "release": dict(DFEW=DFEW_FRAMES_16F, FERV39k=FERV39K_FRAMES, MAFW=MAFW_FRAMES_224,
                    videos=False, dfew_frames=16),
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


def _labels(dataset: str, p: SuitePreset, sizes: tuple[int, ...],
            rng: np.random.Generator) -> list[str]:
    """Annotated labels of consecutive splits of ``sizes``, with the preset's class frequencies."""
    classes = canonical_names(dataset)
    if p.frequencies == "balanced" or dataset == "AffectNet":
        return _split_labels(classes, sizes, rng, p.stratified)
    labels = []
    for split, n in zip(("train", "test") if len(sizes) == 2 else ("all",), sizes):
        counts = split_counts(dataset, split, n)
        part = [c for c in classes for _ in range(counts[c])]
        rng.shuffle(part)
        labels += part
    return labels


def _noisy(dataset: str, p: SuitePreset, seed: int, annotated: list[str],
           sizes: tuple[int, ...]) -> tuple[list[str], list[str | None]]:
    """True labels, and the annotated label of each mislabelled sample (None elsewhere).

    Exactly ``round(label_noise * n)`` samples per split show a confusion of their annotated
    label, so the annotation files keep the planned class counts and every annotated class
    holds about the same share of wrong labels.
    """
    true, written = list(annotated), [None] * len(annotated)
    if not p.label_noise or dataset == "AffectNet":
        return true, written
    rng = np.random.default_rng([seed, SUITE_DATASETS.index(dataset), 10**6 + 2])
    classes, start = canonical_names(dataset), 0
    for n in sizes:
        for i in sorted(rng.choice(n, int(np.floor(p.label_noise * n + 0.5)), replace=False)):
            written[start + i] = annotated[start + i]
            true[start + i] = confuse(annotated[start + i], classes, rng)
        start += n
    return true, written


def _folds(labels: list[str], rng: np.random.Generator, k: int = FOLDS) -> list[int]:
    """Stratified fold (1..k) of each sample."""
    folds, position = [0] * len(labels), 0
    for cls in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(idx)
        for i in idx:  # one running count over all classes keeps the folds' sizes equal
            folds[i] = position % k + 1
            position += 1
    return folds


# ---------------------------------------------------------------- per-dataset plans

def _plan(dataset: str, p: SuitePreset, seed: int) -> list[Item]:
    rng = np.random.default_rng([seed, SUITE_DATASETS.index(dataset), 10**6])
    items = []
    image_blend, clip_blend = p.blend
    if dataset == "RAF-DB":
        n_train, n_test = p.rafdb
        labels, written = _noisy(dataset, p, seed, _labels(dataset, p, p.rafdb, rng), p.rafdb)
        for i, y in enumerate(labels):
            name = f"train_{i + 1:05d}" if i < n_train else f"test_{i - n_train + 1:04d}"
            items.append(Item(dataset, i, y, (f"RAF-DB/basic/{RAFDB_IMAGES}/{name}_aligned.jpg",),
                               p.rafdb_size, seed, blend=image_blend, written=written[i],
                               gain=p.gain, appearance=p.appearance))
    elif dataset == "AffectNet":
        n = sum(p.affectnet)
        labels = _labels(dataset, p, p.affectnet, rng)
        if p.stratified:  # one row of each of codes 8-10, at the end of the validation file
            labels += list(_AFFECTNET_EXTRA)
        else:
            for i in rng.choice(n, max(1, n // 25), replace=False):  # a few rows with codes 8-10
                labels[i] = _AFFECTNET_EXTRA[i % 3]
        for i, y in enumerate(labels):
            name = hashlib.sha1(f"{seed}-{i}".encode()).hexdigest()
            items.append(Item(dataset, i, y,
                               (f"AffectNet/{AFFECTNET_IMAGES}/{i // 1000 + 1}/{name}.jpg",),
                               p.affectnet_size, seed, blend=image_blend))
    else:
        sizes = {"DFEW": (p.dfew,), "FERV39k": p.ferv39k, "MAFW": (p.mafw,)}[dataset]
        labels, written = _noisy(dataset, p, seed, _labels(dataset, p, sizes, rng), sizes)
        if p.timing is not None and dataset == "DFEW":  # one annotator's label (training folds)
            written = [_annotated(dataset, p, seed, i, y) for i, y in enumerate(labels)]
        folders = _CLIP_FOLDERS[p.layout]
        frames = p.frames
        nuisances = p.nuisances if _records(p) else None
        counters: dict[tuple[str, str], int] = {}
        for i, y in enumerate(labels):
            if dataset == "FERV39k":  # the class folder is the annotated class, as in the release
                scene = str(rng.choice(FERV39K_SCENES))
                emotion = CLASSES["FERV39k"][canonical_names("FERV39k").index(written[i] or y)]
                counters[scene, emotion] = counters.get((scene, emotion), 0) + 1
                folder = "/".join(f for f in ("FERV39k", folders["FERV39k"], scene, emotion) if f)
                files = (f"{folder}/{counters[scene, emotion]:04d}/{LANDMARKS_FILE}",)
            elif dataset == "DFEW":
                files = ((f"DFEW/{DFEW_VIDEOS}/{i + 1:05d}.mp4",) if folders["videos"] else ()) + \
                        (f"DFEW/{folders['DFEW']}/{i + 1:05d}/{LANDMARKS_FILE}",)
                frames = (folders["dfew_frames"],) * 2 if folders["dfew_frames"] else p.frames
            else:
                files = (f"MAFW/{folders['MAFW']}/{i + 1:05d}/{LANDMARKS_FILE}",)
            items.append(Item(dataset, i, y, files, p.frame_size, seed, frames, blend=clip_blend,
                               written=written[i], talk=p.talk, nuisances=nuisances,
                               gain=p.gain, appearance=p.appearance, apex_share=p.apex_share,
                               timing=p.timing, emphatic=p.emphatic))
    return items


def clean_folds(items: list[Item], seed: int) -> list[int]:
    """DFEW fold (1..5) of each clip of a ``claims3`` world (``items`` in index order),
    stratified on the clean label: the same clips in every fold at every dose."""
    rng = np.random.default_rng([seed, SUITE_DATASETS.index("DFEW"), 10**6 + 1])
    return _folds([it.label for it in items], rng)


def _annotated(dataset: str, p: SuitePreset, seed: int, index: int, label: str) -> str | None:
    """The label one annotator gives clip ``index`` of a ``claims3`` world (None: ``label``)."""
    item = Item(dataset, index, label, (), p.frame_size, seed, p.frames, blend=p.blend[1],
                talk=p.talk, timing=p.timing, emphatic=p.emphatic)
    annotated = item_timeline(item).annotated
    return None if annotated == label else annotated


def _write_annotations(dataset: str, p: SuitePreset, seed: int, root: Path,
                       results: list[tuple[Item, dict]]) -> None:
    results = sorted(results, key=lambda r: r[0].index)
    rng = np.random.default_rng([seed, SUITE_DATASETS.index(dataset), 10**6 + 1])
    split: dict[int, str] = {}  # of each sample, for synthetic_labels.csv
    if dataset == "RAF-DB":
        names = canonical_names("RAF-DB")
        samples = [Path(it.files[0]).name.replace("_aligned", "") for it, _ in results]
        write_rafdb_labels(root / "RAF-DB" / "basic",
                           [(n, names.index(it.annotated)) for n, (it, _) in zip(samples, results)])
        split = {it.index: n.split("_")[0] for n, (it, _) in zip(samples, results)}
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
        samples = [r["path"] for r in rows]
        split = {it.index: "train" if it.index < n_train else "val" for it, _ in results}
    else:
        names = canonical_names(dataset)
        labels = [it.annotated for it, _ in results]
        if dataset == "FERV39k":
            samples = ["/".join(Path(it.files[0]).parts[-4:-1]) for it, _ in results]
            # planned split by split (stratified, real frequencies): train first
            order = (np.arange(len(samples)) if p.stratified or p.frequencies == "real"
                     else rng.permutation(len(samples)))
            n_train = p.ferv39k[0]
            write_ferv39k_annotations(root / "FERV39k", {
                "train": [(samples[i], names.index(labels[i])) for i in order[:n_train]],
                "test": [(samples[i], names.index(labels[i])) for i in order[n_train:]]})
            split = {int(i): "train" if k < n_train else "test" for k, i in enumerate(order)}
        else:
            samples = [f"{it.index + 1:05d}" for it, _ in results]
            ids = {n: names.index(y) for n, y in zip(samples, labels)}
            if p.timing is not None and dataset == "DFEW":  # folds of the clean labels, clean tests
                clean = {n: names.index(it.label) for n, (it, _) in zip(samples, results)}
                folds = dict(zip(ids, clean_folds([it for it, _ in results], seed)))
                write_dfew_splits(root / dataset, folds, ids, test_labels=clean)
            else:
                folds = dict(zip(ids, _folds(labels, rng)))
                writer = write_dfew_splits if dataset == "DFEW" else write_mafw_annotations
                writer(root / dataset, folds, ids)
            split = {it.index: str(folds[n]) for n, (it, _) in zip(samples, results)}
    if _records(p):
        write_synthetic_labels(root / dataset / SYNTHETIC_LABELS, [
            (n, split[it.index], it.label, it.annotated, meta.get("second") or "")
            for n, (it, meta) in zip(samples, results)])


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
            for item, meta in pool.imap_unordered(render_item, jobs, chunksize=4):
                results[item.dataset].append((item, meta))
                bar.update()
    else:
        for job in jobs:
            item, meta = render_item(job)
            results[item.dataset].append((item, meta))
            bar.update()
    bar.close()
    for ds in todo:
        _write_annotations(ds, p, seed, root, results[ds])
        (root / ds / ".synthetic.json").write_text(json.dumps(_stamp(p, seed, ds), indent=1))
        status[ds] = "built"
    return status
