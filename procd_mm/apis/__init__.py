"""What the tools, the demo and the visualisation call: config loading (:mod:`.config`),
pre-flight checks (:mod:`.preflight`), distributed set-up (:mod:`.distributed`) and the runner
(:mod:`.runner`). The library below never imports this layer."""
from .config import (
    config_classes,
    default_work_dir,
    leaf_dataset_cfgs,
    load_config,
    parse_cfg_options,
)
from .distributed import finish_distributed, set_local_rank, setup_distributed
from .preflight import check_checkpoint, check_data, check_out_file
from .runner import build_runner

__all__ = ['load_config', 'parse_cfg_options', 'default_work_dir', 'leaf_dataset_cfgs',
           'config_classes',
           'check_checkpoint', 'check_data', 'check_out_file', 'setup_distributed',
           'finish_distributed', 'set_local_rank', 'build_runner']
