"""``python -m fourier_masks``: the ``fourier-masks`` command (the app, or a subcommand)."""

import sys

from .app.launch import main

sys.exit(main())
