"""The demo's settings (:class:`DemoOptions`) and where each run puts its files."""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO, 'configs', 'synthetic')
METHODS = ('student', 'cwd', 'procd')
METHOD_NAMES = dict(student='Student', cwd='CWD', procd='ProC-KD')
DOMAINS = ('clear', 'foggy')
#: The student families of the demo (demo/regimes.py): the paper's Cascade Mask R-CNN and a
#: one-stage RTMDet (docs/method.md, "Dense students").
STUDENTS = ('cascade', 'rtmdet')
VAL_ANN = 'annotations/instancesonly_filtered_gtFine_val.json'


@dataclass
class DemoOptions:
    """Sizes and budgets of one demo run (defaults: ``make demo``; see docs/demo.md)."""
    work_dir: str = 'work_dirs/demo'
    regime: str = 'paper'  # demo/regimes.py: 'paper' or 'disjoint'
    student: str = 'cascade'  # STUDENTS; the teacher and the data are the same for both
    seeds: Sequence[int] = (0, 1, 2, 3)
    iters: int = 400  # the student's budget (python -m demo.pilot); see docs/demo.md
    teacher_iters: int = 2000  # 5x the student's
    source_train: int = 2400  # 10x the student's
    source_val: int = 100
    target_train: int = 240
    num_val: int = 300  # one image moves a method's mAP50 by about 1 point at most
    height: int = 128
    width: int = 256
    beta: float = 0.01  # chosen by the pilot; see docs/demo.md
    source_seed: int = 1000
    target_seed: int = 0
    num_pictures: int = 3
    score_thr: float = 0.1
    threads: int = 1  # torch threads per run (one per core: the runs share the cores)
    workers: Optional[int] = None  # parallel runs; None: os.cpu_count(), capped by the jobs
    methods: Sequence[str] = METHODS
    extra: Dict = field(default_factory=dict)

    @property
    def data_dir(self) -> str:
        return osp.join(self.work_dir, 'data')

    @property
    def student_dir(self) -> str:
        """Where the students' runs and figures go (the Cascade's at the top of the work dir,
        another family's in a folder of its own)."""
        return self.work_dir if self.student == 'cascade' else osp.join(self.work_dir,
                                                                        self.student)

    @property
    def figure_dir(self) -> str:
        return osp.join(self.student_dir, 'figures')


def regime_of(opts: DemoOptions):
    """The :class:`~demo.regimes.Regime` the options name."""
    from .regimes import REGIMES
    if opts.regime not in REGIMES:
        raise ValueError(f'unknown regime {opts.regime!r}; choose from {sorted(REGIMES)}')
    return REGIMES[opts.regime]


def student_configs(opts: DemoOptions):
    """(student-only config, distiller config) of the options' regime and student family."""
    if opts.student not in STUDENTS:
        raise ValueError(f'unknown student {opts.student!r}; choose from {STUDENTS}')
    return regime_of(opts).students[opts.student]


def run_dir(opts: DemoOptions, method: str, seed: int) -> str:
    return osp.join(opts.student_dir, f'{method}_seed{seed}')


def teacher_ckpt_path(opts: DemoOptions) -> str:
    return osp.abspath(osp.join(opts.work_dir, 'teacher', f'iter_{opts.teacher_iters}.pth'))


def parse_seeds(text: str) -> List[int]:
    return [int(s) for s in text.split(',') if s.strip()]
