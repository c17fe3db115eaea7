"""Export the student of a ProC-KD / distillation checkpoint as a plain mmdet checkpoint.

    python tools/model_converters/export_student.py DISTILL_CKPT OUT [--check-config CFG]

The result holds only the student's weights, without the ``architecture.``
prefix, the teacher or the distillation modules, plus the dataset meta, and loads
strictly into the model built from the student's own config (checked before
anything is written when ``--check-config`` is given).
"""
import argparse
import os.path as osp
import sys

import procd_mm  # noqa: F401  (torch.load of mmengine checkpoints)
from procd_mm.apis import check_out_file
from procd_mm.models.algorithms.export import export_student
from procd_mm.utils import InputError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='checkpoint written while training a distiller')
    parser.add_argument('out', help='path of the plain mmdet checkpoint to write')
    parser.add_argument('--check-config', metavar='CFG',
                        help='student config: verify the export loads strictly into its model')
    args = parser.parse_args()
    try:
        if osp.exists(args.out) and osp.samefile(args.checkpoint, args.out):
            raise InputError(f'OUT {args.out} is the checkpoint itself: the export would replace '
                             'the distiller (teacher, prototype modules, optimizer state) with '
                             'its student; write it elsewhere')
        check_out_file(args.out, 'OUT')
        kept = export_student(args.checkpoint, args.out, args.check_config, '--check-config')
    except InputError as exc:
        sys.exit(f'error: {exc}')
    print(f'wrote {args.out}: {kept} student tensors')


if __name__ == '__main__':
    main()
