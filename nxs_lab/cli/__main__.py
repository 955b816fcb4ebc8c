"""``python -m nxs_lab.cli``: the same as the ``nxs-lab`` command."""

import sys

from . import main

sys.exit(main())
