"""Tests for :mod:`crossdino.datasets.converters.coco_check` and its CLI."""
import json
import sys
from pathlib import Path

import pytest

from crossdino.datasets.converters.coco_check import (ISSUE_KINDS,
                                                      check_coco_file,
                                                      format_coco_report,
                                                      validate_coco)
from tests.conftest import load_tool, run_tool

ROOT = Path(__file__).resolve().parents[2]


def broken_coco():
    """One instance of every issue kind, plus valid entries."""
    return dict(
        info=dict(description='kept as is'),
        images=[
            dict(id=1, file_name='a.jpg', width=100, height=80),
            dict(id=2, file_name='b.jpg', width=50, height=50),
            dict(id=2, file_name='dup.jpg', width=50, height=50),
            dict(id=3, file_name='nosize.jpg', width=0, height=50),
            dict(id=4, file_name='empty.jpg', width=20, height=20),
        ],
        categories=[dict(id=1, name='ship'), dict(id=2, name='vehicle'),
                    dict(id=2, name='again')],
        annotations=[
            dict(id=1, image_id=1, category_id=1, bbox=[10, 20, 4, 5],
                 area=20, iscrowd=0),
            dict(id=2, image_id=1, category_id=2, bbox=[90, 70, 20, 20],
                 area=400, iscrowd=0),  # clipped to 10x10
            dict(id=3, image_id=1, category_id=0, bbox=[0, 0, 30, 30],
                 iscrowd=1, ignore=1),  # ignored region, no area
            dict(id=3, image_id=2, category_id=1, bbox=[1, 1, 40, 40],
                 area=1600, iscrowd=0),  # duplicate id
            dict(id=5, image_id=9, category_id=1, bbox=[1, 1, 2, 2]),
            dict(id=6, image_id=1, category_id=7, bbox=[1, 1, 2, 2]),
            dict(id=7, image_id=1, category_id=1, bbox=[1, 1, 2]),
            dict(id=8, image_id=1, category_id=1, bbox=[1, 1, 'x', 2]),
            dict(id=9, image_id=1, category_id=1, bbox=[1, 1, -2, 2]),
            dict(id=10, image_id=1, category_id=1, bbox=[120, 1, 5, 5]),
            dict(id=11, image_id=3, category_id=1, bbox=[1, 1, 2, 2]),
        ])


def test_every_issue_is_counted_and_fixed():
    fixed, report = validate_coco(broken_coco(), source='x.json')
    assert report['issues'] == dict(
        duplicate_category_id=1, duplicate_image_id=1, bad_image_size=1,
        missing_file=0, undecodable_file=0, duplicate_ann_id=1,
        unknown_image=1, of_dropped_image=1, unknown_category=1, bad_bbox=2,
        negative_size=1, zero_area=1, clipped=1,
        bad_area=1)  # bad_area: the region's area
    assert report['num_issues'] == 13
    assert (report['images'], report['annotations'],
            report['categories']) == (5, 11, 3)
    assert (report['kept_images'], report['kept_annotations']) == (3, 4)
    assert report['instances'] == 3 and report['ignored_regions'] == 1
    assert report['instances_per_class'] == dict(ship=2, vehicle=1)
    # sqrt(area): 4.5, 10, 40
    assert report['instances_per_size'] == {
        '<2': 0, 'very_tiny': 1, 'tiny': 1, 'small': 0, 'medium+': 1}
    assert report['images_without_annotations'] == 1
    assert report['empty_image_names'] == ['empty.jpg']
    assert report['messages'][:4] == [
        "x.json: categories[2]: id 2 repeated or not an integer",
        'x.json: images[2] (id 2): id repeated or missing',
        "x.json: images[3] (id 3): width/height 0x50 not positive numbers",
        'x.json: annotations[3] (id 3): id repeated or missing',
    ]
    assert ("x.json: annotations[7] (id 8): bbox [1, 1, 'x', 2] is not 4 "
            'finite numbers') in report['messages']
    assert ('x.json: annotations[1] (id 2): bbox [90, 70, 20, 20] crosses '
            'the 100x80 image border') in report['messages']
    assert ('x.json: annotations[10] (id 11): image_id 3 was dropped'
            in report['messages'])

    assert fixed['info'] == dict(description='kept as is')
    assert [c['name'] for c in fixed['categories']] == ['ship', 'vehicle']
    assert [i['file_name'] for i in fixed['images']] == [
        'a.jpg', 'b.jpg', 'empty.jpg'
    ]
    # Duplicate annotation ids: all kept annotations renumbered 1..
    assert fixed['annotations'] == [
        dict(id=1, image_id=1, category_id=1, bbox=[10, 20, 4, 5], area=20,
             iscrowd=0),
        dict(id=2, image_id=1, category_id=2, bbox=[90.0, 70.0, 10.0, 10.0],
             area=100.0, iscrowd=0),
        dict(id=3, image_id=1, category_id=0, bbox=[0, 0, 30, 30],
             iscrowd=1, ignore=1, area=900.0),
        dict(id=4, image_id=2, category_id=1, bbox=[1, 1, 40, 40],
             area=1600, iscrowd=0),
    ]
    # A second pass over the cleaned copy finds nothing.
    _, again = validate_coco(fixed)
    assert again['num_issues'] == 0
    assert again['instances_per_size'] == report['instances_per_size']

    table = format_coco_report(report)
    for label in ISSUE_KINDS.values():
        assert label in table
    assert 'x.json: annotations[3] (id 3)' in table


