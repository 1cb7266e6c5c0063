"""``python -m s2d_lib.predict``: see :mod:`s2d_lib.predict`."""
from .cli import main

main()
