"""Digests of seeded results, to show that a refactor or a speed change keeps them bit-identical.

``python -m benchmarks.digests [--out FILE]`` builds the ``mini`` synthetic suite (seed 0) in a
temporary folder and prints one SHA-256 per result: the suite's files, a short static run and a
short DFER run (EASDL on) trained from it, and the logits of the shipped DFER model on DFEW test
clips. Run it before and after a change on the same machine and thread count; equal digests
mean equal bits. (On another CPU type every trained digest differs: that is rounding, not the
change.)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch


def tensors_digest(tensors: dict) -> str:
    """SHA-256 over the named tensors' values (as float32), in name order."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def digests(precision: str = "fp32") -> dict:
    """The digests, on one thread (the thread count is part of the float path), the runs
    computing in ``precision`` (``s2d_lib.precision``; float32 by default, as before the setting)."""
    from s2d_course import artifacts
    from s2d_lib.checkpoints import load_checkpoint, read_state_dict
    from s2d_lib.config import load_config
    from s2d_course.synthetic import build_suite
    from s2d_lib.splits import build_split
    from s2d_lib.train import train

    torch.set_num_threads(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite"
        build_suite(suite, "mini", seed=0, workers=1, progress=False)
        out["mini suite files"] = _folder_digest(suite)
        common = ["epochs=2", "steps_per_epoch=3", "progress=false", f"cache_dir={tmp}/cache",
                  "val_fraction=0.45", "batch_size=8",  # (the mini suite: a validation item per class)
                  f"precision={precision}",
                  f"landmark_weights={artifacts.landmark_weights()}"]
        static = load_config("static_tiny", common + [f"data_root={suite}/RAF-DB", f"out_dir={tmp}/static"])
        train(static)
        out["static run (2 x 3 steps)"] = tensors_digest(read_state_dict(static.run_dir / "best.safetensors")[0])
        dfer = load_config("dfer_tiny", common + [f"data_root={suite}/DFEW", f"out_dir={tmp}/dfer",
                                                  f"init={static.run_dir / 'best.safetensors'}",
                                                  "easdl_queue=2", "easdl_start_epoch=0", "batch_size=8"])
        train(dfer)
        out["DFER run with EASDL (2 x 3 steps)"] = tensors_digest(
            read_state_dict(dfer.run_dir / "last.safetensors")[0])
        model = load_checkpoint(artifacts.video_run() / "best.safetensors").eval()
        test = build_split(load_config("dfer_tiny", [f"data_root={suite}/DFEW"]), "test")
        clips = torch.stack([test[i][0][0] for i in range(4)])
        with torch.no_grad():
            logits = model(clips)
        out["shipped DFER logits, 4 clips"] = tensors_digest({"logits": logits})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="also write the digests to this JSON file")
    parser.add_argument("--precision", default="fp32", help="precision of the runs (fp32, bf16, auto)")
    args = parser.parse_args(argv)
    result = digests(args.precision)
    for name, value in result.items():
        print(f"{value[:16]}  {name}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
