"""procd-mm: Prototype-guided Cross-task Knowledge Distillation for MMDetection."""
from setuptools import find_packages, setup

setup(
    name='procd-mm',
    version='0.1.0',
    description='ProC-KD (prototype-guided cross-task distillation) for MMDetection',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['procd_mm', 'procd_mm.*']),
    python_requires='>=3.8',
    install_requires=[
        'torch==2.13.0',
        'mmengine==0.10.7',
        'mmcv==2.1.0',
        'mmdet==3.3.0',
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
