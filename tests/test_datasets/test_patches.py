"""Tests for :mod:`crossdino.datasets.converters.patches`."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossdino.datasets.converters.patches import (
    PATCH_PRESETS, assign_to_window, build_patch_coco, sliding_windows,
    split_coco_file, window_starts)
from tests.conftest import load_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('length,patch,stride,starts', [
    # DOTA: 0, 824, then 1648 would overrun 2000 -> shifted to 2000 - 1024
    (2000, 1024, 824, [0, 824, 976]),
    (1848, 1024, 824, [0, 824]),  # 824 + 1024 ends exactly at the border
    (1024, 1024, 824, [0]),
    (600, 1024, 824, [0]),  # shorter than a patch: one short window
    # SODA-D: 800 / 650 on a 3000 px axis
    (3000, 800, 650, [0, 650, 1300, 1950, 2200]),
    (4000, 800, 650, [0, 650, 1300, 1950, 2600, 3200]),
])
def test_window_starts(length, patch, stride, starts):
    got = window_starts(length, patch, stride)
    assert got.tolist() == starts
    assert got[-1] + min(patch, length) == length  # last window at border


def test_sliding_windows_row_major_and_short_axis():
    wins = sliding_windows(2000, 600, 1024, 824)
    assert wins.tolist() == [[0, 0, 1024, 600], [824, 0, 1848, 600],
                             [976, 0, 2000, 600]]
    wins = sliding_windows(100, 60, 50, 40)
    assert wins[:, :2].tolist() == [[0, 0], [40, 0], [50, 0], [0, 10],
                                    [40, 10], [50, 10]]
    assert ((wins[:, 2:] - wins[:, :2]) == 50).all()


def test_assign_to_window_hand_computed():
    boxes = np.array([
        [0, 0, 10, 10],  # half inside
        [20, 20, 30, 30],  # wholly inside
        [100, 0, 110, 10],  # touches the right border only
        [5, 5, 5, 9],  # empty box
    ])
    clipped, visible = assign_to_window(boxes, [5, 0, 100, 100])
    np.testing.assert_allclose(visible, [0.5, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(clipped[:2], [[0, 0, 5, 10], [15, 20, 25, 30]])


def make_full(tmp_path, write_image=True):
    """A 100x60 image whose pixels encode their coordinates (R=x, G=y)."""
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    if write_image:
        yy, xx = np.mgrid[0:60, 0:100]
        arr = np.stack([xx, yy, np.full_like(xx, 7)], -1).astype(np.uint8)
        Image.fromarray(arr).save(img_dir / 'scene.png')
    boxes = {  # id: (category, xywh)
        1: (1, [2, 2, 8, 8]),  # A: only in the top-left windows
        2: (2, [35, 20, 10, 10]),  # B: whole at x0=0, half at x0=40
        3: (1, [42, 45, 16, 10]),  # C: whole only in window (40, 10)
        4: (2, [38, 52, 14, 6]),  # F: never whole, 12/14 visible twice
    }
    anns = [
        dict(id=k, image_id=1, category_id=c, bbox=b, area=b[2] * b[3],
             iscrowd=0, difficult=k % 2) for k, (c, b) in boxes.items()
    ]
    anns.append(  # G: an ignored region of the source
        dict(id=5, image_id=1, category_id=0, bbox=[0, 55, 20, 5],
             area=100, iscrowd=1, ignore=1))
    coco = dict(
        images=[dict(id=1, file_name='scene.png', width=100, height=60)],
        annotations=anns,
        categories=[dict(id=1, name='a'), dict(id=2, name='b')])
    return coco, img_dir


def patch_view(patch_coco):
    """{file_name: sorted [(category_id, bbox, iscrowd, orig_ann_id)]}."""
    by_id = {img['id']: img['file_name'] for img in patch_coco['images']}
    view = {name: [] for name in by_id.values()}
    for ann in patch_coco['annotations']:
        view[by_id[ann['image_id']]].append(
            (ann['category_id'], ann['bbox'], ann['iscrowd'],
             ann['orig_ann_id']))
    return {k: sorted(v) for k, v in view.items()}


def test_split_hand_computed(tmp_path):
    coco, img_dir = make_full(tmp_path)
    out_dir = tmp_path / 'patches'
    patch_coco, summary = build_patch_coco(
        coco, img_dir, out_dir, patch_size=50, stride=40, min_visible=0.7)

    assert [(i['id'], i['file_name'], i['x_offset'], i['y_offset'],
             i['width'], i['height']) for i in patch_coco['images']] == [
        (1, 'scene__0_0.png', 0, 0, 50, 50),
        (2, 'scene__40_0.png', 40, 0, 50, 50),
        (3, 'scene__50_0.png', 50, 0, 50, 50),
        (4, 'scene__0_10.png', 0, 10, 50, 50),
        (5, 'scene__40_10.png', 40, 10, 50, 50),
        (6, 'scene__50_10.png', 50, 10, 50, 50),
    ]
    for img in patch_coco['images']:
        assert (img['orig_image_id'], img['orig_file_name'],
                img['orig_width'], img['orig_height']) == (1, 'scene.png',
                                                           100, 60)
    assert patch_view(patch_coco) == {
        'scene__0_0.png': [
            (0, [42.0, 45.0, 8.0, 5.0], 1, 3),  # C: 1/4 visible -> ignored
            (1, [2.0, 2.0, 8.0, 8.0], 0, 1),  # A whole
            (2, [35.0, 20.0, 10.0, 10.0], 0, 2),  # B whole
        ],
        'scene__40_0.png': [
            (0, [0.0, 20.0, 5.0, 10.0], 1, 2),  # B: 1/2 -> ignored
            (0, [2.0, 45.0, 16.0, 5.0], 1, 3),  # C: 1/2 -> ignored
        ],
        'scene__50_0.png': [(0, [0.0, 45.0, 8.0, 5.0], 1, 3)],
        'scene__0_10.png': [
            (0, [0.0, 45.0, 20.0, 5.0], 1, 5),  # G clipped to the patch
            (0, [42.0, 35.0, 8.0, 10.0], 1, 3),  # C: 1/2 -> ignored
            (2, [35.0, 10.0, 10.0, 10.0], 0, 2),  # B whole
            (2, [38.0, 42.0, 12.0, 6.0], 0, 4),  # F: 12/14 kept, clipped
        ],
        'scene__40_10.png': [
            (0, [0.0, 10.0, 5.0, 10.0], 1, 2),  # B: 1/2 -> ignored
            (1, [2.0, 35.0, 16.0, 10.0], 0, 3),  # C whole
            (2, [0.0, 42.0, 12.0, 6.0], 0, 4),  # F: 12/14 kept
        ],
        'scene__50_10.png': [
            (0, [0.0, 35.0, 8.0, 10.0], 1, 3),  # C: 1/2 -> ignored
            (0, [0.0, 42.0, 2.0, 6.0], 1, 4),  # F: 2/14 -> ignored
        ],
    }
    # object fields other than the geometry are carried over
    a = next(x for x in patch_coco['annotations'] if x['orig_ann_id'] == 1)
    assert (a['difficult'], a['area'], a['image_id']) == (1, 64.0, 1)
    cut = [x for x in patch_coco['annotations'] if 'cut_category_id' in x]
    assert all(x['ignore'] == 1 and x['category_id'] == 0 for x in cut)
    assert {x['orig_ann_id']: x['cut_category_id'] for x in cut} == {
        2: 2, 3: 1, 4: 2}
    assert [a['id'] for a in patch_coco['annotations']] == list(
        range(1, len(patch_coco['annotations']) + 1))
    assert summary['patches'] == 6
    assert summary['objects'] == 4
    assert summary['patch_objects'] == 6
    assert summary['cut_kept'] == 2
    assert summary['cut_ignored'] == 8
    assert summary['ignored_regions'] == 1
    assert summary['objects_never_whole'] == 1  # F
    assert summary['empty_patches'] == 3

    # patch pixels are the crop of the original at the offset
    for img in patch_coco['images']:
        arr = np.asarray(Image.open(out_dir / img['file_name']))
        assert arr.shape == (50, 50, 3)
        assert arr[0, 0, 0] == img['x_offset']
        assert arr[0, 0, 1] == img['y_offset']
        assert arr[49, 49, :2].tolist() == [
            img['x_offset'] + 49, img['y_offset'] + 49]


def test_drop_policy_skip_empty_and_file(tmp_path):
    coco, img_dir = make_full(tmp_path, write_image=False)
    full = tmp_path / 'full.json'
    full.write_text(json.dumps(coco))
    out = tmp_path / 'ann' / 'patches.json'
    summary = split_coco_file(
        full, img_dir, out, None, patch_size=50, stride=40, min_visible=0.7,
        cut_policy='drop', skip_empty=True)
    patch_coco = json.loads(out.read_text())
    view = patch_view(patch_coco)
    # (40, 0), (50, 0) and (50, 10) hold only cut objects: skipped
    assert sorted(view) == ['scene__0_0.png', 'scene__0_10.png',
                            'scene__40_10.png']
    assert view['scene__0_10.png'] == [
        (0, [0.0, 45.0, 20.0, 5.0], 1, 5),  # source ignored regions stay
        (2, [35.0, 10.0, 10.0, 10.0], 0, 2),
        (2, [38.0, 42.0, 12.0, 6.0], 0, 4),
    ]
    assert summary['skipped_empty'] == 3
    assert summary['cut_dropped'] == 3  # C twice, B once in kept patches
    assert summary['cut_ignored'] == 0
    assert patch_coco['categories'] == coco['categories']


def test_bad_settings(tmp_path):
    coco, img_dir = make_full(tmp_path, write_image=False)
    with pytest.raises(ValueError, match='min_visible'):
        build_patch_coco(coco, None, None, patch_size=50, stride=40,
                         min_visible=0)
    with pytest.raises(ValueError, match='cut_policy'):
        build_patch_coco(coco, None, None, patch_size=50, stride=40,
                         cut_policy='keep')
    with pytest.raises(ValueError, match='must be > 0'):
        window_starts(100, 50, 0)


def test_presets_match_the_protocols():
    assert PATCH_PRESETS['dota'] == dict(patch_size=1024, stride=824,
                                         min_visible=0.7)
    assert PATCH_PRESETS['sodad'] == dict(patch_size=800, stride=650,
                                          min_visible=0.4)


def test_split_patches_cli_in_process(tmp_path, capsys):
    coco, img_dir = make_full(tmp_path)
    full = tmp_path / 'full.json'
    full.write_text(json.dumps(coco))
    cli = load_tool('tools/dataset_converters/split_patches.py')
    out = tmp_path / 'p.json'
    assert cli.main([
        str(full), str(img_dir), '--out-json', str(out), '--out-img-dir',
        str(tmp_path / 'p'), '--patch-size', '50', '--gap', '10',
        '--img-ext', '.jpg'
    ]) == 0
    names = [i['file_name'] for i in json.loads(out.read_text())['images']]
    assert names[:2] == ['scene__0_0.jpg', 'scene__40_0.jpg']
    assert sorted(p.name for p in (tmp_path / 'p').iterdir()) == sorted(
        names)
    text = capsys.readouterr().out
    assert '50 / 40 (10)' in text and 'objects never whole in a patch  1' \
        in text
    # --stride and --gap are exclusive; a gap >= patch is refused
    with pytest.raises(SystemExit):
        cli.main([str(full), str(img_dir), '--out-json', str(out),
                  '--gap', '10', '--stride', '40'])
    with pytest.raises(SystemExit, match='stride must be > 0'):
        cli.main([str(full), str(img_dir), '--out-json', str(out),
                  '--patch-size', '50', '--gap', '50'])


def test_unreadable_and_mismatched_images_are_skipped(tmp_path):
    coco, img_dir = make_full(tmp_path)
    coco['images'].append(dict(id=2, file_name='bad.png', width=10,
                               height=10))
    coco['images'].append(dict(id=3, file_name='small.png', width=10,
                               height=10))
    (img_dir / 'bad.png').write_bytes(b'not a png')
    Image.new('RGB', (12, 10)).save(img_dir / 'small.png')
    with pytest.warns(UserWarning) as record:
        patch_coco, summary = build_patch_coco(
            coco, img_dir, tmp_path / 'out', patch_size=50, stride=40)
    assert summary['unreadable'] == ['bad.png']
    assert summary['size_mismatch'] == ['small.png']
    assert 'image is 12x10 but the JSON says 10x10' in ' '.join(
        str(r.message) for r in record)
    assert {i['orig_image_id'] for i in patch_coco['images']} == {1}
    assert summary['images'] == 1
    assert Image.MAX_IMAGE_PIXELS is not None  # the guard is restored


def test_same_stem_in_two_folders_and_exact_threshold(tmp_path):
    # NWPU keeps positive and negative images of the same name in two
    # folders; their patches must not overwrite each other
    for sub, value in (('pos', 10), ('neg', 200)):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(
            tmp_path / sub / '001.png')
    coco = dict(
        images=[dict(id=1, file_name='pos/001.png', width=20, height=20),
                dict(id=2, file_name='neg/001.png', width=20, height=20)],
        # 10 px wide, 4 px inside the window [0, 12): exactly 0.4 visible
        annotations=[dict(id=1, image_id=1, category_id=1,
                          bbox=[8, 2, 10, 5], area=50, iscrowd=0)],
        categories=[dict(id=1, name='a')])
    out = tmp_path / 'patches'
    patch_coco, summary = build_patch_coco(
        coco, tmp_path, out, patch_size=12, stride=8, min_visible=0.4,
        img_ext='jpg')
    names = [img['file_name'] for img in patch_coco['images']]
    assert len(names) == len(set(names)) == 8
    assert names[0] == 'pos__001__0_0.jpg'  # '.' added to the extension
    assert len(list(out.iterdir())) == 8
    with Image.open(out / 'neg__001__0_0.jpg') as img:
        assert abs(np.asarray(img).astype(int).mean() - 200) < 3
    # 0.4 visible is not more than min_visible=0.4: an ignored region
    # (CFINet ignores inter/area <= 0.4; the DOTA devkit keeps > thresh)
    first = [a for a in patch_coco['annotations'] if a['image_id'] == 1]
    assert [(a['category_id'], a['bbox']) for a in first] == [
        (0, [8.0, 2.0, 4.0, 5.0])]
