"""``python -m s2d_course.synthetic --out data/synthetic [--preset tiny|small|claims] [--seed N]
[--datasets RAF-DB DFEW]``."""
from __future__ import annotations

import argparse
import time

from .suite import PRESETS, SUITE_DATASETS, build_suite


def main(argv: list[str] | None = None) -> None:
    """Build (or reuse) the synthetic suite and print what was done and how long it took."""
    parser = argparse.ArgumentParser(prog="python -m s2d_course.synthetic", description=__doc__)
    parser.add_argument("--out", default="data/synthetic", help="output folder")
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--datasets", nargs="+", default=list(SUITE_DATASETS),
                        choices=SUITE_DATASETS, help="build only these (default: all five)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    status = build_suite(args.out, args.preset, args.seed, args.workers, tuple(args.datasets))
    print(", ".join(f"{k}: {v}" for k, v in status.items()),
          f"-> {args.out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
