"""The error type of bad user input (re-exported by :mod:`procd_mm.engine.launch`)."""


class InputError(Exception):
    """A user input (config, data root, checkpoint, option) that cannot be used.

    The tools print it as one line, ``error: <message>``, and exit non-zero.
    """
