"""procd_mm.evaluation: registered components (imported for registration)."""
