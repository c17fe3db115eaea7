"""procd_mm.engine: registered components (imported for registration)."""
from .hooks import AtomicCheckpointHook, RNGStateHook  # noqa: F401
from .model_wrappers import CPUDistributedDataParallel  # noqa: F401
