from .procd import ProCKD

__all__ = ['ProCKD']