def test_clean_file_keeps_ids_and_min_size():
    coco = dict(images=[dict(id=7, file_name='a.jpg', width=10, height=10)],
                annotations=[dict(id=40, image_id=7, category_id=1,
                                  bbox=[0, 0, 2, 9], area=18),
                             dict(id=41, image_id=7, category_id=1,
                                  bbox=[0, 0, 3, 9], area=27)],
                categories=[dict(id=1, name='a')])
    fixed, report = validate_coco(coco)
    assert report['num_issues'] == 0 and fixed == coco
    assert not report['category_zero']
    assert 'category id 0' not in format_coco_report(report)
    fixed, report = validate_coco(coco, min_size=2)
    assert report['issues']['zero_area'] == 1
    assert [a['id'] for a in fixed['annotations']] == [41]


def test_category_id_zero_is_flagged():
    # mmdet's VOC -> COCO converter numbers categories from 0.
    coco = dict(images=[dict(id=0, file_name='a.jpg', width=9, height=9)],
                annotations=[dict(id=0, image_id=0, category_id=0,
                                  bbox=[1, 1, 3, 3], area=9, iscrowd=1)],
                categories=[dict(id=0, name='aeroplane')])
    _, report = validate_coco(coco)
    # A difficult object of a listed category, not an ignored region.
    assert report['num_issues'] == 0 and report['ignored_regions'] == 0
    assert report['instances_per_class'] == dict(aeroplane=1)
    assert report['category_zero']
    assert 'category id 0 is listed' in format_coco_report(report)


def test_missing_files_with_img_dir(tmp_path):
    (tmp_path / 'a.jpg').write_bytes(b'')
    coco = dict(images=[dict(id=1, file_name='a.jpg', width=5, height=5),
                        dict(id=2, file_name='gone.jpg', width=5, height=5)],
                annotations=[dict(id=1, image_id=2, category_id=1,
                                  bbox=[0, 0, 1, 1])],
                categories=[dict(id=1, name='a')])
    fixed, report = validate_coco(coco, tmp_path)
    assert report['issues']['missing_file'] == 1
    assert report['issues']['of_dropped_image'] == 1
    assert f"file 'gone.jpg' not in {tmp_path}" in report['messages'][0]
    assert [i['id'] for i in fixed['images']] == [1]


