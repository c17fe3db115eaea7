# procd_tiny.py with mmrazor's MGDLoss (masked generative distillation, arXiv 2205.01529) as
# L_emb: on each FPN level an MGDConnector masks the student map at random and generates the
# teacher's map from it (the connector is trained with the student); settings as mmrazor's
# RetinaNet MGD config (lambda_mgd 0.65, alpha_mgd 2e-5), 64 channels for the tiny FPN.
#   python tools/train.py configs/synthetic/procd-mgd_tiny.py
_base_ = './procd_tiny.py'

model = dict(
    emb_loss=dict(
        _delete_=True,
        type='ConfigurableEmbeddingLoss',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        connectors={
            f's_fpn{i}_connector': dict(type='MGDConnector', student_channels=64,
                                        teacher_channels=64, lambda_mgd=0.65)
            for i in range(5)
        },
        distill_losses={f'loss_mgd_fpn{i}': dict(type='MGDLoss', alpha_mgd=2e-5) for i in range(5)},
        loss_forward_mappings={
            f'loss_mgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i,
                             connector=f's_fpn{i}_connector'),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))
