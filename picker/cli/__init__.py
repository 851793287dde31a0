"""The ``picker`` command: :func:`main` runs it in-process (``picker.cli:main`` is the console
script; ``python -m picker.cli`` runs it too)."""

from picker.cli.program import main

__all__ = ["main"]