def write_bad_images(folder):
    """A good PNG and the three ways an image file breaks: empty, cut off
    after the header (an interrupted copy), not an image at all."""
    import numpy as np
    from PIL import Image
    noise = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    Image.fromarray(noise).save(folder / 'good.png')
    data = (folder / 'good.png').read_bytes()
    (folder / 'empty.png').write_bytes(b'')
    (folder / 'cut.png').write_bytes(data[:len(data) * 3 // 5])
    (folder / 'text.jpg').write_bytes(b'<html>404 Not Found</html>')
    names = ('good.png', 'empty.png', 'cut.png', 'text.jpg')
    return dict(
        images=[dict(id=i, file_name=n, width=64, height=48)
                for i, n in enumerate(names, 1)],
        annotations=[dict(id=i, image_id=i, category_id=1, bbox=[1, 1, 2, 2],
                          area=4) for i in (1, 2)],
        categories=[dict(id=1, name='a')])


def test_decode_reports_bad_images(tmp_path):
    coco = write_bad_images(tmp_path)
    # Existence only: every file is there.
    _, report = validate_coco(coco, tmp_path)
    assert report['num_issues'] == 0 and report['undecodable_files'] == []

    fixed, report = validate_coco(coco, tmp_path, decode=True)
    assert report['issues']['undecodable_file'] == 3
    bad = report['undecodable_files']
    assert [line.split(': ')[0] for line in bad] == [
        str(tmp_path / n) for n in ('empty.png', 'cut.png', 'text.jpg')]
    assert bad[0].endswith(': empty file (0 bytes)')
    assert bad[1].endswith(': OSError: image file is truncated')
    assert 'cannot identify image file' in bad[2]
    # Dropped from the fixed copy with their annotations.
    assert [i['file_name'] for i in fixed['images']] == ['good.png']
    assert report['issues']['of_dropped_image'] == 1
    table = format_coco_report(report)
    assert 'images that do not decode:' in table
    assert f'  {tmp_path / "empty.png"}: empty file (0 bytes)' in table


def test_decode_cli_exit_status(tmp_path, capsys):
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(write_bad_images(tmp_path)))
    cli = converter('check_coco')
    assert cli.main([str(ann), '--img-dir', str(tmp_path)]) == 0
    capsys.readouterr()
    assert cli.main([str(ann), '--img-dir', str(tmp_path), '--decode']) == 1
    out = capsys.readouterr().out
    assert f'{tmp_path / "text.jpg"}: ' in out
    assert 'images whose file does not decode (dropped)' in out
    with pytest.raises(SystemExit, match='--decode needs --img-dir'):
        cli.main([str(ann), '--decode'])


def test_invalid_inputs(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(ValueError, match=r'bad\.json:2:12: invalid JSON'):
        check_coco_file(bad)
    with pytest.raises(ValueError, match='"annotations" must be a list'):
        validate_coco(dict(images=[], categories=[]))
    with pytest.raises(ValueError, match='top level must be a JSON object'):
        validate_coco([])


def converter(name):
    return load_tool(f'tools/dataset_converters/{name}.py')


def test_cli(tmp_path, capsys):
    src = tmp_path / 'in.json'
    src.write_text(json.dumps(broken_coco()))
    # Once in a fresh interpreter, as a user runs it.
    out = tmp_path / 'fixed.json'
    proc = run_tool([sys.executable, 'tools/dataset_converters/check_coco.py',
                     str(src), '--fix', str(out)])
    assert 'issues' in proc.stdout and str(out) in proc.stdout
    assert 'in.json: categories[2]: id 2 repeated' in proc.stdout
    assert validate_coco(json.loads(out.read_text()))[1]['num_issues'] == 0

    cli = converter('check_coco')
    assert cli.main([str(src)]) == 1  # problems, not fixed
    assert cli.main([str(out)]) == 0  # clean
    capsys.readouterr()
    (tmp_path / 'bad.json').write_text('[')
    assert cli.main([str(tmp_path / 'bad.json')]) == 2
    assert 'invalid JSON' in capsys.readouterr().err
    with pytest.raises(SystemExit, match='exactly one input'):
        cli.main([str(src), str(out), '--fix', str(tmp_path / 'x.json')])


def test_repeat_of_a_dropped_image_and_mmdet_dropped_boxes():
    coco = dict(
        images=[dict(id=1, file_name='bad.jpg', width=0, height=9),
                dict(id=1, file_name='again.jpg', width=9, height=9),
                dict(id=2, file_name='ok.jpg', width=9, height=9)],
        annotations=[
            dict(id=1, image_id=1, category_id=1, bbox=[1, 1, 3, 3], area=9),
            # area 0 and a 0.5 px high box: mmdet's CocoDataset skips both
            dict(id=2, image_id=2, category_id=1, bbox=[1, 1, 3, 3], area=0),
            dict(id=3, image_id=2, category_id=1, bbox=[1, 1, 5, 0.5],
                 area=2.5)],
        categories=[dict(id=1, name='a')])
    fixed, report = validate_coco(coco, source='x.json')
    # the second id 1 is a repeat even though the first one was dropped,
    # and its annotation goes with the dropped image
    assert report['issues']['duplicate_image_id'] == 1
    assert report['issues']['bad_image_size'] == 1
    assert report['issues']['of_dropped_image'] == 1
    assert [img['file_name'] for img in fixed['images']] == ['ok.jpg']
    assert report['issues']['bad_area'] == 1
    assert [a['area'] for a in fixed['annotations']] == [9.0, 2.5]
    assert report['sub_pixel_objects'] == 1
    assert 'objects under 1 px' in format_coco_report(report)
