# The paper's detection schedule (Sec. IV-A): SGD, lr 0.01, momentum 0.9, weight decay 1e-4,
# 36 epochs, 2 images per GPU on 8 GPUs (batch 16), linear warm-up, lr x0.1 at epochs 27 and 33
# (the 3x step schedule). auto_scale_lr scales the lr linearly with the total batch when
# training is launched with --auto-scale-lr on another number of GPUs.
max_epochs = 36
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

auto_scale_lr = dict(enable=False, base_batch_size=16)
