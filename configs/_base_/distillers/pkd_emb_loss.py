# mmrazor's PKDLoss (Pearson-correlation feature imitation, arXiv 2207.02039) on the FPN outputs
# as L_emb, with mmrazor's settings for Faster R-CNN (levels 0-3, weight 6): a variable for the
# distillers that use it (procd-pkd.py, configs/synthetic/procd-pkd_tiny.py).
pkd_emb_loss = dict(
    type='ConfigurableEmbeddingLoss',
    student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    distill_losses=dict(
        loss_pkd_fpn0=dict(type='PKDLoss', loss_weight=6.0),
        loss_pkd_fpn1=dict(type='PKDLoss', loss_weight=6.0),
        loss_pkd_fpn2=dict(type='PKDLoss', loss_weight=6.0),
        loss_pkd_fpn3=dict(type='PKDLoss', loss_weight=6.0)),
    loss_forward_mappings=dict(
        loss_pkd_fpn0=dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=0),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=0)),
        loss_pkd_fpn1=dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=1),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=1)),
        loss_pkd_fpn2=dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=2),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=2)),
        loss_pkd_fpn3=dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=3),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=3))))
