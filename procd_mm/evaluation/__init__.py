"""procd_mm.evaluation: registered components (imported for registration)."""
from .per_class_ap50_metric import PerClassAP50Metric  # noqa: F401
