"""``python -m synthesis perturb|donors ...``: see :mod:`cli.synthesis`."""
import sys

from cli.synthesis import main

sys.exit(main())
