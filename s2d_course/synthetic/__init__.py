"""Synthetic expressive faces and clips, written in the real datasets' layouts.

``python -m s2d_course.synthetic --out data/synthetic --preset tiny --seed 0`` builds the
suite (see :mod:`.suite` for the layout); :mod:`.face` is the parametric face, :mod:`.render`
draws it, :mod:`.clips` animates it, :mod:`.writers` writes the files, :mod:`.frequencies`
holds the real datasets' class frequencies, :mod:`.nuisances` the per-frame nuisances of the
``claims`` world, :mod:`.calibration` measures how hard the suite is, :mod:`.preview` draws
the figures.
"""
from .suite import PRESETS, SuitePreset, build_suite, dataset_paths

__all__ = ["PRESETS", "SuitePreset", "build_suite", "dataset_paths"]
