"""procd-mm: Prototype-guided Cross-task Knowledge Distillation for MMDetection."""
from setuptools import find_packages, setup

setup(
    name='procd-mm',
    version='0.1.0',
    description='ProC-KD (prototype-guided cross-task distillation) for MMDetection',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['procd_mm', 'procd_mm.*']),
    # the configs as package data, where mmengine looks for ``procd_mm::folder/file.py``
    # (procd_mm/.mim/configs is a link to configs/, as mim-installed OpenMMLab packages have)
    package_data={'procd_mm': ['.mim/model-index.yml', '.mim/configs/**/*.py']},
    python_requires='>=3.8',
    # ranges, so that an environment with its own torch (and mmcv built against it) keeps
    # them; the exact CPU stack of `make setup` is requirements/cpu-constraints.txt
    install_requires=[
        # the torch range mmcv 2.1.0's compiled ops build against: torch 2.14 and later need
        # C++20 in ATen/ATen.h, mmcv 2.1.0 compiles with -std=c++17 (docs/gpu.md)
        'torch>=2.0,<2.14',
        'mmengine>=0.7.1,<1.0.0',  # the range mmdet 3.3 accepts
        'mmcv>=2.0.0rc4,<2.2.0',  # likewise
        'mmdet>=3.0.0,<3.4.0',
        'mmrazor==1.0.0',
        'joblib',  # imported by mmrazor 1.0.0 but not declared by it
        'setuptools<81',  # mmengine 0.10.7 imports pkg_resources (removed in setuptools 81)
        'pycocotools',
        'cityscapesscripts',
        'numpy<2',
        'opencv-python',
        'matplotlib',
        'tqdm',
    ],
    extras_require={'tests': ['pytest', 'ruff']},
)
