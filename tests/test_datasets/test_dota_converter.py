"""Tests for :mod:`crossdino.datasets.converters.dota` and ``dota2coco.py``."""
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from crossdino.datasets.converters.dota import (DOTA_V15_CLASSES,
                                                build_dota_coco,
                                                convert_dota_split,
                                                format_dota_summary,
                                                parse_dota_txt)
from tests.conftest import PYTHON, load_tool, run_tool

ROOT = Path(__file__).resolve().parents[2]


def make_split(folder, images, txts):
    """Write a DOTA split: ``images`` {stem: (w, h)}, ``txts`` {stem: str}.

    Text is written byte for byte (``newline=''``) so CRLF survives.
    """
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True)
    (folder / 'labelTxt').mkdir()
    for stem, size in images.items():
        Image.new('RGB', size).save(folder / 'images' / f'{stem}.png')
    for stem, text in txts.items():
        with open(folder / 'labelTxt' / f'{stem}.txt', 'w',
                  newline='') as f:
            f.write(text)
    return folder


LABELS = (
    'imagesource:GoogleEarth\r\n'
    'gsd:0.146343590398\r\n'
    '10 20 40 20 40 60 10 60 plane 0\r\n'  # axis-aligned
    '\r\n'
    '50.5 5.0 70.0 15.5 60.0 30.0 45.0 20.0 ship 1\r\n'  # rotated, v1.5
    '90 70 130 70 130 95 90 95 container-crane 0\r\n'  # past the corner
    '-5 -5 5 -5 5 5 -5 5 small-vehicle 0\n'  # past the origin
    '200 10 210 10 210 20 200 20 harbor 0\n'  # outside: dropped
    '30 30 34 30 34 36 30 36 helicopter\n')  # 9 fields: difficult 0


def test_parse_header_and_objects(tmp_path):
    path = tmp_path / 'a.txt'
    path.write_text(LABELS, newline='')
    parsed = parse_dota_txt(path)
    assert parsed['header'] == dict(imagesource='GoogleEarth',
                                    gsd=0.146343590398)
    assert parsed['polygons'].shape == (6, 8)
    assert parsed['polygons'][1].tolist() == [50.5, 5, 70, 15.5, 60, 30, 45,
                                              20]
    assert parsed['categories'].tolist() == [
        DOTA_V15_CLASSES.index(n) + 1 for n in (
            'plane', 'ship', 'container-crane', 'small-vehicle', 'harbor',
            'helicopter')
    ]
    assert parsed['categories'][2] == 16  # container-crane is v1.5's 16th
    assert parsed['difficult'].tolist() == [0, 1, 0, 0, 0, 0]
    assert parsed['skipped'] == []


def test_exact_coco_output(tmp_path):
    split = make_split(tmp_path / 'val', {
        'P2': (100, 80),
        'P1': (64, 48),
        'P3': (32, 32),
    }, {
        'P2': LABELS,
        'P1': 'imagesource:GF\ngsd:null\n',  # header only: no objects
    })
    out = tmp_path / 'ann' / 'val.json'
    with pytest.warns(UserWarning, match='P3.png: no label file'):
        summary = convert_dota_split(split, out)
    coco = json.loads(out.read_text())
    assert coco['images'] == [
        dict(id=1, file_name='P1.png', width=64, height=48,
             imagesource='GF', gsd=None),
        dict(id=2, file_name='P2.png', width=100, height=80,
             imagesource='GoogleEarth', gsd=0.146343590398),
        dict(id=3, file_name='P3.png', width=32, height=32),
    ]
    assert coco['categories'] == [
        dict(id=i, name=n) for i, n in enumerate(DOTA_V15_CLASSES, 1)
    ]
    assert coco['annotations'] == [
        dict(id=1, image_id=2, category_id=1, bbox=[10.0, 20.0, 30.0, 40.0],
             area=1200.0, iscrowd=0, difficult=0),
        dict(id=2, image_id=2, category_id=7, bbox=[45.0, 5.0, 25.0, 25.0],
             area=625.0, iscrowd=0, difficult=1),
        dict(id=3, image_id=2, category_id=16, bbox=[90.0, 70.0, 10.0, 10.0],
             area=100.0, iscrowd=0, difficult=0),
        dict(id=4, image_id=2, category_id=5, bbox=[0.0, 0.0, 5.0, 5.0],
             area=25.0, iscrowd=0, difficult=0),
        dict(id=5, image_id=2, category_id=15, bbox=[30.0, 30.0, 4.0, 6.0],
             area=24.0, iscrowd=0, difficult=0),
    ]
    assert summary['images'] == 3
    assert summary['images_with_objects'] == 1
    assert summary['instances'] == 5
    assert summary['instances_per_class']['ship'] == 1
    assert summary['difficult'] == 1
    assert summary['ignored_regions'] == 0
    assert summary['clipped'] == 2
    assert summary['dropped_zero_area'] == 1
    assert summary['missing_labels'] == ['P3.png']
    # sqrt(area): 34.6, 25, 10, 5, 4.9
    assert summary['instances_per_size'] == {
        '<2': 0, 'very_tiny': 2, 'tiny': 1, 'small': 1, 'medium+': 1}
    table = format_dota_summary(summary)
    assert 'container-crane' in table
    assert re.search(r'images without label file +1: P3.png', table)


