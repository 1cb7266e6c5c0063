"""s2d_course: the course's machinery around :mod:`s2d_lib`: the synthetic world, the cached
artifacts the notebooks share, the claims engine, the shipped weights, the sample videos, the
student edition and ``reproduce``. It imports the library; the library never imports it.
Repository paths live in :mod:`s2d_course.paths` alone."""
