"""Model wrapper for distributed runs without CUDA."""
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from procd_mm.models.layers import CPUSyncBatchNorm


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's ``MMDistributedDataParallel`` for CPU (gloo) process groups.

    Its SyncBN layers become :class:`CPUSyncBatchNorm` (statistics all-reduced over
    gloo) before the module is wrapped; DDP gets no ``device_ids``.
    """

    def __init__(self, module, **kwargs):
        converted = CPUSyncBatchNorm.convert(module)
        if converted:
            print_log(f'{converted} SyncBatchNorm layers run as CPUSyncBatchNorm '
                      '(statistics all-reduced over the CPU process group)', logger='current')
        kwargs['device_ids'] = None
        super().__init__(module=module, **kwargs)
