"""Shared helpers: the error type of bad input, checkpoint I/O, and the checks the tools run
before mmengine takes over (:mod:`.launch`, :mod:`.amp`)."""
from .errors import InputError

__all__ = ['InputError']
