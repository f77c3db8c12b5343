from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


setup(
    name='crossdino',
    version='0.1.0',
    description='Small-object detection with DETR-family detectors '
    '(Cross-DINO, ENACT, HMPE, ViCrop) on mmdetection 3.x',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['crossdino', 'crossdino.*']),
    python_requires='>=3.9',
    install_requires=[
        'mmengine>=0.10.0,<1.0',
        'mmdet>=3.3.0,<3.4',
        'mmcv>=2.0.0,<2.2.0',
        'timm>=1.0',
        'pycocotools',
        'faster-coco-eval>=1.8,<1.9',
    ],
    license='Apache-2.0',
    zip_safe=False,
)
