"""Speed, memory and FLOPs of S2D on the current machine, against the machine's own matmul limit.

``python -m benchmarks`` (``make bench``) measures everything in one run and writes
``benchmarks/RESULTS.md``; ``python -m benchmarks --quick`` is the one-repeat, tiny-only smoke run.
"""
