"""Linear probe of frozen P5 features: does a detector carry knowledge of the student's
classes that the student could use?

For a model (the trained teacher, a randomly initialised teacher of the same architecture,
the student trained alone), the neck output of stride 32 (P5: the level ProC-KD's prototype
path replaces, paper Sec. III; index 3 of a Cascade R-CNN's FPN, 2 of RTMDet's) is
RoI-aligned on the ground-truth boxes of the target train split; a multinomial logistic
regression on those frozen features learns the student's classes and is scored on the
target val split's boxes.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .files import read_json

#: RoI-align output per box (``s x s`` bins of P5; 1: the box's average feature, which
#: keeps less of the colour layout a random network passes through) and the stride read.
PROBE_BINS = 1
PROBE_STRIDE = 32


def load_detector(config: str, checkpoint: Optional[str], seed: int = 0):
    """A detector of ``config`` in eval mode: ``checkpoint``'s weights, or (``None``) its
    random initialisation with ``seed``."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint, set_random_seed
    init_default_scope('mmdet')
    set_random_seed(seed)  # layers are initialised when built, and again by init_weights
    model = MODELS.build(Config.fromfile(config).model)
    if checkpoint is None:
        model.init_weights()
    else:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    return model.eval()


def ground_truth_boxes(ann_file: str, classes: Sequence[str]) -> List[Tuple[str, list, list]]:
    """``(file name, xyxy boxes, class indices)`` per image, for the boxes of ``classes``."""
    coco = read_json(ann_file)
    names = {c['id']: c['name'] for c in coco['categories']}
    per_image = {im['id']: (im['file_name'], [], []) for im in coco['images']}
    for a in coco['annotations']:
        name = names[a['category_id']]
        if name in classes and not a.get('iscrowd', 0):
            x, y, w, h = a['bbox']
            per_image[a['image_id']][1].append([x, y, x + w, y + h])
            per_image[a['image_id']][2].append(classes.index(name))
    return [v for v in per_image.values() if v[1]]


def roi_features(model, img_dir: str, images) -> Tuple[np.ndarray, np.ndarray]:
    """Frozen P5 features of every box (``[N, C * bins²]``) and their labels (``[N]``)."""
    import mmcv
    import torch
    from mmcv.ops import roi_align

    from procd_mm.models.algorithms.pyramid_levels import pyramid_levels
    feats, labels = [], []
    level = [stride for stride, _ in pyramid_levels(model)].index(PROBE_STRIDE)
    with torch.no_grad():
        for file_name, boxes, cls in images:
            img = mmcv.imread(f'{img_dir}/{file_name}')  # BGR, as LoadImageFromFile
            batch = model.data_preprocessor(
                dict(inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous()]), False)
            p5 = model.extract_feat(batch['inputs'])[level]
            rois = torch.cat([torch.zeros(len(boxes), 1), torch.tensor(boxes).float()], dim=1)
            f = roi_align(p5, rois, (PROBE_BINS, PROBE_BINS), 1.0 / PROBE_STRIDE, 2, 'avg', True)
            feats.append(f.flatten(1).numpy())
            labels += cls
    return np.concatenate(feats), np.asarray(labels)


def logistic_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                   y_val: np.ndarray, num_classes: int, weight_decay: float = 1e-3,
                   steps: int = 300) -> Dict[str, float]:
    """Multinomial logistic regression (L2-regularised, standardised features, L-BFGS);
    accuracy and class-balanced accuracy on the val boxes, in percent."""
    import torch
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    xt = torch.from_numpy((x_train - mean) / std).double()
    xv = torch.from_numpy((x_val - mean) / std).double()
    yt = torch.from_numpy(y_train).long()
    w = torch.zeros(xt.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + weight_decay * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = (xv @ w + b).argmax(1).numpy()
    per_class = [float((pred[y_val == c] == c).mean()) for c in range(num_classes)
                 if (y_val == c).any()]
    return dict(accuracy=100.0 * float((pred == y_val).mean()),
                balanced_accuracy=100.0 * float(np.mean(per_class)),
                train_boxes=int(len(y_train)), val_boxes=int(len(y_val)))


def probe(config: str, checkpoint: Optional[str], target_root: str,
          classes: Sequence[str]) -> Dict[str, float]:
    """The probe of one model on the target tree (train boxes to fit, val boxes to score)."""
    model = load_detector(config, checkpoint)
    xy = {}
    for split in ('train', 'val'):
        images = ground_truth_boxes(
            f'{target_root}annotations/instancesonly_filtered_gtFine_{split}.json', classes)
        xy[split] = roi_features(model, f'{target_root}leftImg8bit/{split}', images)
    return logistic_probe(*xy['train'], *xy['val'], num_classes=len(classes))
