# mmdet's runtime plus this project's reliability hooks; every config of the project inherits it
# instead of mmdet::_base_/default_runtime.py (docs/reliability.md):
# - AtomicCheckpointHook: checkpoints written to a temporary file and renamed, so a checkpoint
#   on disk is always whole; SIGINT during a save is held until the save is done;
# - RNGStateHook: torch / CUDA / numpy / python RNG states and the data position saved in every
#   checkpoint and restored on resume, so a resumed run repeats the uninterrupted one exactly.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['procd_mm'], allow_failed_imports=False)
# keeps the best checkpoint by the paper's detection metric, AP50 (the COCO rows use AP)
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', save_best='coco/bbox_mAP_50', rule='greater'))
custom_hooks = [dict(type='RNGStateHook')]
