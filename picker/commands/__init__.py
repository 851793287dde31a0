"""The ``picker`` subcommands, one module each: ``add_parser(subparsers)`` and the handler.

:func:`picker.cli.build_parser` gathers them; what they share (exit codes, :class:`FailureLog`,
the reader options) lives in :mod:`picker.cli`. Keep heavy imports inside the handlers.
"""
