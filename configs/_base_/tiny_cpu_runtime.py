# Runtime and schedule of the tiny synthetic configs: the project runtime with 150 AdamW
# iterations, one evaluation at the end, gloo for CPU process groups, a fixed seed.
_base_ = './default_runtime.py'

max_iters = 150
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    # at the 95th percentile of the student alone's gradient norms (python -m demo.pilot,
    # docs/demo.md): clipping catches outlier steps and leaves the others as they are
    clip_grad=dict(max_norm=20.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2),
    visualization=dict(type='DetVisualizationHook'))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
