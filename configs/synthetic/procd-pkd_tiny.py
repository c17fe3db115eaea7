# procd_tiny.py with mmrazor's PKDLoss on the FPN outputs as L_emb
# (configs/_base_/distillers/pkd_emb_loss.py) instead of CWD.
#   python tools/train.py configs/synthetic/procd-pkd_tiny.py
_base_ = ['./procd_tiny.py', '../_base_/distillers/pkd_emb_loss.py']

model = dict(emb_loss=dict(_delete_=True, **_base_.pkd_emb_loss))
