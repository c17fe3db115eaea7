"""What every layer may import: the error type of bad input, checkpoint I/O and ``--amp``
(:mod:`.amp`). It imports nothing else of the package."""
from .errors import InputError

__all__ = ['InputError']
