"""Bounded contrastive denoising (issue 18): an image with 2000 objects
adds 2 x cap denoising queries instead of 2 x 2000; the head's denoising
targets come from the same random subset; without the bound, DINO's."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.models.layers.transformer.dino_layers import CdnQueryGenerator
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from crossdino.models.layers import BoundedCdnQueryGenerator
from tests.conftest import padded_det_batch

register_all_modules()
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')
DN = dict(num_classes=10, embed_dims=32, num_matching_queries=20,
          label_noise_scale=0.5, box_noise_scale=1.0,
          group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100))


def test_2000_objects_give_a_bounded_query_count():
    _, samples = padded_det_batch(shapes=((512, 640), (512, 640)),
                                  num_gts=(2000, 30), pad=(512, 640))
    torch.manual_seed(0)
    *_, mask, meta = CdnQueryGenerator(**DN)(samples)
    assert meta['num_denoising_queries'] == 2 * 2000  # 1 group of 2 x 2000
    assert mask.shape == (4000 + 20, 4000 + 20)
    torch.manual_seed(0)
    label_q, box_q, mask, meta = BoundedCdnQueryGenerator(
        max_gts_per_image=100, **DN)(samples)
    assert meta['num_denoising_queries'] == 2 * 100
    assert label_q.shape == (2, 200, 32) and box_q.shape == (2, 200, 4)
    assert mask.shape == (220, 220)  # (4020 / 220)^2 = 334x smaller
    keep = meta['dn_gt_keep']
    assert keep[1] is None  # 30 objects: all of them
    assert len(keep[0]) == 100 and len(set(keep[0].tolist())) == 100
    assert (keep[0].diff() > 0).all()


def test_subset_is_uniform_and_redrawn_each_call():
    _, samples = padded_det_batch(shapes=((64, 80), ), num_gts=(40, ))
    gen = BoundedCdnQueryGenerator(max_gts_per_image=10, **DN)
    torch.manual_seed(0)
    counts = torch.zeros(40)
    for _ in range(400):
        counts[gen(samples)[-1]['dn_gt_keep'][0]] += 1
    # each object kept with probability 1/4: 100 of 400 draws, +- 4 sigma
    assert counts.sum() == 4000
    assert (counts - 100).abs().max() < 4 * (400 * 0.25 * 0.75) ** 0.5


def test_below_the_bound_it_is_dino():
    _, samples = padded_det_batch(num_gts=(3, 5))
    torch.manual_seed(1)
    ref = CdnQueryGenerator(**DN)
    gen = BoundedCdnQueryGenerator(max_gts_per_image=5, **DN)
    gen.load_state_dict(ref.state_dict())
    torch.manual_seed(2)
    a = ref(samples)
    torch.manual_seed(2)
    b = gen(samples)
    for x, y in zip(a[:3], b[:3]):
        assert torch.equal(x, y)
    assert b[3]['dn_gt_keep'] == [None, None]


def _tiny(**dn):
    cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    cfg.type = 'CrossDINO'
    cfg.bbox_head.type = 'CrossDINOHead'
    cfg.dn_cfg.update(dn)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def test_head_denoises_the_same_subset(monkeypatch):
    """Every positive denoising query's label target is the label of the
    kept ground truth it was made from."""
    model = _tiny(max_gts_per_image=4)
    assert isinstance(model.dn_query_generator, BoundedCdnQueryGenerator)
    inputs, samples = padded_det_batch(num_gts=(12, 3))
    seen = {}
    orig = type(model.bbox_head).get_dn_targets

    def spy(self, gts, metas, dn_meta):
        out = orig(self, gts, metas, dn_meta)
        seen.update(gts=gts, meta=dn_meta, labels=out[0], boxes=out[2])
        return out

    monkeypatch.setattr(type(model.bbox_head), 'get_dn_targets', spy)
    torch.manual_seed(3)
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v).all() for k, v in losses.items()
               if 'loss' in k)
    keep = seen['meta']['dn_gt_keep']
    assert len(keep[0]) == 4 and keep[1] is None
    per_group = seen['meta']['num_denoising_queries'] // \
        seen['meta']['num_denoising_groups']
    assert per_group == 2 * 4
    want = samples[0].gt_instances.labels[keep[0]]
    # group g, image 0: queries g*8 .. g*8+3 are the positives of the 4 kept
    # objects (then 4 negatives); their box targets are those objects' boxes
    h, w = samples[0].img_shape
    x1, y1, x2, y2 = samples[0].gt_instances.bboxes[keep[0]].unbind(-1)
    boxes = torch.stack([(x1 + x2) / 2 / w, (y1 + y2) / 2 / h,
                         (x2 - x1) / w, (y2 - y1) / h], -1)
    for g in range(seen['meta']['num_denoising_groups']):
        pos = slice(g * per_group, g * per_group + 4)
        assert torch.equal(seen['labels'][0][pos], want)
        torch.testing.assert_close(seen['boxes'][0][pos], boxes)
    # image 1 (3 objects, below the bound): all of them, as in DINO
    assert torch.equal(seen['labels'][1][:3], samples[1].gt_instances.labels)


def test_bound_needs_a_head_that_reads_the_subset():
    cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    cfg.type = 'CrossDINO'  # with mmdet's DINOHead
    cfg.dn_cfg.max_gts_per_image = 4
    with pytest.raises(ValueError, match="CrossDINOHead.*not DINOHead"):
        MODELS.build(cfg)


def test_every_dino_family_detector_takes_the_bound():
    for extra in (dict(type='HMPEDINO', hmpe=dict(
            heatmap_head=dict(type='HeatmapHead', feat_channels=8))),
                  dict(type='ENACTDINO'),
                  dict(type='CrossHMPEDINO', cctm=dict(type='CCTM'), hmpe=dict(
                      heatmap_head=dict(type='HeatmapHead',
                                        feat_channels=8)))):
        cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
        cfg.update(extra)
        cfg.bbox_head.type = 'CrossDINOHead'
        cfg.dn_cfg.max_gts_per_image = 4
        model = MODELS.build(cfg)
        assert isinstance(model.dn_query_generator, BoundedCdnQueryGenerator)
