"""procd_mm.models: ProC-KD modules, losses and the distillation algorithm."""
