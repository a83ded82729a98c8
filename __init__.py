"""Fourier Masks: learn which input frequencies a trained image classifier needs.

``fourier_masks.core`` is the headless engine (scripts, notebooks, servers; it never imports
Qt), ``fourier_masks.app`` the desktop application over it, and ``fourier_masks.resources``
the icons they ship. ``python -m fourier_masks`` is the ``fourier-masks`` command.

The repository's top level is this package: ``core/``, ``app/`` and ``resources/`` are its
sub-packages (``package-dir`` in ``pyproject.toml``), so nothing is installed under a generic
top-level name and a research folder with its own ``core/`` cannot shadow the engine.
"""

__version__ = "0.1.0"
