"""procd_mm.engine: registered components (imported for registration)."""

