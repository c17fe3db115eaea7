"""procd_mm.models: ProC-KD modules, losses and the distillation algorithm."""
from .algorithms import ProCKD  # noqa: F401
from .feature_augmentation import FeatureAugmentation  # noqa: F401
from .losses import (  # noqa: F401
    ConfigurableEmbeddingLoss,
    CWDEmbeddingLoss,
    FBODEmbeddingLoss,
    SwinFBKDEmbeddingLoss,
)
from .prototype_learning import PrototypeLearning  # noqa: F401
