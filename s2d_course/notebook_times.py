"""How long each notebook took in ``make reproduce``, so that a notebook's header prints its own
measured run time instead of a typed one that the next machine contradicts.

``results/notebook_times.json`` maps each notebook's file name to one entry: the seconds the whole
notebook took, the profile and ``S2D_TRAIN`` it ran with, the date, and the machine's float path
(:func:`s2d_course.float_path.describe`: CPU, PyTorch, kernels, threads). ``make reproduce``
rewrites the entry of each notebook it runs and leaves the others as they are. Each notebook's
second code cell, tagged :data:`TIMING_TAG`, prints :func:`run_time` of its own file name.
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from .paths import RESULTS, relative

__all__ = ["TIMES", "TIMING_TAG", "README_MARK", "record_time", "run_time", "readme_times",
           "write_readme_times"]

#: The file ``make reproduce`` writes and the notebooks read.
TIMES = RESULTS / "notebook_times.json"
#: The tag of the cell that prints a notebook's :func:`run_time`.
TIMING_TAG = "run-time"
#: The two marks around the README's table of run times (:func:`write_readme_times`).
README_MARK = "<!-- notebook-times -->"


def _read(path: Path) -> dict:
    """The entries in ``path``; none when it is missing. A file that is not a JSON object of
    entries is an error that names it."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ValueError(f"{relative(path)}: not a JSON file of notebook times ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{relative(path)}: expected a JSON object of notebook times, "
                         f"got {type(data).__name__}")
    return data


def record_time(name: str, seconds: float, machine: dict, profile: str, train: bool = False,
                path: str | os.PathLike = TIMES, date: datetime.date | None = None) -> dict:
    """Set the entry of notebook ``name`` in ``path`` (the other entries stay); return it."""
    path = Path(path)
    times = _read(path)
    entry = {"seconds": round(seconds, 1), "profile": profile, "train": train,
             "date": (date or datetime.date.today()).isoformat(), "machine": machine}
    times[name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")
    return entry


def run_time(name: str, path: str | os.PathLike = TIMES) -> str:
    """One sentence: how long ``make reproduce`` took for notebook ``name``, on which machine.
    Says what is missing instead of raising when the file or the entry is absent or unreadable."""
    path = Path(path)
    try:
        entry = _read(path).get(name)
    except ValueError as err:
        return f"No measured run time: {err}."
    if not entry:
        return (f"No measured run time for {name} yet: make reproduce records one in "
                f"results/{path.name}.")
    try:
        machine = entry["machine"]
        seconds = float(entry["seconds"])
        settings = f"{entry['profile']} profile" + (", S2D_TRAIN=1" if entry.get("train") else "")
        return (f"Measured run time: {seconds:.0f} s for the whole notebook (make reproduce, "
                f"{settings}, {machine['threads']} threads on {machine['cpu']}, "
                f"PyTorch {machine['torch']}, {entry['date']}).")
    except (KeyError, TypeError, ValueError) as err:
        return f"No measured run time: the entry of {name} in results/{path.name} lacks {err}."


def readme_times(path: str | os.PathLike = TIMES) -> str:
    """The README's table of the notebooks' measured run times, each with the machine it ran on,
    and the total, from ``path``."""
    times = _read(Path(path))
    if not times:
        return f"No measured run times yet: `make reproduce` records them in results/{Path(path).name}."
    rows = ["| notebook | run time | profile | machine | date |", "|---|---|---|---|---|"]
    for name, entry in times.items():
        machine = entry["machine"]
        settings = entry["profile"] + (", `S2D_TRAIN=1`" if entry.get("train") else "")
        rows.append(f"| `{name.removesuffix('.ipynb')}` | {float(entry['seconds']):.0f} s | {settings} | "
                    f"{machine['cpu']}, {machine['threads']} threads, PyTorch {machine['torch']} | "
                    f"{entry['date']} |")
    total = sum(float(entry["seconds"]) for entry in times.values())
    rows.append(f"\nAll {len(times)} notebooks: {total:.0f} s (`results/{Path(path).name}`, written by "
                "`make reproduce` on the machine it runs on).")
    return "\n".join(rows)


def write_readme_times(readme: str | os.PathLike, path: str | os.PathLike = TIMES) -> None:
    """Put :func:`readme_times` between the two :data:`README_MARK` marks of ``readme``."""
    readme = Path(readme)
    parts = readme.read_text().split(README_MARK)
    if len(parts) != 3:
        raise ValueError(f"{relative(readme)}: needs exactly two {README_MARK} marks around the run-time table")
    readme.write_text(f"{parts[0]}{README_MARK}\n{readme_times(path)}\n{README_MARK}{parts[2]}")
