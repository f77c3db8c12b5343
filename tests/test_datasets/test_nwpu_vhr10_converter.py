"""Tests for :mod:`crossdino.datasets.converters.nwpu_vhr10` and its CLI."""
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from crossdino.datasets.converters.nwpu_vhr10 import (
    NWPU_VHR10_CLASSES, build_nwpu_vhr10_coco, convert_nwpu_vhr10,
    format_nwpu_summary, parse_nwpu_txt, split_coco)
from tests.conftest import load_tool, run_tool

ROOT = Path(__file__).resolve().parents[2]


def make_nwpu(root, positives, negatives, gts):
    """Write an NWPU VHR-10 folder: {stem: (w, h)} images, {stem: text} gt."""
    root = Path(root)
    for folder, images in (('positive image set', positives),
                           ('negative image set', negatives)):
        (root / folder).mkdir(parents=True)
        for stem, size in images.items():
            Image.new('RGB', size).save(root / folder / f'{stem}.jpg')
    (root / 'ground truth').mkdir()
    for stem, text in gts.items():
        with open(root / 'ground truth' / f'{stem}.txt', 'w',
                  newline='') as f:
            f.write(text)
    return root


# The real files pad numbers with spaces and end lines with a space.
GT_001 = ('(563,478),(630,573),1 \r\n'
          '(633,581),( 683,621),10 \n'
          '\n'
          '( 90, 70),(120,100),3\n'
          '(40,40),(40,50),2\n')  # zero width -> dropped


def test_exact_coco_output(tmp_path):
    root = make_nwpu(tmp_path / 'nwpu', {'001': (700, 640), '002': (100, 80)},
                     {'001': (50, 40)}, {'001': GT_001,
                                         '002': '(1,2),(11,22),5\n'})
    coco, summary = build_nwpu_vhr10_coco(root)
    assert coco['images'] == [
        dict(id=1, file_name='negative image set/001.jpg', width=50,
             height=40, image_set='negative'),
        dict(id=2, file_name='positive image set/001.jpg', width=700,
             height=640, image_set='positive'),
        dict(id=3, file_name='positive image set/002.jpg', width=100,
             height=80, image_set='positive'),
    ]
    assert coco['categories'] == [
        dict(id=i, name=n) for i, n in enumerate(NWPU_VHR10_CLASSES, 1)
    ]
    assert coco['annotations'] == [
        dict(id=1, image_id=2, category_id=1, bbox=[563.0, 478.0, 67.0, 95.0],
             area=6365.0, iscrowd=0),
        dict(id=2, image_id=2, category_id=10, bbox=[633.0, 581.0, 50.0,
                                                     40.0],
             area=2000.0, iscrowd=0),
        dict(id=3, image_id=2, category_id=3, bbox=[90.0, 70.0, 30.0, 30.0],
             area=900.0, iscrowd=0),
        dict(id=4, image_id=3, category_id=5, bbox=[1.0, 2.0, 10.0, 20.0],
             area=200.0, iscrowd=0),
    ]
    assert summary['images'] == 3 and summary['negative_images'] == 1
    assert summary['images_with_objects'] == 2
    assert summary['instances'] == 4
    assert summary['instances_per_class']['tennis court'] == 1
    assert summary['instances_per_class']['ship'] == 0
    assert summary['dropped_zero_area'] == 1
    assert summary['clipped'] == 0
    # sqrt(area): 79.8, 44.7, 30, 14.1
    assert summary['instances_per_size'] == {
        '<2': 0, 'very_tiny': 0, 'tiny': 1, 'small': 1, 'medium+': 2}
    table = format_nwpu_summary(summary)
    assert 'storage tank' in table and '1 negative' in table


def test_clipping(tmp_path):
    root = make_nwpu(tmp_path / 'nwpu', {'001': (100, 80)}, {},
                     {'001': '(90,70),(120,100),3\n(120,10),(130,20),3\n'})
    coco, summary = build_nwpu_vhr10_coco(root)
    assert [a['bbox'] for a in coco['annotations']] == [[90.0, 70.0, 10.0,
                                                         10.0]]
    assert summary['clipped'] == 1 and summary['dropped_zero_area'] == 1


@pytest.mark.parametrize('line,reason', [
    ('(1,2),(3,4)', "expected '(x1,y1),(x2,y2),class'"),
    ('1,2,3,4,5', "expected '(x1,y1),(x2,y2),class'"),
    ('(1,2),(3,x),5', "expected '(x1,y1),(x2,y2),class'"),
    ('(1,2),(3,4),11', 'class 11 outside 1..10'),
    ('(1,2),(3,4),0', 'class 0 outside 1..10'),
    ('(5,2),(3,4),1', 'bottom-right corner above or left of the top-left '
     'one (box size -2x2)'),
])
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    root = make_nwpu(tmp_path / 'nwpu', {'001': (50, 50)}, {},
                     {'001': f'(1,1),(9,9),1\n\n{line}\n'})
    txt = root / 'ground truth' / '001.txt'
    with pytest.raises(ValueError) as info:
        convert_nwpu_vhr10(root, tmp_path / 'out')
    assert str(info.value) == f'{txt}:3: {reason}: {line!r}'
    assert not (tmp_path / 'out').exists()
    rows, skipped = parse_nwpu_txt(txt, strict=False)
    assert rows.tolist() == [[1.0, 1.0, 9.0, 9.0, 1.0]]
    assert skipped == [str(info.value)]
    summary = convert_nwpu_vhr10(root, tmp_path / 'out', strict=False)
    assert summary['malformed'] == 1 and summary['skipped'] == skipped
    assert format_nwpu_summary(summary).endswith(
        f'skipped malformed lines (--no-strict):\n  {skipped[0]}')


