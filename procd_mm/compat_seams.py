"""The inventory of upstream details the project relies on beyond public APIs (``compat.py``
repairs three of them; the others are used as they are), each with the version it was written
for and a check that fails when a release changes it (``tests/test_compat.py`` runs every
check). :func:`check_versions` warns at import when an installed version is not the pinned
one, naming the seams to re-check."""
import importlib.metadata
import inspect
import os.path as osp
import re
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

#: The stack the seams were written for (requirements/cpu-constraints.txt).
PINNED = {'torch': '2.13.0', 'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmdet': '3.3.0',
          'mmrazor': '1.0.0'}


@dataclass(frozen=True)
class Seam:
    """One upstream detail: the library and version, where the project relies on it, what
    it is, and a check that holds while the detail is as relied on."""
    library: str
    where: str
    what: str
    check: Callable[[], bool]


#: mmengine's message for a type its registry does not hold (apis/preflight.py tells a
#: config's unknown type from a bug by it).
UNKNOWN_TYPE = re.compile(r'^(\S+) is not in the (\S+) registry')
#: Python's messages for a call with arguments a signature does not take.
SIGNATURE_MISMATCH = re.compile(r"(got an unexpected keyword argument|missing \d+ required "
                                r"(positional|keyword-only) argument)")


def raised_by_the_registry(exc: BaseException) -> bool:
    """Whether ``exc`` came from the registry's call of a class with the config's arguments.

    A signature mismatch of that call is raised in the registry's own frame (the class's
    ``__init__`` never starts); one raised deeper is a bug of the code being built.
    """
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return osp.join('mmengine', 'registry') in tb.tb_frame.f_code.co_filename


# the mmrazor module that repair 1 of :mod:`procd_mm.compat` stands in for
BACKEND_CONFIG_MODULE = 'mmrazor.structures.quantization.backend_config'


def _source(obj) -> str:
    return inspect.getsource(obj)


def _params(fn) -> List[str]:
    return list(inspect.signature(fn).parameters)


def _mmrazor_backend_config() -> bool:
    import importlib.util
    return importlib.util.find_spec(BACKEND_CONFIG_MODULE.rsplit('.', 1)[0]) is not None


def _history_buffer_methods() -> bool:
    from mmengine.logging import HistoryBuffer
    return all(inspect.isfunction(vars(HistoryBuffer).get(m))
               for m in ('mean', 'max', 'min', 'current'))


def _map_roi_levels() -> bool:
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    forward = _source(SingleRoIExtractor.forward)
    return _params(SingleRoIExtractor.map_roi_levels) == ['self', 'rois', 'num_levels'] \
        and 'rois.type_as(feats[0])' in forward and 'self.map_roi_levels(' in forward


def _config_scope_table() -> bool:
    from mmengine.config import Config, utils
    from mmengine.hub import hub
    return isinstance(utils.MODULE2PACKAGE, dict) \
        and 'MODULE2PACKAGE' in _source(utils._get_package_and_cfg_path) \
        and '_get_package_and_cfg_path' in _source(hub.get_config) \
        and 'get_installed_path(package)' in _source(hub.get_config) \
        and 'get_installed_path(package)' in _source(Config._get_cfg_path)


def _from_cfg_keywords() -> bool:
    from mmengine.runner import Runner
    src = _source(Runner.from_cfg)
    return _params(Runner.from_cfg) == ['cfg'] and 'cls(' in src \
        and "model=cfg['model']" in src and "train_dataloader=cfg.get('train_dataloader')" in src


def _unknown_type_message() -> bool:
    from mmengine.registry import Registry
    try:
        Registry('seam_check', scope='seam_check').build(dict(type='NoSuchThing'))
    except KeyError as exc:
        return bool(UNKNOWN_TYPE.match(str(exc.args[0])))
    return False


def _signature_error_in_registry_frame() -> bool:
    from mmengine.registry import Registry

    registry = Registry('seam_check', scope='seam_check')

    @registry.register_module()
    class Takes:
        def __init__(self, a=1):
            self.a = a
    try:
        registry.build(dict(type='Takes', nonsense=2))
    except TypeError as exc:
        return bool(SIGNATURE_MISMATCH.search(str(exc))) and raised_by_the_registry(exc)
    return False


def _dict_action_parse() -> bool:
    from mmengine.config import DictAction
    return DictAction._parse_iterable('[1,2]') == [1, 2] \
        and DictAction._parse_int_float_bool('2.5') == 2.5 \
        and DictAction._parse_int_float_bool('a b') == 'a b'


def _config_format_python_code() -> bool:
    from mmengine.config import Config
    return 'format_python_code' in _params(Config.__init__)


def _private_checkpoint_loaders() -> bool:
    from mmengine.runner import checkpoint
    return _params(checkpoint._load_checkpoint)[:2] == ['filename', 'map_location'] \
        and _params(checkpoint._load_checkpoint_to_model)[:3] == ['model', 'checkpoint', 'strict']


def _is_init_flag() -> bool:
    from mmengine.model import BaseModule
    return 'self._is_init' in _source(BaseModule.init_weights)


def _save_checkpoint_with_step() -> bool:
    from mmengine.hooks import CheckpointHook
    return _params(CheckpointHook._save_checkpoint_with_step) == ['self', 'runner', 'step', 'meta']


