"""Tests for :mod:`crossdino.datasets.converters.widerperson` and its CLI."""
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from crossdino.datasets.converters.widerperson import (
    build_widerperson_coco, convert_widerperson_split,
    format_widerperson_summary, parse_widerperson_txt)
from tests.conftest import load_tool, run_tool

ROOT = Path(__file__).resolve().parents[2]


def make_widerperson(root, images, txts, splits):
    """Write a WiderPerson folder.

    Args:
        images: {image id: (w, h)} written as ``Images/<id>.jpg``.
        txts: {image id: text} written byte for byte as
            ``Annotations/<id>.jpg.txt``.
        splits: {split: [ids]} written as ``<split>.txt``.
    """
    root = Path(root)
    (root / 'Images').mkdir(parents=True)
    (root / 'Annotations').mkdir()
    for stem, size in images.items():
        Image.new('RGB', size).save(root / 'Images' / f'{stem}.jpg')
    for stem, text in txts.items():
        with open(root / 'Annotations' / f'{stem}.jpg.txt', 'w',
                  newline='') as f:
            f.write(text)
    for split, ids in splits.items():
        (root / f'{split}.txt').write_text(''.join(f'{i}\n' for i in ids))
    return root


# 100x80 image: one box per WiderPerson label, one crossing the border, one
# empty, one outside the image.
TXT_B = ('7\r\n'  # CRLF, count line
         '1 10 20 30 60\r\n'  # pedestrian 20x40
         '2 40 10 46 18\r\n'  # rider 6x8
         '3 50 50 62 70\n'  # partially-visible 12x20
         '4 0 0 5 5\n'  # ignore region
         '5 70 30 99 79\n'  # crowd
         '1 90 60 120 100\n'  # clipped to 10x20
         '1 40 40 40 50\n')  # zero width -> dropped


def test_exact_coco_output_pedestrian_protocol(tmp_path):
    root = make_widerperson(
        tmp_path / 'wp', {'b': (100, 80), 'a': (64, 48)},
        {'b': TXT_B, 'a': '0\n'}, {'val': ['b', 'a']})
    out = tmp_path / 'out' / 'val.json'
    summary = convert_widerperson_split(root, 'val', out)
    coco = json.loads(out.read_text())

    assert coco['images'] == [
        dict(id=1, file_name='a.jpg', width=64, height=48),
        dict(id=2, file_name='b.jpg', width=100, height=80),
    ]
    assert coco['categories'] == [dict(id=1, name='pedestrian')]
    ign = dict(category_id=0, iscrowd=1, ignore=1)
    assert coco['annotations'] == [
        dict(id=1, image_id=2, category_id=1, bbox=[10.0, 20.0, 20.0, 40.0],
             area=800.0, iscrowd=0, widerperson_label=1),
        dict(id=2, image_id=2, bbox=[40.0, 10.0, 6.0, 8.0], area=48.0,
             widerperson_label=2, **ign),
        dict(id=3, image_id=2, bbox=[50.0, 50.0, 12.0, 20.0], area=240.0,
             widerperson_label=3, **ign),
        dict(id=4, image_id=2, bbox=[0.0, 0.0, 5.0, 5.0], area=25.0,
             widerperson_label=4, **ign),
        dict(id=5, image_id=2, bbox=[70.0, 30.0, 29.0, 49.0], area=1421.0,
             widerperson_label=5, **ign),
        dict(id=6, image_id=2, category_id=1, bbox=[90.0, 60.0, 10.0, 20.0],
             area=200.0, iscrowd=0, widerperson_label=1),
    ]
    assert summary['images'] == 2 and summary['images_with_objects'] == 1
    assert summary['instances'] == 2
    assert summary['instances_per_class'] == {'pedestrian': 2}
    assert summary['ignored_regions'] == 4
    assert summary['boxes_per_label'] == {
        'pedestrians': 2, 'riders': 1, 'partially-visible persons': 1,
        'ignore regions': 1, 'crowd': 1}
    assert summary['clipped'] == 1
    assert summary['dropped_zero_area'] == 1
    assert summary['malformed'] == summary['count_mismatch'] == 0
    assert summary['skipped'] == []
    # sqrt(area): 28.3 (small) and 14.1 (tiny)
    assert summary['instances_per_size'] == {
        '<2': 0, 'very_tiny': 0, 'tiny': 1, 'small': 1, 'medium+': 0}
    assert sorted(p.name for p in out.parent.iterdir()) == ['val.json']
    table = format_widerperson_summary(summary)
    assert 'pedestrian' in table and 'count-line mismatches' in table
    assert str(out) in table


