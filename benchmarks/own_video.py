"""``python -m benchmarks.own_video [--seconds 2 10] [--out benchmarks/RESULTS.md]``: one's own video.

Runs the predictor as a new user runs it (``python -m s2d_lib.predict VIDEO --checkpoint`` the
shipped DFER run, every output written) on clips made here from the real sample close-up
(``s2d_course.samples``; a drawn face when the sample cannot be fetched), scaled to a phone's
4K (3840 x 2160) and to 640 x 360 and cut to the lengths asked for. Each run is a fresh
process; its peak memory is the child's ``ru_maxrss``. The target: peak memory at 4K does not
grow with the length (the longest clip within 1.2 x the shortest). The section "Own video" of
``--out`` is replaced (or appended).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from s2d_course.paths import REPO

from .inference import write_section
from .machine import describe

SECTION = "## Own video"
CHECKPOINT = REPO / "trained" / "dfer_tiny_DFEW" / "best.safetensors"
SIZES = {"4K": (3840, 2160), "640 x 360": (640, 360)}
#: Largest ratio of the longest clip's peak memory to the shortest's at 4K.
MEMORY_GROWTH_LIMIT = 1.2


def _source_frames(seconds: float, fps: float = 25.0):
    """Frames of the sample close-up (looped when the clip is longer), else a drawn face."""
    from s2d_course.samples import sample_video
    path = sample_video()
    count = int(round(seconds * fps))
    if path is not None:
        with av.open(str(path)) as container:
            frames = [f.to_image() for _, f in zip(range(count), container.decode(video=0))]
        return [frames[i % len(frames)] for i in range(count)], path.name
    from s2d_course.synthetic.render import render_face, sample_scene
    from s2d_course.synthetic.face import Pose, sample_identity
    from s2d_course.synthetic.clips import plan_clip
    rng = np.random.default_rng(0)
    idn, scene = sample_identity(rng), sample_scene(rng, 360, occlusion=0, blur=0)
    plan = plan_clip(rng, "happiness", count, Pose())
    return [render_face(idn, plan.aus(t), plan.poses[t], scene, 360, float(plan.talk[t]))[0]
            for t in range(count)], "a drawn face"


def make_clip(path: Path, seconds: float, size: tuple[int, int], fps: int = 25) -> str:
    """Write ``seconds`` of the source at ``size`` (H.264, PyAV) to ``path``; the source's name."""
    frames, source = _source_frames(seconds, fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for image in frames:
            frame = av.VideoFrame.from_image(image.convert("RGB").resize(size, Image.BILINEAR))
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return source


def run_predictor(video: Path, out: Path) -> dict:
    """The command line on ``video`` in a fresh process: wall seconds, its peak memory (MiB, its
    own ``ru_maxrss``) and the summary line it prints."""
    code = ("import resource, sys; from s2d_lib.predict import main; "
            f"main([{str(video)!r}, '--checkpoint', {str(CHECKPOINT)!r}, '--out', {str(out)!r}, "
            "'--overwrite', '--no-progress']); "
            "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    last = (done.stderr.strip().splitlines() or ["?"])[-1]
    if done.returncode != 0 or not last.startswith("peak "):
        return {"error": last}
    return {"seconds": seconds, "peak_mib": int(last.split()[1]) / 1024,
            "summary": done.stdout.strip().splitlines()[1]}


def render(rows: list[dict], runtime: float, info: dict, shared: bool, source: str) -> str:
    """The section: what ran, one row per clip, the memory target's verdict."""
    lines = [SECTION, "",
             f"`python -m benchmarks.own_video` ran in {runtime:.0f} s on {info['CPU']} "
             f"({info['torch']}; load average at start {info['load average at start']}"
             f"{': the machine was shared, times are upper bounds' if shared else ''}). "
             f"`python -m s2d_lib.predict CLIP --checkpoint trained/dfer_tiny_DFEW/best.safetensors` "
             f"(every output written) on clips of {source} scaled to each size, H.264 at 25 fps; "
             "each run in a fresh process, peak memory = its `ru_maxrss`.", "",
             "| clip | frames | wall s | video-s / s | peak memory MiB |", "|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['frames']} | failed: {r['error']} | | |")
            continue
        lines.append(f"| {r['name']} | {r['frames']} | {r['seconds']:.1f} | "
                     f"{r['video_seconds'] / r['seconds']:.2f} | {r['peak_mib']:,.0f} |")
    k4 = [r for r in rows if r["size"] == "4K" and "peak_mib" in r]
    if len(k4) >= 2:
        short, long = min(k4, key=lambda r: r["video_seconds"]), max(k4, key=lambda r: r["video_seconds"])
        ratio = long["peak_mib"] / short["peak_mib"]
        lines += ["", f"Peak memory at 4K: {long['name']} / {short['name']} = {ratio:.2f}× "
                  f"(target ≤ {MEMORY_GROWTH_LIMIT}×: "
                  f"{'met' if ratio <= MEMORY_GROWTH_LIMIT else 'missed'})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    """Make the clips, run the predictor on each, write the section into ``--out``, print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.own_video",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    shared = os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
    info = describe()
    rows, source = [], ""
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for seconds in args.seconds:
                name = f"{seconds:g} s at {size}"
                print(f"[own video] {name} ...", file=sys.stderr, flush=True)
                clip = Path(tmp) / f"{size.replace(' ', '')}_{seconds:g}s.mp4"
                source = make_clip(clip, seconds, SIZES[size])
                result = run_predictor(clip, Path(tmp) / "out")
                rows.append({"name": name, "size": size, "video_seconds": seconds,
                             "frames": int(round(seconds * 25)), **result})
                clip.unlink()
    section = render(rows, time.perf_counter() - start, info, shared, source)
    write_section(args.out, section, SECTION)
    print(section)
    return section


if __name__ == "__main__":
    main()
