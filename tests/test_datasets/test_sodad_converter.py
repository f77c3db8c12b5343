"""Tests for :mod:`crossdino.datasets.converters.sodad` and ``sodad2coco.py``.
"""
import json
from pathlib import Path

import pytest
from PIL import Image

from crossdino.datasets.converters.sodad import (SODAD_CLASSES,
                                                 build_sodad_coco,
                                                 convert_sodad_split,
                                                 format_sodad_summary)
from tests.conftest import load_tool

ROOT = Path(__file__).resolve().parents[2]

# SODA-D's category list, shuffled: the converter matches names, not ids.
RAW_CATEGORIES = [
    dict(id=10, name='ignore'),
    dict(id=1, name='people'),
    dict(id=5, name='vehicle'),
    dict(id=9, name='warning-cone'),
]


def raw_sodad(annotations, images=None, categories=None):
    return dict(
        images=images if images is not None else [
            dict(id=7, file_name='00002.jpg', width=120, height=90),
            dict(id=3, file_name='00001.jpg', width=64, height=48),
        ],
        annotations=annotations,
        categories=categories or RAW_CATEGORIES)


def write(tmp_path, raw, sizes=None):
    img_dir = tmp_path / 'Images'
    img_dir.mkdir(exist_ok=True)
    for img in raw['images']:
        size = (sizes or {}).get(img['file_name'],
                                 (img['width'], img['height']))
        Image.new('RGB', size).save(img_dir / img['file_name'])
    ann_dir = tmp_path / 'Annotations'
    ann_dir.mkdir(exist_ok=True)
    path = ann_dir / 'train.json'
    path.write_text(json.dumps(raw))
    return path, img_dir


ANNS = [
    dict(id=1, image_id=7, category_id=5, bbox=[10, 20, 30, 15], area=450,
         iscrowd=0, ignore=False),
    dict(id=2, image_id=7, category_id=10, bbox=[50, 50, 20, 20], area=400,
         iscrowd=0, ignore=True),  # the `ignore` category
    dict(id=3, image_id=7, category_id=1, bbox=[110, 80, 20, 20], area=400,
         iscrowd=0),  # past the corner: clipped
    dict(id=4, image_id=3, category_id=9, bbox=[5.5, 6.5, 4, 3], area=12,
         iscrowd=0),
    dict(id=5, image_id=3, category_id=1, bbox=[0, 0, 0, 9], area=0,
         iscrowd=0),  # empty: dropped
    dict(id=6, image_id=3, category_id=1, bbox=[20, 20, 8, 8], area=64,
         iscrowd=1),  # crowd: ignored region
]


def test_exact_conversion(tmp_path):
    ann_file, img_dir = write(tmp_path, raw_sodad(ANNS))
    out = tmp_path / 'out' / 'sodad-train.json'
    summary = convert_sodad_split(ann_file, img_dir, out)
    coco = json.loads(out.read_text())
    assert coco['categories'] == [
        dict(id=i, name=n) for i, n in enumerate(SODAD_CLASSES, 1)
    ]
    assert len(coco['categories']) == 9
    assert coco['images'] == [
        dict(id=1, file_name='00001.jpg', width=64, height=48),
        dict(id=2, file_name='00002.jpg', width=120, height=90),
    ]
    assert coco['annotations'] == [
        dict(id=1, image_id=1, category_id=9, bbox=[5.5, 6.5, 4.0, 3.0],
             area=12.0, iscrowd=0),
        dict(id=2, image_id=1, category_id=0, bbox=[20.0, 20.0, 8.0, 8.0],
             area=64.0, iscrowd=1, ignore=1, sodad_category='people'),
        dict(id=3, image_id=2, category_id=5, bbox=[10.0, 20.0, 30.0, 15.0],
             area=450.0, iscrowd=0),
        dict(id=4, image_id=2, category_id=0, bbox=[50.0, 50.0, 20.0, 20.0],
             area=400.0, iscrowd=1, ignore=1, sodad_category='ignore'),
        dict(id=5, image_id=2, category_id=1, bbox=[110.0, 80.0, 10.0, 10.0],
             area=100.0, iscrowd=0),
    ]
    assert summary['images'] == 2
    assert summary['images_with_objects'] == 2
    assert summary['instances'] == 3
    assert summary['instances_per_class'] == dict(
        dict.fromkeys(SODAD_CLASSES, 0), people=1, vehicle=1,
        **{'warning-cone': 1})
    assert summary['ignored_regions'] == 2
    assert summary['clipped'] == 1
    assert summary['dropped_zero_area'] == 1
    # sqrt(area): 3.5, 21.2, 10
    assert summary['instances_per_size'] == {
        '<2': 0, 'very_tiny': 1, 'tiny': 1, 'small': 1, 'medium+': 0}
    assert 'traffic-camera' in format_sodad_summary(summary)


