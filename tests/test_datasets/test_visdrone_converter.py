"""Tests for :mod:`crossdino.datasets.converters.visdrone` and its CLI."""
import json
import os.path as osp
from pathlib import Path

import pytest
from PIL import Image

from crossdino.datasets.converters.common import MAX_SKIPPED
from crossdino.datasets.converters.visdrone import (
    VISDRONE_CLASSES, build_visdrone_coco, convert_visdrone_split,
    format_summary, parse_visdrone_txt)
from tests.conftest import load_tool

ROOT = Path(__file__).resolve().parents[2]


def make_split(folder, images, txts):
    """Write a VisDrone split: ``images`` {stem: (w, h)}, ``txts`` {stem: str}.

    Text is written byte for byte (``newline=''``) so CRLF survives.
    """
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True)
    (folder / 'annotations').mkdir()
    for stem, size in images.items():
        Image.new('RGB', size).save(folder / 'images' / f'{stem}.jpg')
    for stem, text in txts.items():
        with open(folder / 'annotations' / f'{stem}.txt', 'w',
                  newline='') as f:
            f.write(text)
    return folder


def test_exact_coco_output(tmp_path):
    txt = ('10,20,30,40,1,4,0,1\r\n'  # CRLF
           '\r\n'  # empty line
           '0,0,5,6,1,1,1,2,\n'  # trailing comma
           '90,70,20,20,1,10,0,0 \n'  # crosses the corner -> clipped
           '5,5,8,9,0,0,0,0\n'  # ignored region
           '50,60,7,3,0,11,0,0\n'  # others -> ignored region
           '40,40,0,10,1,2,0,0\n'  # zero width -> dropped
           '120,10,5,5,1,3,0,0')  # outside the image, no final newline
    split = make_split(tmp_path / 'val', {
        'b': (100, 80),
        'a': (64, 48)
    }, {'b': txt})
    out = tmp_path / 'out' / 'val.json'
    summary = convert_visdrone_split(split, out)
    coco = json.loads(out.read_text())

    assert coco['images'] == [
        dict(id=1, file_name='a.jpg', width=64, height=48),
        dict(id=2, file_name='b.jpg', width=100, height=80),
    ]
    assert coco['categories'] == [
        dict(id=i, name=n) for i, n in enumerate(VISDRONE_CLASSES, 1)
    ]
    assert coco['annotations'] == [
        dict(id=1, image_id=2, category_id=4, bbox=[10.0, 20.0, 30.0, 40.0],
             area=1200.0, iscrowd=0, truncation=0, occlusion=1),
        dict(id=2, image_id=2, category_id=1, bbox=[0.0, 0.0, 5.0, 6.0],
             area=30.0, iscrowd=0, truncation=1, occlusion=2),
        dict(id=3, image_id=2, category_id=10, bbox=[90.0, 70.0, 10.0, 10.0],
             area=100.0, iscrowd=0, truncation=0, occlusion=0),
        dict(id=4, image_id=2, category_id=0, bbox=[5.0, 5.0, 8.0, 9.0],
             area=72.0, iscrowd=1, ignore=1, visdrone_category=0),
        dict(id=5, image_id=2, category_id=0, bbox=[50.0, 60.0, 7.0, 3.0],
             area=21.0, iscrowd=1, ignore=1, visdrone_category=11),
    ]
    assert summary['images'] == 2
    assert summary['images_with_objects'] == 1
    assert summary['instances'] == 3
    assert summary['instances_per_class']['car'] == 1
    assert summary['instances_per_class']['people'] == 0
    assert summary['ignored_regions'] == 2
    assert summary['ignored_regions_per_category'] == {0: 1, 11: 1}
    assert summary['clipped'] == 1
    assert summary['dropped_zero_area'] == 2
    assert summary['malformed'] == 0
    # sqrt(area): 34.6, 5.5, 10
    assert summary['instances_per_size'] == {
        '<2': 0, 'very_tiny': 1, 'tiny': 1, 'small': 0, 'medium+': 1}
    assert summary['out_json'] == str(out)
    # Atomic write leaves no temporary file behind.
    assert sorted(p.name for p in out.parent.iterdir()) == ['val.json']

    table = format_summary(summary)
    assert all(name in table for name in VISDRONE_CLASSES)
    assert 'ignored regions' in table and str(out) in table


