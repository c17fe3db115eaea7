"""procd_mm.engine: registered components (imported for registration)."""
from .model_wrappers import CPUDistributedDataParallel  # noqa: F401
