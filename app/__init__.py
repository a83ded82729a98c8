"""The Fourier Masks desktop application (PySide6 + pyqtgraph) over :mod:`core`."""
