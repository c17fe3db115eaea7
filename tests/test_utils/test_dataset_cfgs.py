"""procd_mm/utils/dataset_cfgs.py: dataset wrappers unwrapped by one rule, the classes read."""
from mmengine.config import Config

from procd_mm.utils.dataset_cfgs import config_classes, leaf_dataset_cfgs


def test_leaf_datasets_below_wrappers():
    a, b, c = dict(type='A'), dict(type='B'), dict(type='C')
    wrapped = dict(type='ConcatDataset', datasets=[dict(type='RepeatDataset', dataset=a), b,
                                                    dict(type='ClassBalancedDataset',
                                                         dataset=dict(type='X', dataset=c))])
    assert list(leaf_dataset_cfgs(wrapped)) == [a, b, c]
    assert list(leaf_dataset_cfgs(a)) == [a]
    assert list(leaf_dataset_cfgs(None)) == []


def test_config_classes_of_a_wrapped_loader():
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', dataset=dict(type='A', metainfo=dict(classes=('x', 'y')))))))
    assert config_classes(cfg, 'train_dataloader') == ('x', 'y')
    assert config_classes(cfg, 'val_dataloader') is None
