"""procd_mm.datasets: registered components (imported for registration)."""
from .diverse_weather_voc import DiverseWeatherVOCDataset  # noqa: F401
from .foggy_cityscapes import FoggyCityscapesDataset  # noqa: F401
