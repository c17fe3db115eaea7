"""procd_mm.datasets: registered components (imported for registration)."""
from . import cityscapes_to_coco, fog_synthesis, synthetic_cityscapes  # noqa: F401
from .diverse_weather_voc import DiverseWeatherVOCDataset  # noqa: F401
from .foggy_cityscapes import FoggyCityscapesDataset  # noqa: F401
