"""s2d_course: the course's machinery around :mod:`s2d_lib`: the synthetic world, the cached
artifacts the notebooks share, the claims engine, the shipped weights, the sample videos, the
student edition and ``reproduce``. It imports the library; the library never imports it.
Repository paths live in :mod:`s2d_course.paths` and the tiny presets that name the course's files
(:mod:`s2d_course.presets`, registered with :mod:`s2d_lib.config` on import)."""
from . import presets  # noqa: F401  (registers static_tiny, temporal_tiny, dfer_tiny)
