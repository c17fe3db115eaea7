"""The error type of bad user input, shared by the models, the engine and the tools."""


class InputError(ValueError):
    """A user input (config, data root, checkpoint, option) that cannot be used.

    The tools print it as one line, ``error: <message>``, and exit non-zero.
    """
