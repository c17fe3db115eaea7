"""Checkpoint converters from public model-zoo layouts to this project's configs."""
from .swin_official import ConversionReport, convert_swin_official

__all__ = ['ConversionReport', 'convert_swin_official']