@pytest.mark.parametrize('classes,cats,expected', [
    ('person', ['person'], [1, 1, 1, 0, 0, 1]),
    ('all', ['pedestrian', 'rider', 'partially-visible person', 'crowd'],
     [1, 2, 3, 0, 4, 1]),
])
def test_class_protocols(tmp_path, classes, cats, expected):
    root = make_widerperson(tmp_path / 'wp', {'b': (100, 80)}, {'b': TXT_B},
                            {'train': ['b']})
    coco, summary = build_widerperson_coco(root, 'train', classes=classes)
    assert [c['name'] for c in coco['categories']] == cats
    assert [a['category_id'] for a in coco['annotations']] == expected
    assert [a['iscrowd'] for a in coco['annotations']] == [
        int(c == 0) for c in expected]
    assert summary['instances'] == sum(c > 0 for c in expected)
    assert summary['ignored_regions'] == expected.count(0)


def test_unknown_class_protocol(tmp_path):
    root = make_widerperson(tmp_path / 'wp', {}, {}, {'train': []})
    with pytest.raises(ValueError, match="unknown WiderPerson class mode"):
        build_widerperson_coco(root, 'train', classes='people')


def test_plus_one_reproduces_iterdet_boxes(tmp_path):
    root = make_widerperson(tmp_path / 'wp', {'a': (64, 64)},
                            {'a': '1\n1 10 20 29 59\n'}, {'train': ['a']})
    coco, _ = build_widerperson_coco(root, 'train', plus_one=True)
    assert coco['annotations'][0]['bbox'] == [10.0, 20.0, 20.0, 40.0]
    coco, _ = build_widerperson_coco(root, 'train')
    assert coco['annotations'][0]['bbox'] == [10.0, 20.0, 19.0, 39.0]


@pytest.mark.parametrize('line,reason', [
    ('1 2 3 4', "expected 5 whitespace-separated fields 'class x1 y1 x2 y2', "
     'got 4'),
    ('1 2 3 4 5 6', 'got 6'),
    ('x 2 3 4 5', "class label 'x' is not an integer"),
    ('1 2 3 a 5', "non-numeric coordinate 'a'"),
    ('6 2 3 4 5', 'class label 6 outside 1..5'),
    ('0 2 3 4 5', 'class label 0 outside 1..5'),
    ('1 10 3 4 5', 'x2 < x1 or y2 < y1 (negative box size -6x2)'),
])
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    root = make_widerperson(tmp_path / 'wp', {'a': (50, 50)},
                            {'a': f'2\n1 1 1 9 9\n\n{line}\n'},
                            {'train': ['a']})
    txt = root / 'Annotations' / 'a.jpg.txt'
    with pytest.raises(ValueError) as info:
        convert_widerperson_split(root, 'train', tmp_path / 'a.json')
    msg = str(info.value)
    assert msg.startswith(f'{txt}:4: ')
    assert msg.endswith(f': {line!r}') and reason in msg
    assert not (tmp_path / 'a.json').exists()


@pytest.mark.parametrize('text,lineno,reason', [
    ('3\n1 1 1 9 9\n1 2 2 8 8\n', 1,
     "count line says 3 boxes but 2 box lines follow: '3'"),
    ('\n 1 \n1 1 1 9 9\n1 2 2 8 8\n', 2,
     "count line says 1 boxes but 2 box lines follow: '1'"),
    ('1 1 1 9 9\n', 1, "first line must be the number of boxes N: "
     "'1 1 1 9 9'"),
    ('', 1, "empty file, expected the number of boxes on the first line: "
     "''"),
])
def test_count_line_errors(tmp_path, text, lineno, reason):
    root = make_widerperson(tmp_path / 'wp', {'a': (50, 50)}, {'a': text},
                            {'train': ['a']})
    txt = root / 'Annotations' / 'a.jpg.txt'
    with pytest.raises(ValueError) as info:
        parse_widerperson_txt(txt)
    assert str(info.value) == f'{txt}:{lineno}: {reason}'