def test_ignored_regions_invisible_to_pycocotools(tmp_path):
    from pycocotools.coco import COCO
    split = make_split(tmp_path / 's', {'a': (50, 50)},
                       {'a': '1,1,9,9,1,4,0,0\n2,2,5,5,0,0,0,0\n'})
    out = tmp_path / 'a.json'
    convert_visdrone_split(split, out)
    coco = COCO(str(out))
    assert coco.getCatIds() == list(range(1, 11))
    assert coco.getAnnIds(catIds=coco.getCatIds()) == [1]
    assert coco.getAnnIds(imgIds=[1]) == [1, 2]


@pytest.mark.parametrize('line,reason', [
    ('1,2,3,4,1,1,0', 'got 7 fields'),
    ('1,2,3,4,1,1,0,0,9', 'got 9 fields'),
    ('1,2,3,4,1,x,0,0', "non-integer field 'x'"),
    ('1,2,3.5,4,1,1,0,0', "non-integer field '3.5'"),
    ('1,2,3,4,1,12,0,0', 'object_category 12 outside 0..11'),
    ('1,2,3,4,1,-1,0,0', 'object_category -1 outside 0..11'),
    ('1,2,-3,4,1,1,0,0', 'negative bbox size -3x4'),
])
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    split = make_split(tmp_path / 's', {'a': (50, 50)},
                       {'a': f'1,1,9,9,1,4,0,0\n\n{line}\n'})
    txt = split / 'annotations' / 'a.txt'
    with pytest.raises(ValueError) as info:
        convert_visdrone_split(split, tmp_path / 'a.json')
    msg = str(info.value)
    assert msg.startswith(f'{txt}:3: ')
    assert reason in msg and line in msg
    assert not (tmp_path / 'a.json').exists()


def test_non_strict_skips_and_names_lines(tmp_path):
    split = make_split(tmp_path / 's', {'a': (50, 50)}, {
        'a': '1,1,9,9,1,4,0,0\n1,2,3\n1,1,9,9,1,99,0,0\n2,2,4,4,1,5,0,0\n'
    })
    txt = split / 'annotations' / 'a.txt'
    summary = convert_visdrone_split(
        split, tmp_path / 'a.json', strict=False)
    assert summary['malformed'] == 2
    assert summary['instances'] == 2
    # Each skipped line with file:line, reason and text, as strict raises it.
    skipped = [
        f"{txt}:2: expected 8 comma-separated integers, got 3 fields: "
        "'1,2,3'",
        f"{txt}:3: object_category 99 outside 0..11: '1,1,9,9,1,99,0,0'",
    ]
    assert summary['skipped'] == skipped
    table = format_summary(summary)
    assert table.endswith('skipped malformed lines (--no-strict):\n' +
                          '\n'.join(f'  {m}' for m in skipped))
    rows, parsed_skipped = parse_visdrone_txt(txt, strict=False)
    assert rows.shape == (2, 8) and parsed_skipped == skipped
    # A clean conversion prints no such list.
    summary = convert_visdrone_split(
        make_split(tmp_path / 'ok', {'a': (50, 50)},
                   {'a': '1,1,9,9,1,4,0,0\n'}), tmp_path / 'b.json',
        strict=False)
    assert summary['skipped'] == []
    assert '--no-strict' not in format_summary(summary)


def test_non_strict_list_is_capped(tmp_path):
    bad = ''.join(f'{i},x\n' for i in range(MAX_SKIPPED + 5))
    split = make_split(tmp_path / 's', {'a': (50, 50), 'b': (50, 50)},
                       {'a': bad, 'b': '1,y\n'})
    summary = convert_visdrone_split(split, tmp_path / 'a.json',
                                     strict=False)
    assert summary['malformed'] == MAX_SKIPPED + 6
    assert len(summary['skipped']) == MAX_SKIPPED
    assert summary['skipped'][-1].startswith(
        f"{split / 'annotations' / 'a.txt'}:{MAX_SKIPPED}: ")
    assert format_summary(summary).endswith('\n  ... and 6 more')


def test_parse_accepts_bom_whitespace_and_trailing_comma(tmp_path):
    txt = tmp_path / 'a.txt'
    txt.write_bytes(b'\xef\xbb\xbf'  # UTF-8 BOM
                    b'1,2,3,4,1,5,0,0\r\n 5 , 6,7,8,0,11,0,0, \r\n')
    rows, skipped = parse_visdrone_txt(txt)
    assert rows.tolist() == [[1, 2, 3, 4, 1, 5, 0, 0],
                             [5, 6, 7, 8, 0, 11, 0, 0]]
    assert skipped == []


