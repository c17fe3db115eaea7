"""procd_mm.engine: registered components (imported for registration)."""
from .amp import CPUAutocastOptimWrapper  # noqa: F401
