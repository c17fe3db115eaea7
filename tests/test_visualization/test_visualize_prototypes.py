"""tools/analysis/visualize_prototypes.py: the map is the arg-max of PrototypeLearning.assign."""
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config

from procd_mm.apis import load_config
from procd_mm.visualization.prototype_maps import load_procd, prototype_maps
from tests.conftest import REPO, run_tool

CONFIG = osp.join(REPO, 'configs', 'synthetic', 'procd_tiny.py')


def _random_procd_ckpt(path, config=CONFIG):
    from mmrazor.registry import MODELS

    import procd_mm  # noqa: F401
    cfg = Config.fromfile(config)
    cfg.model.teacher_ckpt = None
    cfg.model.teacher_strict = False
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return model


def test_assignment_map_is_argmax_of_assign(synthetic_root, tmp_path):
    ckpt = str(tmp_path / 'procd.pth')
    _random_procd_ckpt(ckpt)
    images = sorted(__import__('glob').glob(
        osp.join(synthetic_root, 'leftImg8bit', 'val', '*', '*.png')))[:2]
    out_dir = str(tmp_path / 'maps')
    res = run_tool('tools/analysis/visualize_prototypes.py', CONFIG, ckpt, *images,
                   '--out-dir', out_dir, timeout=300)
    pngs = [ln for ln in res.stdout.splitlines() if ln.endswith('.png')]
    assert len(pngs) == 2

    # independent reference: the model's own teacher/student P5 through assign()
    model, cfg = load_procd(load_config(CONFIG), ckpt)
    level = model.prototype_branch.level
    for image, png in zip(images, pngs):
        assert osp.getsize(png) > 0
        saved = np.load(png[:-4] + '.npz')
        maps = prototype_maps(model, cfg, image)
        h, w = maps['meta']['feat_shape']
        n = model.prototype_branch.prototype_learning.num_prototypes
        # the image as the test pipeline feeds it: 256x128 -> P5 of 8x4 (padded to 32)
        assert (h, w) == (4, 8)
        with torch.no_grad():
            from procd_mm.visualization.prototype_maps import _test_pipeline
            data = _test_pipeline(cfg)(dict(img_path=image, img_id=0))
            inputs = model.data_preprocessor(dict(inputs=[data['inputs']],
                                                  data_samples=[data['data_samples']]),
                                             False)['inputs']
            for name, det in (('teacher', model.teacher), ('student', model.student)):
                a = model.prototype_branch.prototype_learning.assign(
                    det.extract_feat(inputs)[level])
                assert a.shape == (1, n, h * w)
                ref = a[0].argmax(dim=0).reshape(h, w).numpy()
                np.testing.assert_array_equal(saved[f'{name}_argmax'], ref)
                np.testing.assert_allclose(saved[f'{name}_assign'],
                                           a[0].reshape(n, h, w).numpy(), rtol=1e-5,
                                           atol=1e-6)
        # teacher and student features differ, so do their maps' soft assignments
        assert not np.allclose(saved['teacher_assign'], saved['student_assign'])


def test_a_student_of_another_width_has_the_teacher_row_only(synthetic_root, tmp_path):
    """RTMDet (width 96) under the tiny teacher (width 64): Eq. 1 is not defined on the
    student's level, so the tool draws the teacher's map alone, as assign() gives it."""
    config = osp.join(REPO, 'configs', 'synthetic', 'procd-rtmdet_tiny.py')
    ckpt = str(tmp_path / 'procd.pth')
    _random_procd_ckpt(ckpt, config)
    image = sorted(__import__('glob').glob(
        osp.join(synthetic_root, 'leftImg8bit', 'val', '*', '*.png')))[0]
    res = run_tool('tools/analysis/visualize_prototypes.py', config, ckpt, image,
                   '--out-dir', str(tmp_path / 'maps'), timeout=300)
    png = [ln for ln in res.stdout.splitlines() if ln.endswith('.png')][0]
    saved = np.load(png[:-4] + '.npz')
    assert sorted(saved.files) == ['teacher_argmax', 'teacher_assign']
    model, cfg = load_procd(load_config(config), ckpt)
    assert model.prototype_branch.teacher_projection is not None
    from procd_mm.visualization.prototype_maps import _test_pipeline
    data = _test_pipeline(cfg)(dict(img_path=image, img_id=0))
    batch = model.data_preprocessor(dict(inputs=[data['inputs']],
                                         data_samples=[data['data_samples']]), False)
    with torch.no_grad():
        feat = model.teacher.extract_feat(
            model.teacher_input(batch['inputs'], batch['data_samples'])
        )[model.prototype_branch.teacher_level]
        a = model.prototype_branch.prototype_learning.assign(feat)[0]
    np.testing.assert_allclose(saved['teacher_assign'], a.reshape(a.shape[0], *feat.shape[-2:]),
                               rtol=1e-5, atol=1e-6)


def test_a_plain_student_checkpoint_is_one_line(synthetic_root, tmp_path):
    """The maps need the teacher and the prototypes: a plain (exported) student's
    checkpoint is refused in one line naming it, before any output is written."""
    from mmdet.registry import MODELS

    import procd_mm  # noqa: F401
    student = MODELS.build(Config.fromfile(
        osp.join(REPO, 'configs', 'synthetic', 'student_tiny.py')).model)
    ckpt = str(tmp_path / 'student.pth')
    torch.save({'state_dict': student.state_dict(), 'meta': {}}, ckpt)
    image = sorted(__import__('glob').glob(
        osp.join(synthetic_root, 'leftImg8bit', 'val', '*', '*.png')))[0]
    out_dir = tmp_path / 'maps'
    res = run_tool('tools/analysis/visualize_prototypes.py', CONFIG, ckpt, image,
                   '--out-dir', str(out_dir), check=False, timeout=300)
    assert res.returncode == 1 and 'Traceback' not in res.stderr
    assert res.stderr.strip().splitlines()[-1:] == [
        f"error: checkpoint {ckpt} holds a plain detector's weights (no "
        'architecture.*/teacher.* keys); the maps need the ProC-KD training checkpoint, which '
        'holds the teacher and the prototypes']
    assert not out_dir.exists()
