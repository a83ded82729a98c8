"""Entry script for frozen builds (PyInstaller); the installed command uses fourier_masks.app.launch:main."""

import sys

from fourier_masks.app.launch import main

if __name__ == "__main__":
    sys.exit(main())
