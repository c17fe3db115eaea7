"""The ``make demo`` application: cross-task distillation on synthetic data (``python -m demo``).

:mod:`demo.pipeline` runs the whole demo (data, teacher, students, clear and foggy
evaluation, ``summary.json``); :mod:`demo.plots` draws loss curves and side-by-side
detections. See ``docs/demo.md``.
"""
