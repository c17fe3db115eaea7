# BDD100k Diverse-Weather: train Daytime-sunny, val/test Night-rainy (paper Sec. IV-A).
# COCO JSON written by:
#   python tools/dataset_converters/bdd100k_weather.py \
#       data/bdd100k/labels/det_20/det_train.json data/bdd100k/labels/det_20/det_val.json \
#       --out-dir data/bdd100k/annotations --image-prefix train/ --image-prefix val/
# The evaluator is registered by procd_mm: the full config needs
# custom_imports = dict(imports=['procd_mm'], allow_failed_imports=False).
#
# To use the public VOC-XML release (<root>/<Set>/VOC2007/...) instead, set
#   data_root = 'data/diverse_weather/'
# and replace each dataloader's dataset by, e.g. for training,
#   dict(type='DiverseWeatherVOCDataset', data_root=data_root,
#        ann_file='daytime_clear/VOC2007/ImageSets/Main/train.txt',
#        data_prefix=dict(sub_data_root='daytime_clear/VOC2007/'),
#        filter_cfg=dict(filter_empty_gt=True, min_size=32),
#        pipeline=train_pipeline)
# and for val/test 'night_rainy/VOC2007/ImageSets/Main/test.txt' with
# sub_data_root='night_rainy/VOC2007/' and test_mode=True; the evaluators then
# drop ann_file (ground truth comes from the dataset), which needs 'instances'
# added to PackDetInputs' meta_keys in test_pipeline.
dataset_type = 'CocoDataset'
data_root = 'data/bdd100k/'
classes = ('bus', 'bike', 'car', 'motor', 'person', 'rider', 'truck')
metainfo = dict(classes=classes)
image_scale = (1280, 720)
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/daytime_sunny.json',
        data_prefix=dict(img='images/100k/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/night_rainy.json',
        data_prefix=dict(img='images/100k/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='PerClassAP50Metric',
    ann_file=data_root + 'annotations/night_rainy.json',
    metric='bbox',
    backend_args=backend_args)
test_evaluator = val_evaluator
