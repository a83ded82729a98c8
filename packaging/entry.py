"""Entry script for frozen builds (PyInstaller); the installed command uses app.launch:main."""

import sys

from app.launch import main

if __name__ == "__main__":
    sys.exit(main())
