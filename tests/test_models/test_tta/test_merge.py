"""Merging first-pass and crop detections (NMS against mmcv, IoS, NMM,
cross-pass only, score fusion) and ACS-Free (entropy, Spearman against
scipy, head ranking, query recovery, the entropy pick), by hand."""
import math

import pytest
import torch
from mmcv.ops import batched_nms
from mmengine.structures import InstanceData
from scipy.stats import spearmanr

from crossdino.models.tta import (detection_queries, fuse_crop_scores,
                                  match_matrix, merge_detections,
                                  point_entropy, rank_heads, spearman)


def _inst(boxes, scores, labels, entropy=None):
    out = InstanceData()
    out.bboxes = torch.tensor(boxes, dtype=torch.float32)
    out.scores = torch.tensor(scores)
    out.labels = torch.tensor(labels)
    if entropy is not None:
        out.entropy = torch.tensor(entropy)
    return out


def test_nms_equals_mmcv_batched_nms():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(300, 2, generator=g) * 20], 1)
    scores = torch.rand(300, generator=g)
    labels = torch.randint(0, 3, (300, ), generator=g)
    parts = [InstanceData(bboxes=boxes[:200], scores=scores[:200],
                          labels=labels[:200]),
             InstanceData(bboxes=boxes[200:], scores=scores[200:],
                          labels=labels[200:])]
    out = merge_detections(parts, 'nms', match_thr=0.5)
    dets, keep = batched_nms(boxes, scores, labels,
                             dict(type='nms', iou_threshold=0.5))
    torch.testing.assert_close(out.bboxes, dets[:, :4])
    torch.testing.assert_close(out.scores, dets[:, 4])
    assert torch.equal(out.labels, labels[keep])
    assert len(merge_detections(parts, 'nms', max_per_img=7)) == 7


def test_ios_matches_a_box_inside_a_bigger_one():
    big, inner = [0., 0, 20, 20], [2., 2, 8, 8]
    m = match_matrix(torch.tensor([big]), torch.tensor([inner]), 'ios')
    assert m.item() == pytest.approx(1.0)
    iou = match_matrix(torch.tensor([big]), torch.tensor([inner]), 'iou')
    assert iou.item() == pytest.approx(36 / 400)
    parts = [_inst([big], [0.9], [1]), _inst([inner], [0.5], [1])]
    assert len(merge_detections(parts, match_metric='iou')) == 2
    assert len(merge_detections(parts, match_metric='ios')) == 1


def test_nmm_merges_into_the_union_with_the_best_score():
    parts = [_inst([[0., 0, 10, 10]], [0.6], [2]),
             _inst([[1., -1, 11, 9], [50, 50, 60, 60]], [0.8, 0.3], [2, 2])]
    out = merge_detections(parts, 'nmm', match_thr=0.5)
    torch.testing.assert_close(out.bboxes, torch.tensor([[0., -1, 11, 10],
                                                         [50, 50, 60, 60]]))
    torch.testing.assert_close(out.scores, torch.tensor([0.8, 0.3]))


def test_cross_only_never_suppresses_first_pass_among_itself():
    first = _inst([[0., 0, 10, 10], [1, 0, 10, 10], [50, 50, 60, 60]],
                  [0.5, 0.4, 0.7], [1, 1, 2])
    crop = _inst([[50., 50.5, 60, 60], [20, 20, 30, 30]], [0.9, 0.2], [2, 0])
    out = merge_detections([first, crop], 'nms', cross_only=True)
    # both overlapping class-1 boxes stay, the better crop box replaces the
    # class-2 one, the new crop box is added
    torch.testing.assert_close(out.scores, torch.tensor([0.9, 0.5, 0.4, 0.2]))
    assert out.labels.tolist() == [2, 1, 1, 0]
    assert len(merge_detections([first, crop], 'nms')) == 3


