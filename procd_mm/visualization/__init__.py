"""Pictures of the method: prototype assignment maps."""
from .prototype_maps import load_procd, prototype_maps, visualize

__all__ = ['load_procd', 'prototype_maps', 'visualize']
