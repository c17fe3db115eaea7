"""The ``make demo`` application: cross-task distillation on synthetic data (``python -m demo``).

- :mod:`demo.options`: the settings (:class:`~demo.options.DemoOptions`) and paths;
- :mod:`demo.data`: the synthetic source/target trees and the foggy val split;
- :mod:`demo.configs`: the repository's synthetic configs with the demo's budget;
- :mod:`demo.jobs`: the teacher, one student run, the pictures (one job each);
- :mod:`demo.pool`: the jobs in a pool of worker processes, or one after another;
- :mod:`demo.measures`: mAP50, detection counts, weight digests, prototype usage;
- :mod:`demo.stats`: mean, standard deviation, paired differences and the tables;
- :mod:`demo.plots`: loss curves, side-by-side detections, prototype usage;
- :mod:`demo.pipeline`: the whole demo, writing ``summary.json`` and ``report.json``;
- :mod:`demo.pilot`: how the demo's budget was chosen (student-only runs).

See ``docs/demo.md``.
"""
