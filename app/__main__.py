import sys

from fourier_masks.app.main import run_app

sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
