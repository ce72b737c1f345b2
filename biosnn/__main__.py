"""``python -m biosnn``: the same as the ``biosnn`` command (see :mod:`biosnn.cli`)."""

import sys

from biosnn.cli import main

sys.exit(main())
