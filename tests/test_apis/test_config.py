"""procd_mm/apis/config.py: the dataset wrappers unwrapped by one rule."""
from procd_mm.apis import leaf_dataset_cfgs


def test_leaf_datasets_below_wrappers():
    a, b, c = dict(type='A'), dict(type='B'), dict(type='C')
    wrapped = dict(type='ConcatDataset', datasets=[dict(type='RepeatDataset', dataset=a), b,
                                                    dict(type='ClassBalancedDataset',
                                                         dataset=dict(type='X', dataset=c))])
    assert list(leaf_dataset_cfgs(wrapped)) == [a, b, c]
    assert list(leaf_dataset_cfgs(a)) == [a]
    assert list(leaf_dataset_cfgs(None)) == []
