"""procd_mm.models: ProC-KD modules, losses and the distillation algorithm."""
from .algorithms import ProCKD  # noqa: F401
from .feature_augmentation import FeatureAugmentation  # noqa: F401
from .losses import CWDEmbeddingLoss, FBODEmbeddingLoss, SwinFBKDEmbeddingLoss  # noqa: F401
from .prototype_learning import PrototypeLearning  # noqa: F401