def test_acs_free_picks_the_lowest_entropy_box_keeps_the_best_score():
    first = _inst([[0., 0, 10, 10], [40, 40, 50, 50]], [0.9, 0.5], [0, 0],
                  entropy=[0.8, 0.3])
    crop = _inst([[1., 0, 11, 10], [0, 1, 10, 11], [40, 41, 50, 50]],
                 [0.7, 0.6, 0.8], [0, 0, 0], entropy=[0.2, 0.5, 0.6])
    out = merge_detections([first, crop], 'nms', select='entropy')
    # cluster 1: leader 0.9 (H .8), members .7 (H .2) and .6 (H .5)
    # cluster 2: leader .8 from the crop (H .6), member first-pass (H .3)
    torch.testing.assert_close(out.scores, torch.tensor([0.9, 0.8]))
    torch.testing.assert_close(out.bboxes, torch.tensor([[1., 0, 11, 10],
                                                         [40, 40, 50, 50]]))
    plain = merge_detections([first, crop], 'nms')
    torch.testing.assert_close(plain.bboxes[0], torch.tensor([0., 0, 10, 10]))
    with pytest.raises(ValueError, match='entropy'):
        merge_detections([_inst([[0., 0, 1, 1]], [.5], [0])],
                         select='entropy')


def test_fused_crop_scores():
    first = _inst([[0., 0, 10, 10], [30, 30, 40, 40], [70, 70, 80, 80]],
                  [0.9, 0.4, 0.05], [0, 1, 1])
    crop = _inst([[0., 0, 10, 10.5], [30, 30, 40, 40], [70, 70, 80, 80]],
                 [0.5, 0.6, 0.4], [0, 0, 1])
    s = fuse_crop_scores(first, crop, first_weight=0.7, min_first_score=0.3)
    # matched: .7 * .9 + .3 * .5; wrong class: kept; only a 0.05 first-pass
    # box there (the first pass did not find it): kept
    torch.testing.assert_close(s, torch.tensor([0.78, 0.6, 0.4]))
    low = fuse_crop_scores(first, crop, min_first_score=0.0)
    assert low[2] == pytest.approx(0.7 * 0.05 + 0.3 * 0.4)


def test_entropy_pick_and_union_exclude_each_other():
    parts = [_inst([[0., 0, 10, 10]], [0.5], [0], entropy=[0.1])]
    with pytest.raises(ValueError, match='union'):
        merge_detections(parts, 'nmm', select='entropy')


def test_point_entropy_and_spearman():
    w = torch.tensor([[1 / 16] * 16, [1.0] + [0.0] * 15])
    torch.testing.assert_close(point_entropy(w), torch.tensor([1.0, 0.0]))
    half = torch.tensor([0.5, 0.5, 0.0, 0.0])
    assert point_entropy(half).item() == pytest.approx(math.log(2) /
                                                       math.log(4))
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 6, (80, 4), generator=g).float()  # with ties
    y = torch.rand(80, generator=g)
    ref = [spearmanr(x[:, j], y)[0] for j in range(4)]
    torch.testing.assert_close(spearman(x, y), torch.tensor(ref).float())


def test_rank_heads_most_negative_first():
    g = torch.Generator().manual_seed(0)
    iou = torch.rand(200, generator=g)
    noise = torch.rand(200, 4, generator=g)
    ent = torch.stack([noise[:, 0], 1 - iou + 0.1 * noise[:, 1], iou,
                       1 - iou + 0.5 * noise[:, 3]], 1)
    heads, rho = rank_heads(ent, iou, 2)
    assert heads == [1, 3] and rho[2] > 0.99


def test_detection_queries_recovers_the_producing_query():
    q = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1],
                      [0.95, 0.5, 0.2, 0.4]])
    # the head scales and clips: query 2 sticks out of the right border
    dets = torch.tensor([[0.05, 0.05, 0.15, 0.15], [0.85, 0.3, 1.0, 0.7],
                         [0.4, 0.4, 0.6, 0.6]])
    assert detection_queries(dets, q).tolist() == [1, 2, 0]
