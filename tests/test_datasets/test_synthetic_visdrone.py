"""Tests for :mod:`crossdino.datasets.synthetic_visdrone` and its CLI."""
import json
from pathlib import Path

import numpy as np
import pytest

from crossdino.datasets.converters.visdrone import (build_visdrone_coco,
                                                    parse_visdrone_txt)
from crossdino.datasets.synthetic_visdrone import (
    generate_synthetic_visdrone, synthetic_params, synthetic_up_to_date)
from tests.conftest import load_tool

ROOT = Path(__file__).resolve().parents[2]
# Small but with enough objects for every class, "others" and truncation.
SMALL = dict(num_images={'train': 6, 'val': 2}, img_size=(128, 96), seed=0)


@pytest.fixture(scope='module')
def small_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    result = generate_synthetic_visdrone(root, **SMALL)
    return root, result


def tree_bytes(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(Path(root).rglob('*')) if p.is_file()
    }


def test_layout_and_line_format(small_root):
    root, result = small_root
    assert result['splits']['train']['images'] == 6
    assert json.loads((root / 'synthetic_meta.json').read_text())['params'] \
        == result['params']
    for split, n in SMALL['num_images'].items():
        folder = root / f'VisDrone2019-DET-{split}'
        stems = [f'{i:07d}' for i in range(1, n + 1)]
        assert sorted(p.stem for p in (folder / 'images').iterdir()) == stems
        assert sorted(
            p.stem for p in (folder / 'annotations').iterdir()) == stems
    raw = (root / 'VisDrone2019-DET-train' / 'annotations' /
           '0000001.txt').read_bytes()
    assert raw.endswith(b'\r\n') and b'\n' not in raw.replace(b'\r\n', b'')
    rows = np.concatenate([
        parse_visdrone_txt(p)[0]
        for p in sorted(root.glob('VisDrone2019-DET-*/annotations/*.txt'))
    ])
    is_obj = (rows[:, 5] >= 1) & (rows[:, 5] <= 10)
    # score 1 for objects, 0 for ignored regions and "others".
    np.testing.assert_array_equal(rows[:, 4], is_obj.astype(int))
    assert set(rows[:, 6]) <= {0, 1} and set(rows[:, 7]) <= {0, 1, 2}


def test_converts_with_expected_content(small_root):
    root, result = small_root
    coco, summary = build_visdrone_coco(root / 'VisDrone2019-DET-train')
    assert summary['images'] == summary['images_with_objects'] == 6
    assert all(v > 0 for v in summary['instances_per_class'].values())
    assert summary['instances'] == result['splits']['train']['objects']
    assert summary['ignored_regions_per_category'][0] > 0
    assert summary['ignored_regions_per_category'][11] > 0
    # The writer clips: nothing left for the converter to fix.
    assert summary['clipped'] == summary['dropped_zero_area'] == 0

    objs = [a for a in coco['annotations'] if a['category_id'] > 0]
    wh = np.array([a['bbox'][2:] for a in objs])
    assert wh.min() >= 2 and wh.max() <= 64
    side = np.sqrt(wh.prod(axis=1))
    assert side.min() >= 2 and side.max() <= 64
    # Skewed to small: most objects are under 16 px.
    assert np.median(side) < 16
    assert summary['instances_per_size']['very_tiny'] > 0
    assert summary['instances_per_size']['medium+'] > 0

    # Truncated objects touch the border.
    width, height = SMALL['img_size']
    truncated = np.array([a['bbox'] for a in objs if a['truncation'] == 1])
    assert len(truncated) > 0
    x1, y1 = truncated[:, 0], truncated[:, 1]
    x2, y2 = x1 + truncated[:, 2], y1 + truncated[:, 3]
    assert ((x1 == 0) | (y1 == 0) | (x2 == width) | (y2 == height)).all()


