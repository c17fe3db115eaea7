"""Shared helpers below every layer of the package."""
from .errors import InputError

__all__ = ['InputError']
