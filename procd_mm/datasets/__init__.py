"""procd_mm.datasets: registered components (imported for registration)."""