def _dataloader_iterator() -> bool:
    from mmengine.runner import IterBasedTrainLoop
    return 'self.dataloader_iterator' in _source(IterBasedTrainLoop.run_iter) + \
        _source(IterBasedTrainLoop.run)


def _bbox_loss_sampling_results() -> bool:
    from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
    return all('sampling_results' in _params(head.bbox_loss)
               and 'self.bbox_loss(' in _source(head.loss)
               for head in (StandardRoIHead, CascadeRoIHead))


def _batch_norm_eval_forward() -> bool:
    """In eval mode a batch norm is ``F.batch_norm`` on its (replaceable) running buffers."""
    import torch
    import torch.nn.functional as F
    norm = torch.nn.BatchNorm2d(3).eval()
    x = torch.randn(2, 3, 4, 4)
    mean, var = torch.rand(3), torch.rand(3) + 0.5
    norm.running_mean, norm.running_var = mean, var
    return torch.equal(norm(x), F.batch_norm(x, mean, var, norm.weight, norm.bias, False,
                                             0., norm.eps))


def _coco_metric_globals() -> bool:
    from mmdet.evaluation.metrics import coco_metric
    return all(hasattr(coco_metric, n) for n in ('COCOeval', 'COCOevalMP')) \
        and 'COCOeval(' in _source(coco_metric.CocoMetric.compute_metrics)


SEAMS = (
    Seam('mmrazor', 'compat.py (repair 1)', 'the quantization backend-config module that '
         'mmrazor imports eagerly', _mmrazor_backend_config),
    Seam('mmengine', 'compat.py (repair 2)', "HistoryBuffer's statistics methods, pickled "
         'by name in checkpoints', _history_buffer_methods),
    Seam('mmdet', 'compat.py (repair 3)', 'SingleRoIExtractor.forward casts the RoIs to the '
         'feature dtype, then calls map_roi_levels(rois, num_levels)', _map_roi_levels),
    Seam('mmengine', 'compat.py (repair 4)', 'pkg::folder/file.py resolves through the '
         'MODULE2PACKAGE table, and the package folder from the module global '
         'get_installed_path of mmengine.config.config and mmengine.hub.hub', _config_scope_table),
    Seam('mmengine', 'apis/runner.py', 'Runner.from_cfg(cfg) calls the class with keyword '
         'arguments named as the config keys', _from_cfg_keywords),
    Seam('mmengine', 'apis/preflight.py', 'the registry\'s "X is not in the Y registry" '
         'message of an unknown type', _unknown_type_message),
    Seam('mmengine', 'apis/preflight.py', "a config argument a class does not take raises "
         "TypeError in the registry's own frame", _signature_error_in_registry_frame),
    Seam('mmengine', 'apis/config.py', 'DictAction._parse_iterable / '
         '_parse_int_float_bool parse a --cfg-options value', _dict_action_parse),
    Seam('mmengine', 'demo/configs.py', 'Config takes format_python_code (Config.fromfile '
         'drops it for non-lazy configs)', _config_format_python_code),
    Seam('mmengine', 'models/algorithms/teacher_checkpoint.py', '_load_checkpoint and '
         '_load_checkpoint_to_model', _private_checkpoint_loaders),
    Seam('mmengine', 'models/algorithms/procd.py', 'BaseModule.init_weights skips a module '
         'whose _is_init is set', _is_init_flag),
    Seam('mmengine', 'engine/hooks/atomic_checkpoint_hook.py',
         'CheckpointHook._save_checkpoint_with_step(runner, step, meta)',
         _save_checkpoint_with_step),
    Seam('mmengine', 'engine/hooks/rng_state_hook.py', 'IterBasedTrainLoop draws its batches '
         'from loop.dataloader_iterator', _dataloader_iterator),
    Seam('mmdet', 'models/algorithms/prototype_path.py', 'StandardRoIHead / CascadeRoIHead '
         '.loss call self.bbox_loss, which takes an argument sampling_results',
         _bbox_loss_sampling_results),
    Seam('torch', 'models/algorithms/plain_batch_statistics.py',
         '_BatchNorm in eval mode normalises with its running buffers (swapped by hooks '
         'during a path pass)',
         _batch_norm_eval_forward),
    Seam('mmdet', 'evaluation/per_class_ap50_metric.py', 'CocoMetric builds its COCOeval / '
         'COCOevalMP from module globals (replaced once by recording subclasses)',
         _coco_metric_globals),
)


def installed_versions() -> Dict[str, Optional[str]]:
    out = {}
    for library in PINNED:
        try:
            out[library] = importlib.metadata.version(library).split('+')[0]
        except importlib.metadata.PackageNotFoundError:
            out[library] = None
    return out


def check_versions(installed: Optional[Dict[str, Optional[str]]] = None) -> List[str]:
    """Warn once per library whose installed version is not the pinned one, naming the
    seams to re-check there; returns the warnings."""
    installed = installed_versions() if installed is None else installed
    messages = []
    for library, pinned in PINNED.items():
        found = installed.get(library)
        if found is not None and found != pinned:
            seams = '; '.join(f'{s.where}: {s.what}' for s in SEAMS if s.library == library)
            messages.append(f'procd_mm was written for {library} {pinned}, found {found}; '
                            f're-check: {seams}')
    for message in messages:
        warnings.warn(message, stacklevel=2)
    return messages
