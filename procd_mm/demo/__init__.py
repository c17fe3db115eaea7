"""The ``make demo`` pipeline and its pictures (issue #6).

:mod:`.pipeline` runs the whole demo (data, teacher, three students, clear and
foggy evaluation, ``summary.json``); :mod:`.plots` draws loss curves and
side-by-side detections; :mod:`.prototypes` computes and draws the prototype
assignment maps of a ProC-KD checkpoint.
"""
