"""``python -m biosnn.cli``: the same as the ``biosnn`` command."""

import sys

from biosnn.cli import main

sys.exit(main())
