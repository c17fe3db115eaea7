"""Per-class AP50 tables laid out like the paper's Tables II-IV.

The input is a metrics dict as returned by :class:`PerClassAP50Metric` (or by
``runner.test()``, whose keys carry an evaluator prefix such as ``coco/``):
``bbox_AP50_<class>`` per class, in column order, and ``bbox_mAP50_paper``.
Values are fractions in [0, 1]; tables show percent with one decimal.
"""
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Tuple

import mmengine

AP50_PREFIX = 'bbox_AP50_'
MEAN_KEY = 'bbox_mAP50_paper'
TABLE_NAME = 'per_class_ap50'


def paper_row(results: Dict[str, float]) -> Tuple[List[Tuple[str, float]], float]:
    """Return ``([(class, AP50), ...], mAP50)`` found in ``results``."""
    per_class, mean = [], None
    for key, value in results.items():
        name = key.rsplit('/', 1)[-1]
        if name == MEAN_KEY:
            mean = float(value)
        elif name.startswith(AP50_PREFIX):
            per_class.append((name[len(AP50_PREFIX):], float(value)))
    if not per_class or mean is None:
        raise KeyError(f'results need "{AP50_PREFIX}<class>" and "{MEAN_KEY}" keys, '
                       f'got {sorted(results)}')
    return per_class, mean


def _percent(value: float) -> str:
    return '-' if math.isnan(value) else f'{100 * value:.1f}'


def format_markdown(results: Dict[str, float], method: Optional[str] = None) -> str:
    """One Markdown row: class names as columns, then mAP (percent, one decimal).

    ``method`` adds a leading "Method" column, as in the paper's tables.
    """
    per_class, mean = paper_row(results)
    header = [name for name, _ in per_class] + ['mAP']
    values = [_percent(ap) for _, ap in per_class] + [_percent(mean)]
    if method is not None:
        header, values = ['Method'] + header, [method] + values
    lines = [header, ['---'] * len(header), values]
    return '\n'.join('| ' + ' | '.join(cells) + ' |' for cells in lines) + '\n'


def _json_percent(value: float) -> Optional[float]:
    return None if math.isnan(value) else 100 * value


def to_json(results: Dict[str, float]) -> dict:
    """The table as a JSON-able dict: percent, unrounded; ``null`` for no GT."""
    per_class, mean = paper_row(results)
    return dict(metric='AP50 (%)',
                classes={name: _json_percent(ap) for name, ap in per_class},
                mAP=_json_percent(mean))


def write_tables(results: Dict[str, float], out_dir: str, name: str = TABLE_NAME,
                 method: Optional[str] = None) -> Dict[str, str]:
    """Write ``<out_dir>/<name>.json`` and ``<name>.md``; return both paths."""
    mmengine.mkdir_or_exist(out_dir)
    paths = dict(json=osp.join(out_dir, f'{name}.json'), md=osp.join(out_dir, f'{name}.md'))
    with open(paths['json'], 'w', encoding='utf-8') as f:
        json.dump(to_json(results), f, indent=2)
    with open(paths['md'], 'w', encoding='utf-8') as f:
        f.write(format_markdown(results, method))
    return paths