def test_non_strict_keeps_found_lines_and_counts(tmp_path):
    root = make_widerperson(
        tmp_path / 'wp', {'a': (50, 50), 'b': (50, 50)}, {
            'a': '4\n1 1 1 9 9\n1 2 3\n7 1 1 9 9\n1 2 2 8 8\n',
            'b': '5\n1 1 1 9 9\n'
        }, {'train': ['a', 'b']})
    with pytest.warns(UserWarning, match=r'b\.jpg\.txt:1: count line says 5'):
        coco, summary = build_widerperson_coco(root, 'train', strict=False)
    assert summary['malformed'] == 2
    # The skipped lines by file:line and reason; the count mismatch keeps
    # its lines, so it is not among them.
    txt = root / 'Annotations' / 'a.jpg.txt'
    assert summary['skipped'] == [
        f"{txt}:3: expected 5 whitespace-separated fields 'class x1 y1 x2 "
        "y2', got 3: '1 2 3'",
        f"{txt}:4: class label 7 outside 1..5: '7 1 1 9 9'",
    ]
    assert format_widerperson_summary(summary).endswith(
        '\n'.join(f'  {m}' for m in summary['skipped']))
    assert summary['count_mismatch'] == 1
    assert summary['instances'] == 3
    assert [a['image_id'] for a in coco['annotations']] == [1, 1, 2]


def test_test_split_without_ground_truth(tmp_path):
    root = make_widerperson(tmp_path / 'wp', {'t1': (30, 20), 't0': (40, 20)},
                            {}, {'test': ['t1', 't0']})
    (root / 'Annotations').rmdir()
    coco, summary = build_widerperson_coco(root, 'test')
    assert [i['file_name'] for i in coco['images']] == ['t0.jpg', 't1.jpg']
    assert coco['annotations'] == []
    assert summary['missing_annotations'] == []


def test_missing_image_and_annotation_are_reported(tmp_path):
    root = make_widerperson(
        tmp_path / 'wp', {'a': (30, 20), 'b': (30, 20)},
        {'a': '1\n1 1 1 5 5\n'}, {'val': ['a', 'b', 'gone', 'a']})
    with pytest.warns(UserWarning) as record:
        coco, summary = build_widerperson_coco(root, 'val')
    messages = ' '.join(str(w.message) for w in record)
    assert 'gone.jpg not found' in messages
    assert 'b.jpg.txt not found' in messages
    assert '1 duplicate image ids' in messages
    assert summary['missing_images'] == ['gone.jpg']
    assert summary['missing_annotations'] == ['b.jpg']
    assert [i['file_name'] for i in coco['images']] == ['a.jpg', 'b.jpg']
    assert summary['images_with_objects'] == 1


@pytest.mark.parametrize('missing', ['Images', 'Annotations', 'val.txt'])
def test_missing_layout(tmp_path, missing):
    root = make_widerperson(tmp_path / 'wp', {}, {}, {'val': []})
    path = root / missing
    path.unlink() if path.is_file() else path.rmdir()
    with pytest.raises(FileNotFoundError) as info:
        build_widerperson_coco(root, 'val')
    assert str(path) in str(info.value)
    assert 'Annotations/*.jpg.txt' in str(info.value)


def converter(name):
    return load_tool(f'tools/dataset_converters/{name}.py')


def test_cli(tmp_path, capsys):
    root = make_widerperson(tmp_path / 'wp', {'a': (50, 50)},
                            {'a': '1\n1 1 1 9 9\n'},
                            {'train': ['a'], 'val': ['a']})
    # Once as a user runs it, in a fresh interpreter.
    stdout = run_tool([
        sys.executable, 'tools/dataset_converters/widerperson2coco.py',
        str(root), '--classes', 'person'
    ]).stdout
    assert 'WiderPerson train' in stdout and 'WiderPerson val' in stdout
    out = root / 'annotations' / 'widerperson_val_person.json'
    assert json.loads(out.read_text())['categories'] == [
        dict(id=1, name='person')
    ]
    cli = converter('widerperson2coco')
    (root / 'Annotations' / 'a.jpg.txt').write_text('2\n1 1 1 9 9\n')
    with pytest.raises(SystemExit, match=r'a\.jpg\.txt:1: count line.*'
                       r'--no-strict'):
        cli.main([str(root), '--splits', 'val'])
    assert cli.main([str(root), '--splits', 'val', '--no-strict']) == 0
    assert (root / 'annotations' / 'widerperson_val.json').is_file()
