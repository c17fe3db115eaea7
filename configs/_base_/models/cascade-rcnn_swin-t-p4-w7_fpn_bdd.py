# The Swin-T student for the BDD100k weather splits: the 7 BDD classes and no mask branch
# (the Diverse-Weather annotations are boxes only, so a mask head could not be trained).
_base_ = './cascade-mask-rcnn_swin-t-p4-w7_fpn.py'

num_classes = 7
model = dict(
    roi_head=dict(
        bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
        mask_roi_extractor=None,
        mask_head=None),
    data_preprocessor=dict(pad_mask=False))
