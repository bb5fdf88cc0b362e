"""``python -m edge_rl``: see :mod:`edge_rl.cli`."""

import sys

from edge_rl.cli import main

sys.exit(main())
