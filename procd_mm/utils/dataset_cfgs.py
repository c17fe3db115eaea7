"""Dataset configs below mmengine's dataset wrappers, for every layer that reads them."""
from typing import Iterator


def config_classes(cfg, loader: str):
    """The classes a loader of ``cfg`` names (``metainfo.classes`` of its first leaf dataset),
    or ``None``."""
    dataset = (cfg.get(loader) or {}).get('dataset')
    leaf = next(leaf_dataset_cfgs(dataset), None) if dataset else None
    return ((leaf or {}).get('metainfo') or {}).get('classes')


def leaf_dataset_cfgs(dataset_cfg) -> Iterator[dict]:
    """Every leaf dataset config below dataset wrappers (``dataset=``, ``datasets=[...]``)."""
    if dataset_cfg is None:
        return
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from leaf_dataset_cfgs(sub)
    elif 'dataset' in dataset_cfg:
        yield from leaf_dataset_cfgs(dataset_cfg['dataset'])
    else:
        yield dataset_cfg