def test_deterministic(tmp_path, small_root):
    root, _ = small_root
    again = tmp_path / 'again'
    generate_synthetic_visdrone(again, **SMALL)
    assert tree_bytes(again) == tree_bytes(root)

    other = tmp_path / 'other'
    generate_synthetic_visdrone(other, **dict(SMALL, seed=1))
    a, b = tree_bytes(root), tree_bytes(other)
    assert a.keys() == b.keys()
    assert a['VisDrone2019-DET-val/images/0000001.jpg'] != \
        b['VisDrone2019-DET-val/images/0000001.jpg']
    assert a['VisDrone2019-DET-val/annotations/0000001.txt'] != \
        b['VisDrone2019-DET-val/annotations/0000001.txt']


def test_regenerate_and_refuse_foreign_data(tmp_path):
    root = tmp_path / 'syn'
    params = dict(num_images={'train': 3, 'val': 1}, img_size=(64, 64))
    generate_synthetic_visdrone(root, **params)
    assert synthetic_up_to_date(root, synthetic_params(**params))
    assert not synthetic_up_to_date(root,
                                    synthetic_params(**params, seed=3))

    # A smaller rerun leaves no stale files or splits behind.
    generate_synthetic_visdrone(root, num_images={'train': 1},
                                img_size=(64, 64))
    assert len(list(root.glob('VisDrone2019-DET-train/images/*'))) == 1
    assert not (root / 'VisDrone2019-DET-val').exists()

    # Split folders without the generator's meta file may be real data.
    (root / 'synthetic_meta.json').unlink()
    with pytest.raises(FileExistsError, match='VisDrone2019-DET-train'):
        generate_synthetic_visdrone(root, num_images={'train': 1},
                                    img_size=(64, 64))


@pytest.mark.parametrize('kwargs,field', [
    (dict(num_images={'train': -1}), 'num_images'),
    (dict(num_images={'a/b': 1}), 'num_images'),
    (dict(img_size=(16, 64)), 'img_size'),
    (dict(objects_per_image=(5, 2)), 'objects_per_image'),
    (dict(size_range=(1, 8)), 'size_range'),
    (dict(img_size=(64, 48), size_range=(2, 64)), 'size_range'),
])
def test_invalid_params(kwargs, field):
    with pytest.raises(ValueError, match=field):
        synthetic_params(**kwargs)


def test_cli(tmp_path, capsys):
    cli = load_tool('tools/dataset_converters/make_synthetic_visdrone.py')

    args = [str(tmp_path), '--train', '2', '--val', '1', '--img-size', '64',
            '64']
    assert cli.main(args) == 0
    assert 'generated 3 images' in capsys.readouterr().out
    out = tmp_path / 'annotations' / 'visdrone2019-det-train.json'
    assert len(json.loads(out.read_text())['images']) == 2

    assert cli.main(args) == 0
    assert 'up to date' in capsys.readouterr().out
    assert cli.main(args + ['--force']) == 0
    assert 'generated' in capsys.readouterr().out


def test_run_demo_converts_once():
    """tools/run_demo.sh prepares the data with make_synthetic_visdrone.py
    only: it already converts both splits (test_cli) into the files the demo
    config reads, so another converter call would redo the same work."""
    from mmengine.config import Config
    script = (ROOT / 'tools' / 'run_demo.sh').read_text()
    calls = [line for line in script.splitlines()
             if 'tools/dataset_converters/' in line
             and not line.lstrip().startswith('#')]
    assert calls == ['"$PY" tools/dataset_converters/make_synthetic_visdrone'
                     '.py "$DATA" --train 128 --val 32']
    assert '\nDATA=data/synthetic_visdrone\n' in script
    cfg = Config.fromfile(
        str(ROOT / 'configs' / 'demo' / 'dino_r18_synthetic.py'),
        import_custom_modules=False)
    for split, loader in (('train', cfg.train_dataloader),
                          ('val', cfg.val_dataloader)):
        assert loader.dataset.data_root == 'data/synthetic_visdrone/'
        assert loader.dataset.ann_file == (
            f'annotations/visdrone2019-det-{split}.json')