def test_difficult_as_ignored(tmp_path):
    split = make_split(tmp_path / 'val', {'P1': (100, 80)}, {'P1': LABELS})
    coco, summary = build_dota_coco(split, difficult_as='ignore')
    ignored = [a for a in coco['annotations'] if a['category_id'] == 0]
    assert ignored == [
        dict(id=2, image_id=1, category_id=0, bbox=[45.0, 5.0, 25.0, 25.0],
             area=625.0, iscrowd=1, ignore=1, difficult=1,
             dota_category='ship')
    ]
    assert summary['instances'] == 4
    assert summary['instances_per_class']['ship'] == 0
    assert summary['ignored_regions'] == 1
    with pytest.raises(ValueError, match='difficult_as'):
        build_dota_coco(split, difficult_as='drop')


@pytest.mark.parametrize('line,reason', [
    ('1 2 3 4 5 6 7 8', 'expected 8 coordinates, a category and a '
     'difficult flag, got 8 fields'),
    ('1 2 3 4 5 6 7 x plane 0', "non-numeric coordinate 'x'"),
    ('1 2 3 4 5 6 7 8 airport 0', "unknown category 'airport'"),
    ('1 2 3 4 5 6 7 8 plane 2', "difficult must be 0 or 1, got '2'"),
    ('gsd:0.5', "header line 'gsd' after the first object"),
    ('1 2 3 4 5 6 7 8 plane 0 extra', 'expected 8 coordinates, a category '
     'and a difficult flag, got 11 fields'),
])
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    path = tmp_path / 'P9.txt'
    path.write_text('imagesource:GF\ngsd:1.0\n'
                    '0 0 4 0 4 4 0 4 plane 0\n' + line + '\n')
    with pytest.raises(ValueError) as err:
        parse_dota_txt(path)
    assert str(err.value).startswith(f'{path}:4: {reason}')
    assert str(err.value).endswith(f': {line!r}')
    parsed = parse_dota_txt(path, strict=False)
    assert parsed['skipped'] == [str(err.value)]
    assert parsed['polygons'].shape == (1, 8)


def test_missing_folder_and_unlabelled_split(tmp_path):
    (tmp_path / 'test' / 'images').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(tmp_path / 'test' / 'images' / 'P5.png')
    with pytest.raises(FileNotFoundError, match='labelTxt'):
        build_dota_coco(tmp_path / 'test')
    coco, summary = build_dota_coco(tmp_path / 'test', labels_required=False)
    assert len(coco['images']) == 1 and coco['annotations'] == []
    assert summary['missing_labels'] == []


def test_cli_converts_and_splits(tmp_path):
    root = tmp_path / 'DOTA'
    make_split(root / 'train', {'P1': (100, 80)}, {'P1': LABELS})
    make_split(root / 'val', {'P2': (70, 40)}, {
        'P2': '0 0 10 0 10 10 0 10 plane 0\n'
              '55 25 65 25 65 35 55 35 ship 1\n'
    })
    proc = run_tool([
        PYTHON, 'tools/dataset_converters/dota2coco.py', str(root),
        '--patch-size', '64', '--gap', '16', '--difficult-as-ignored'
    ])
    assert 'skip test' in proc.stdout
    assert 'DOTA-v1.5' in proc.stdout and 'patch split' in proc.stdout
    assert '64 / 48 (16)' in proc.stdout
    ann = root / 'annotations'
    full = json.loads((ann / 'dota-v1.5-val.json').read_text())
    assert [a['category_id'] for a in full['annotations']] == [1, 0]
    patches = json.loads(
        (ann / 'dota-v1.5-val-patch64-stride48.json').read_text())
    # 70 px wide: windows at x 0 and 6 (shifted to the border); 40 px high
    assert [(i['file_name'], i['x_offset'], i['y_offset'], i['width'],
             i['height']) for i in patches['images']] == [
        ('P2__0_0.png', 0, 0, 64, 40), ('P2__6_0.png', 6, 0, 64, 40)]
    assert sorted(p.name for p in (
        root / 'patches' / 'val-patch64-stride48').iterdir()) == [
            'P2__0_0.png', 'P2__6_0.png']
    assert (ann / 'dota-v1.5-train-patch64-stride48.json').is_file()



def test_cli_error_names_file_and_line(tmp_path):
    cli = load_tool('tools/dataset_converters/dota2coco.py')
    bad = tmp_path / 'BAD'
    make_split(bad / 'val', {'P1': (10, 10)}, {'P1': '1 2 3\n'})
    with pytest.raises(SystemExit) as err:
        cli.main([str(bad)])
    msg = str(err.value)
    assert 'P1.txt:1: expected 8 coordinates' in msg
    assert msg.endswith("'1 2 3' (--no-strict skips malformed lines)")
    with pytest.raises(SystemExit, match='none of'):
        cli.main([str(tmp_path / 'nothing')])