def test_images_without_objects(tmp_path):
    # 'a' has no .txt, 'b' an empty one, 'c' only an ignored region.
    split = make_split(tmp_path / 's', {
        'a': (30, 20),
        'b': (30, 20),
        'c': (30, 20)
    }, {
        'b': '',
        'c': '1,1,5,5,0,0,0,0\n'
    })
    coco, summary = build_visdrone_coco(split)
    assert [img['file_name'] for img in coco['images']] == [
        'a.jpg', 'b.jpg', 'c.jpg'
    ]
    assert len(coco['annotations']) == 1
    assert summary['images'] == 3
    assert summary['images_with_objects'] == 0
    assert summary['instances'] == 0
    assert summary['ignored_regions'] == 1


def test_unreadable_image_and_orphan_annotation(tmp_path):
    split = make_split(tmp_path / 's', {
        'a': (30, 20),
        'c': (40, 20)
    }, {
        'a': '1,1,5,5,1,1,0,0\n',
        'b': '1,1,5,5,1,1,0,0\n',
        'c': '1,1,5,5,1,2,0,0\n',
        'orphan': '1,1,5,5,1,1,0,0\n'
    })
    (split / 'images' / 'b.jpg').write_bytes(b'not a jpeg')
    with pytest.warns(UserWarning) as record:
        coco, summary = build_visdrone_coco(split)
    messages = [str(w.message) for w in record]
    assert any('b.jpg' in m and 'unreadable' in m for m in messages)
    assert any('orphan.txt' in m for m in messages)
    assert summary['unreadable'] == ['b.jpg']
    assert summary['orphan_annotations'] == ['orphan']
    # Ids stay contiguous and the skipped image's boxes are not written.
    assert [(i['id'], i['file_name']) for i in coco['images']] == [
        (1, 'a.jpg'), (2, 'c.jpg')
    ]
    assert [(a['id'], a['image_id'], a['category_id'])
            for a in coco['annotations']] == [(1, 1, 1), (2, 2, 2)]
    table = format_summary(summary)
    assert 'b.jpg' in table and 'orphan' in table


def test_min_size(tmp_path):
    split = make_split(tmp_path / 's', {'a': (50, 50)}, {
        'a': '1,1,2,9,1,1,0,0\n1,1,3,9,1,1,0,0\n48,1,9,9,1,1,0,0\n'
    })
    _, summary = build_visdrone_coco(split, min_size=2)
    # widths 2, 3 and 2 after clipping: two are <= 2.
    assert summary['instances'] == 1
    assert summary['dropped_zero_area'] == 2
    assert summary['clipped'] == 0


@pytest.mark.parametrize('missing', ['images', 'annotations'])
def test_missing_folder(tmp_path, missing):
    split = make_split(tmp_path / 's', {}, {})
    (split / missing).rmdir()
    with pytest.raises(FileNotFoundError) as info:
        convert_visdrone_split(split, tmp_path / 'a.json')
    assert str(split / missing) in str(info.value)
    assert 'annotations/*.txt' in str(info.value)


def test_failed_conversion_keeps_previous_json(tmp_path):
    split = make_split(tmp_path / 's', {'a': (50, 50)},
                       {'a': '1,1,9,9,1,4,0,0\n'})
    out = tmp_path / 'a.json'
    convert_visdrone_split(split, out)
    before = out.read_bytes()
    (split / 'annotations' / 'a.txt').write_text('garbage\n')
    with pytest.raises(ValueError):
        convert_visdrone_split(split, out)
    assert out.read_bytes() == before


def converter(name):
    return load_tool(f'tools/dataset_converters/{name}.py')


def test_cli(tmp_path, capsys):
    cli = converter('visdrone2coco')
    make_split(tmp_path / 'VisDrone2019-DET-val', {'a': (50, 50)},
               {'a': '1,1,9,9,1,4,0,0\n'})
    out_dir = tmp_path / 'out'
    assert cli.main([str(tmp_path), '--out-dir', str(out_dir)]) == 0
    stdout = capsys.readouterr().out
    assert 'skip train' in stdout and 'skip test-dev' in stdout
    assert 'pedestrian' in stdout
    out = out_dir / 'annotations' / 'visdrone2019-det-val.json'
    assert len(json.loads(out.read_text())['annotations']) == 1

    with pytest.raises(SystemExit, match='none of'):
        cli.main([str(tmp_path), '--splits', 'train'])

    (tmp_path / 'VisDrone2019-DET-val' / 'annotations' / 'a.txt').write_text(
        '1,2\n')
    with pytest.raises(SystemExit, match=r'a\.txt:1: .*--no-strict'):
        cli.main([str(tmp_path)])
    assert cli.main([str(tmp_path), '--no-strict']) == 0
    assert osp.isfile(tmp_path / 'annotations' / 'visdrone2019-det-val.json')