def test_image_checks(tmp_path):
    raw = raw_sodad(ANNS[:1])
    ann_file, img_dir = write(tmp_path, raw, sizes={'00002.jpg': (100, 80)})
    (img_dir / '00001.jpg').write_bytes(b'not a jpeg')
    with pytest.warns(UserWarning):
        coco, summary = build_sodad_coco(ann_file, img_dir)
    assert summary['unreadable'] == ['00001.jpg']
    assert summary['size_mismatch'] == ['00002.jpg']
    assert coco['images'] == [
        dict(id=1, file_name='00002.jpg', width=100, height=80)
    ]
    # without the check the JSON is trusted
    coco, summary = build_sodad_coco(ann_file, img_dir, check_images=False)
    assert [i['width'] for i in coco['images']] == [64, 120]


@pytest.mark.parametrize('ann,where,reason', [
    (dict(id=8, image_id=7, category_id=1, bbox=[1, 2, 3]),
     'annotations[1] (id 8)', 'bbox must be [x, y, w, h], got [1, 2, 3]'),
    (dict(id=8, image_id=7, category_id=1, bbox=[1, 2, 'a', 4]),
     'annotations[1] (id 8)', "bbox must hold 4 finite numbers, got "
     "[1, 2, 'a', 4]"),
    (dict(id=8, image_id=7, category_id=1, bbox=[1, 2, -3, 4]),
     'annotations[1] (id 8)', 'negative bbox size -3x4'),
    (dict(id=8, image_id=99, category_id=1, bbox=[1, 2, 3, 4]),
     'annotations[1] (id 8)', 'unknown image_id 99'),
    (dict(id=8, image_id=7, category_id=4, bbox=[1, 2, 3, 4]),
     'annotations[1] (id 8)', 'unknown category_id 4'),
])
def test_malformed_entry_names_file_and_field(tmp_path, ann, where, reason):
    ann_file, img_dir = write(tmp_path, raw_sodad([ANNS[0], ann]))
    with pytest.raises(ValueError) as err:
        build_sodad_coco(ann_file, img_dir)
    assert str(err.value) == f'{ann_file}: {where}: {reason}'
    coco, summary = build_sodad_coco(ann_file, img_dir, strict=False)
    assert summary['malformed'] == 1
    assert summary['skipped'] == [str(err.value)]
    assert format_sodad_summary(summary).endswith(
        f'skipped malformed entries (--no-strict):\n  {err.value}')
    assert len(coco['annotations']) == 1


def test_unknown_category_and_missing_file(tmp_path):
    cats = RAW_CATEGORIES + [dict(id=11, name='tram')]
    ann_file, img_dir = write(tmp_path, raw_sodad([], categories=cats))
    with pytest.raises(ValueError, match=r"categories\[4\]: unknown SODA-D "
                       r"category 'tram'"):
        build_sodad_coco(ann_file, img_dir)
    with pytest.raises(FileNotFoundError, match='train.json'):
        build_sodad_coco(tmp_path / 'Annotations' / 'nope.json', img_dir)


def test_cli_in_process_converts_and_splits(tmp_path, capsys):
    raw = raw_sodad(ANNS)
    write(tmp_path, raw)
    cli = load_tool('tools/dataset_converters/sodad2coco.py')
    assert cli.main([str(tmp_path), '--patch-size', '64',
                     '--stride', '48']) == 0
    text = capsys.readouterr().out
    assert 'skip val' in text and 'skip test' in text
    assert 'SODA-D' in text and '64 / 48 (16)' in text
    ann = tmp_path / 'annotations'
    full = json.loads((ann / 'sodad-train.json').read_text())
    patches = json.loads(
        (ann / 'sodad-train-patch64-stride48.json').read_text())
    # 64x48 -> 1 patch; 120x90 -> x starts 0, 48, 56 (the last one shifted
    # to the border); y starts 0, 26
    assert [(i['orig_image_id'], i['x_offset'], i['y_offset'])
            for i in patches['images']] == [
        (1, 0, 0), (2, 0, 0), (2, 48, 0), (2, 56, 0), (2, 0, 26),
        (2, 48, 26), (2, 56, 26)]
    assert {i['orig_file_name'] for i in patches['images']} == {
        i['file_name'] for i in full['images']}
    files = sorted(p.name for p in (
        tmp_path / 'patches' / 'train-patch64-stride48').iterdir())
    assert files == sorted(i['file_name'] for i in patches['images'])
    assert files[0] == '00001__0_0.jpg'
