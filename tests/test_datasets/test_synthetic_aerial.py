"""The 'aerial' profile of the synthetic generator (the proxy benchmark's
data): size distribution, density, determinism, parameters."""
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from crossdino.datasets.converters.visdrone import (build_visdrone_coco,
                                                    parse_visdrone_txt)
from crossdino.datasets.synthetic_aerial import (SIZE_MIXTURE, _sample_side,
                                                 _texture)
from crossdino.datasets.synthetic_visdrone import (
    generate_synthetic_visdrone, synthetic_params, synthetic_up_to_date)

AERIAL = dict(num_images={'train': 2, 'val': 10}, seed=0, profile='aerial')


@pytest.fixture(scope='module')
def aerial_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('aerial')
    return root, generate_synthetic_visdrone(root, **AERIAL)


def rows_of(root, split):
    files = sorted((root / f'VisDrone2019-DET-{split}' /
                    'annotations').glob('*.txt'))
    return [parse_visdrone_txt(p)[0] for p in files]


def test_profile_defaults_and_validation():
    params = synthetic_params(profile='aerial')
    assert params['img_size'] == [768, 432]
    assert params['objects_per_image'] == [10, 300]
    assert params['profile'] == 'aerial'
    assert synthetic_params()['img_size'] == [256, 192]
    with pytest.raises(ValueError, match="profile: expected one of "
                       r"\['aerial', 'demo'\], got 'urban'"):
        synthetic_params(profile='urban')


def test_size_mixture_matches_its_definition():
    # P(side < 16) = 0.05 + 0.57 = 0.62; P(side < 8) = 0.05 + 0.57 / 2
    # (log-uniform on [4, 16): half the log-range lies below 8).
    rng = np.random.default_rng(0)
    sides = np.array([_sample_side(rng) for _ in range(20000)])
    assert sides.min() >= 2 and sides.max() < 64
    assert abs((sides < 16).mean() - 0.62) < 0.015
    assert abs((sides < 8).mean() - 0.335) < 0.015
    assert math.isclose(sum(p for p, _, _ in SIZE_MIXTURE), 1.0)


def test_images_are_large_dense_and_mostly_tiny(aerial_root):
    root, result = aerial_root
    assert result['params']['img_size'] == [768, 432]
    per_image = rows_of(root, 'val')
    objects = [r[(r[:, 5] >= 1) & (r[:, 5] <= 10)] for r in per_image]
    counts = [len(o) for o in objects]
    boxes = np.concatenate(objects)
    side = np.sqrt(boxes[:, 2] * boxes[:, 3])
    # Issue 13: >= 60 % under 16 px, sizes 2-64 px, some scenes with
    # 100-300 objects, and sparse ones.
    assert (side < 16).mean() >= 0.6
    assert boxes[:, 2:4].min() >= 1 and boxes[:, 2:4].max() <= 64
    assert max(counts) >= 100 and max(counts) <= 301
    assert min(counts) < 100
    assert set(boxes[:, 5]) == set(range(1, 11))
    # Ignored regions (category 0) as in VisDrone.
    assert sum(int((r[:, 5] == 0).sum()) for r in per_image) > 0


def test_dense_images_leave_empty_land(aerial_root):
    root, _ = aerial_root
    dense = max(rows_of(root, 'val'), key=len)
    cx = np.minimum((dense[:, 0] + dense[:, 2] / 2) // 48, 15).astype(int)
    cy = np.minimum((dense[:, 1] + dense[:, 3] / 2) // 48, 8).astype(int)
    occupied = np.zeros((9, 16), bool)
    occupied[cy, cx] = True
    # n objects spread uniformly over 144 cells would occupy
    # 1 - (1 - 1/144)^n of them (86 % for n = 289); clusters leave more
    # land empty
    uniform = 1 - (1 - 1 / 144)**len(dense)
    assert len(dense) >= 100
    assert occupied.mean() < uniform - 0.1


def test_textures_darken_part_of_the_object():
    colour = np.array([200., 60., 55.], np.float32)
    solid = _texture('solid', 12, 12, colour)
    for texture in ('stripes', 'checker', 'core'):
        other = _texture(texture, 12, 12, colour)
        assert other.shape == (12, 12, 3)
        assert (other < solid - 1).any()  # darker pixels form the pattern
    with pytest.raises(ValueError, match="unknown texture 'dots'"):
        _texture('dots', 4, 4, colour)


def test_byte_identical_for_a_seed(aerial_root, tmp_path):
    root, _ = aerial_root
    again = tmp_path / 'again'
    generate_synthetic_visdrone(again, **AERIAL)

    def digest(folder):
        h = hashlib.sha256()
        for p in sorted(Path(folder).rglob('*')):
            if p.is_file():
                h.update(p.relative_to(folder).as_posix().encode())
                h.update(p.read_bytes())
        return h.hexdigest()

    assert digest(again) == digest(root)
    assert synthetic_up_to_date(root, synthetic_params(**AERIAL))


def test_converts_with_the_visdrone_converter(aerial_root):
    root, _ = aerial_root
    coco, summary = build_visdrone_coco(root / 'VisDrone2019-DET-val')
    assert summary['images'] == 10
    img = coco['images'][0]
    assert (img['width'], img['height']) == (768, 432)
    ignored = [a for a in coco['annotations'] if a.get('ignore')]
    # crowds and "others" both become ignored regions of category 0
    assert ignored and {(a['category_id'], a['iscrowd'])
                        for a in ignored} == {(0, 1)}