def test_missing_and_orphan_ground_truth(tmp_path):
    root = make_nwpu(tmp_path / 'nwpu', {'001': (50, 50), '002': (50, 50)},
                     {}, {'001': '(1,1),(9,9),1\n', '777': '(1,1),(9,9),1\n'})
    with pytest.warns(UserWarning) as record:
        coco, summary = build_nwpu_vhr10_coco(root)
    messages = ' '.join(str(w.message) for w in record)
    assert 'positive image set/002.jpg: positive image without' in messages
    assert '777.txt' in messages
    assert summary['missing_annotations'] == ['positive image set/002.jpg']
    assert summary['orphan_annotations'] == ['777']
    assert len(coco['images']) == 2 and len(coco['annotations']) == 1


def test_without_negative_images(tmp_path):
    root = make_nwpu(tmp_path / 'nwpu', {'001': (50, 50)}, {'001': (50, 50)},
                     {'001': '(1,1),(9,9),1\n'})
    coco, summary = build_nwpu_vhr10_coco(root, include_negative=False)
    assert [i['image_set'] for i in coco['images']] == ['positive']
    assert summary['negative_images'] == 0


def fake_coco(num_pos, num_neg):
    """Images p000.., n000.. with one annotation per positive image."""
    images = [dict(id=i + 1, file_name=f'p{i:03d}.jpg', image_set='positive',
                   width=10, height=10) for i in range(num_pos)]
    images += [dict(id=num_pos + i + 1, file_name=f'n{i:03d}.jpg',
                    image_set='negative', width=10, height=10)
               for i in range(num_neg)]
    anns = [dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[0, 0, 2, 2],
                 area=4, iscrowd=0, src=f'p{i:03d}.jpg')
            for i in range(num_pos)]
    return dict(images=images, annotations=anns,
                categories=[dict(id=1, name='airplane')])


def test_split_is_seeded_stratified_and_renumbered():
    coco = fake_coco(650, 150)  # the real NWPU VHR-10 counts
    subsets = split_coco(coco, (0.6, 0.2, 0.2), seed=0)
    counts = {name: (sum(i['image_set'] == 'positive' for i in s['images']),
                     sum(i['image_set'] == 'negative' for i in s['images']))
              for name, s in subsets.items()}
    assert counts == dict(train=(390, 90), val=(130, 30), test=(130, 30))
    names = [{i['file_name'] for i in s['images']} for s in subsets.values()]
    assert set.union(*names) == {i['file_name'] for i in coco['images']}
    assert sum(map(len, names)) == 800  # disjoint
    for sub in subsets.values():
        assert [i['id'] for i in sub['images']] == list(
            range(1, len(sub['images']) + 1))
        files = [i['file_name'] for i in sub['images']]
        assert files == sorted(files)
        assert [a['id'] for a in sub['annotations']] == list(
            range(1, len(sub['annotations']) + 1))
        # Each annotation still points to its own (renumbered) image.
        by_id = {i['id']: i['file_name'] for i in sub['images']}
        assert all(by_id[a['image_id']] == a['src']
                   for a in sub['annotations'])
        assert len(sub['annotations']) == sum(
            i['image_set'] == 'positive' for i in sub['images'])
    again = split_coco(coco, (0.6, 0.2, 0.2), seed=0)
    assert again == subsets
    other = split_coco(coco, (0.6, 0.2, 0.2), seed=1)
    assert other['test']['images'] != subsets['test']['images']
    two = split_coco(coco, (7, 3), seed=0)
    assert sorted(two) == ['test', 'train']
    assert len(two['train']['images']) == 455 + 105


@pytest.mark.parametrize('ratios,match', [((0.5, 0.5, 0.0), 'positive'),
                                          ((0.2, ) * 4, '1 to 3')])
def test_split_rejects_bad_ratios(ratios, match):
    with pytest.raises(ValueError, match=match):
        split_coco(fake_coco(3, 0), ratios)


def converter(name):
    return load_tool(f'tools/dataset_converters/{name}.py')


def test_cli(tmp_path, capsys):
    root = make_nwpu(tmp_path / 'nwpu', {f'{i:03d}': (40, 30)
                                         for i in range(1, 6)},
                     {'001': (40, 30)},
                     {f'{i:03d}': '(1,1),(9,9),2\n' for i in range(1, 6)})
    # Once as a user runs it, in a fresh interpreter.
    stdout = run_tool([
        sys.executable, 'tools/dataset_converters/nwpu_vhr10_2coco.py',
        str(root), '--split', '0.6', '0.4', '--seed', '3'
    ]).stdout
    assert 'split [0.6, 0.4] seed 3' in stdout
    train = json.loads(
        (root / 'annotations' / 'nwpu_vhr10_train.json').read_text())
    test = json.loads(
        (root / 'annotations' / 'nwpu_vhr10_test.json').read_text())
    # 5 positives -> 3 + 2, 1 negative -> round(0.6) = 1 + 0
    assert len(train['images']) == 4 and len(test['images']) == 2
    assert len(train['annotations']) == 3
    cli = converter('nwpu_vhr10_2coco')
    (root / 'ground truth' / '002.txt').write_text('(1,1),(9,9)\n')
    with pytest.raises(SystemExit, match=r'002\.txt:1: .*--no-strict'):
        cli.main([str(root)])
    capsys.readouterr()
    assert cli.main([str(root), '--no-strict']) == 0
    assert (f"{root / 'ground truth' / '002.txt'}:1: expected "
            "'(x1,y1),(x2,y2),class': '(1,1),(9,9)'"
            in capsys.readouterr().out)
    with pytest.raises(SystemExit):
        cli.main([str(root), '--split', '0.5', '0'])
