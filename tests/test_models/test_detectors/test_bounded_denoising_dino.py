"""BoundedDenoisingDINO: mmdet's DINO with dn_cfg.max_gts_per_image, the
detector of the dense-scene (AI-TOD) DINO config."""
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from crossdino.models.layers import BoundedCdnQueryGenerator
from crossdino.utils.timing import record_decoder_queries
from tests.conftest import ROOT, padded_det_batch, tiny_detector_cfg

register_all_modules()


def build_pair(cap):
    dino_cfg = tiny_detector_cfg('dino')
    bounded_cfg = tiny_detector_cfg('dino')
    bounded_cfg.update(type='BoundedDenoisingDINO')
    bounded_cfg.bbox_head.type = 'CrossDINOHead'
    bounded_cfg.dn_cfg.max_gts_per_image = cap
    models = []
    for cfg in (dino_cfg, bounded_cfg):
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()
        models.append(model.train())
    models[1].load_state_dict(models[0].state_dict())
    return models


def losses(model, inputs, samples):
    torch.manual_seed(1)
    return model.loss(inputs, samples)


def test_equals_dino_below_the_bound():
    dino, bounded = build_pair(cap=5)
    inputs, samples = padded_det_batch(num_gts=(3, 5))
    ref, got = losses(dino, inputs, samples), losses(bounded, inputs, samples)
    assert ref.keys() == got.keys()
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0, msg=k)


def test_bounds_the_denoising_queries():
    _, bounded = build_pair(cap=4)
    assert isinstance(bounded.dn_query_generator, BoundedCdnQueryGenerator)
    seen = record_decoder_queries(bounded)
    inputs, samples = padded_det_batch(num_gts=(30, 2))
    losses(bounded, inputs, samples)
    # 30 objects, bounded to 4: DINO's groups for 4 objects, 2 x 4 each
    groups = bounded.dn_query_generator.get_num_groups(4)
    assert seen['queries'] == bounded.num_queries + 2 * 4 * groups
    assert groups * 4 <= bounded.dn_query_generator.num_dn_queries


def test_needs_a_head_that_reads_the_subset():
    cfg = tiny_detector_cfg('dino')
    cfg.update(type='BoundedDenoisingDINO')
    cfg.dn_cfg.max_gts_per_image = 4
    with pytest.raises(ValueError, match="bbox_head.type='CrossDINOHead'"):
        MODELS.build(cfg)


@pytest.mark.parametrize('path', [
    'configs/dino/dino-4scale_r50_aitod.py',
    'configs/cross_dino/cross-dino-4scale_r50_aitod.py',
    'configs/cross_dino/cross-dino-4scale_clap-strip-t_aitod.py',
    'configs/cross_dino/cross-dino-4scale_clap-strip-t_aitod-1200.py'])
def test_dense_configs_bound_denoising(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    assert cfg.model.dn_cfg.max_gts_per_image == 100
    assert cfg.model.bbox_head.type == 'CrossDINOHead'
