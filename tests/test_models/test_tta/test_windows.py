"""Crop windows: tiling, spread order, scores over valid pixels only, the
greedy budget rule, missed objects, oracle windows and coverage, all on
hand-made inputs."""
import math

import torch
from mmcv.ops import bbox_overlaps

from crossdino.models.tta import (missed_objects, oracle_windows,
                                  score_windows, select_windows,
                                  sliding_windows, spread_order,
                                  uniform_windows, window_coverage,
                                  window_map_sums)
from crossdino.models.tta.windows import window_size


def test_budget_skips_what_does_not_fit_and_keeps_searching():
    # costs 1.0, 1.0, 0.06 under a budget of 1.25: the second window does
    # not fit, the third still does (a loop that stops would keep one)
    windows = torch.tensor([[0., 0, 10, 10], [20, 0, 30, 10], [40, 0, 42, 3]])
    scores = torch.tensor([0.9, 0.8, 0.1])
    cost = torch.tensor([1.0, 1.0, 0.06], dtype=torch.float64)
    valid = torch.ones(3, dtype=torch.bool)
    idx = select_windows(windows, scores, valid, None, None, cost, 1.25)
    assert idx.tolist() == [0, 2]
    assert select_windows(windows, scores, valid, None, 1, cost,
                          1.25).tolist() == [0]
    assert select_windows(windows, scores, valid, None, None, cost,
                          None).tolist() == [0, 1, 2]
    assert len(select_windows(windows, scores, valid, None, None, cost, 0)) \
        == 0
    assert select_windows(windows, scores, ~valid, None, None, cost,
                          9).numel() == 0


def test_select_windows_nms_count_and_order():
    torch.manual_seed(0)
    windows = sliding_windows((96, 128), [0.25, 0.5], stride_ratio=0.25)
    assert (windows[:, 2] <= 128).all() and (windows[:, 3] <= 96).all()
    scores = torch.rand(len(windows))
    valid = torch.rand(len(windows)) > 0.2
    cost = ((windows[:, 2] - windows[:, 0]) *
            (windows[:, 3] - windows[:, 1])).double()
    for budget, k, iou in [(0.5, 10, 0.25), (2.0, 3, 0.0), (None, 5, 0.5)]:
        px = None if budget is None else budget * 96 * 128
        idx = select_windows(windows, scores, valid, iou, k, cost, px)
        assert 0 < len(idx) <= k and valid[idx].all()
        if px is not None:
            assert cost[idx].sum() <= px
        ov = bbox_overlaps(windows[idx], windows[idx])
        ov.fill_diagonal_(0)
        assert (ov <= iou + 1e-6).all()
        assert torch.equal(scores[idx], scores[idx].sort(descending=True)[0])


def test_uniform_tiles_overlap_and_cover():
    for tiles, grid in [(uniform_windows((96, 128), (2, 3), 0.2), (2, 3)),
                        (uniform_windows((288, 512), None, 0.2,
                                         (144, 256)), (3, 3))]:
        assert len(tiles) == grid[0] * grid[1]
        h, w = (96, 128) if grid == (2, 3) else (288, 512)
        # every pixel centre lies in a tile
        ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5,
                                indexing='ij')
        pts = torch.stack([xs, ys, xs, ys], -1).view(-1, 4)
        assert window_coverage(pts, tiles).all()
        # row neighbours overlap by at least 20 % of a tile
        tw = tiles[0, 2] - tiles[0, 0]
        overlap = tiles[0, 2] - tiles[1, 0]
        assert overlap >= 0.2 * tw - 1
    half = uniform_windows((288, 512), None, 0.2, (144, 256))
    # 3 tiles of 256 over 512 px step by 128: 50 % overlap, the fewest that
    # overlap by >= 20 %
    assert half[:3, 0].tolist() == [0, 128, 256]


def test_spread_order_prefixes_are_spread():
    two = uniform_windows((96, 128), (2, 2), 0.2)  # row-major TL TR BL BR
    assert spread_order(two).tolist() == [0, 3, 1, 2]  # diagonal first
    nine = uniform_windows((288, 512), None, 0.2, (144, 256))
    order = spread_order(nine)
    assert sorted(order.tolist()) == list(range(9))
    # the four corners first: half-side tiles at the corners cover it all
    assert sorted(order[:4].tolist()) == [0, 2, 6, 8]
    ys, xs = torch.meshgrid(torch.arange(288) + 0.5, torch.arange(512) + 0.5,
                            indexing='ij')
    pts = torch.stack([xs, ys, xs, ys], -1).view(-1, 4)
    assert window_coverage(pts, nine[order[:4]]).all()
    wide = uniform_windows((100, 400), (1, 4), 0.0)
    assert spread_order(wide)[:2].tolist() == [0, 3]


def test_half_windows_of_odd_sides_fit_one_canvas():
    # 1067 x 800 (VisDrone 2000x1500 at 1333x800): half is 533, not 534,
    # so a half-side window at scale 2 costs at most the image
    assert window_size((800, 1067), 0.5) == (400, 533)
    wins = sliding_windows((800, 1067), [0.5])
    assert ((wins[:, 2] - wins[:, 0]) == 533).all()


def test_window_nms_only_against_windows_taken():
    # the best window does not fit the budget: it must not suppress the
    # overlapping one that does
    windows = torch.tensor([[0., 0, 100, 100], [10, 10, 60, 60],
                            [15, 15, 65, 65]])
    cost = torch.tensor([9.0, 1.0, 1.0], dtype=torch.float64)
    idx = select_windows(windows, torch.tensor([0.9, 0.8, 0.7]),
                         torch.ones(3, dtype=torch.bool), 0.25, None, cost,
                         2.0)
    assert idx.tolist() == [1]  # 0 does not fit; 2 overlaps 1 (IoU 0.68)


def test_mass_on_batch_padding_never_counts():
    # grid of an 8x16-cell padded input; the image covers 4x8 cells
    sal = torch.zeros(8, 16)
    sal[:4, :8] = 1.0
    sal[5:, 10:] = 100.0  # attention on the padding
    windows = torch.tensor([[0., 0., 32., 32.], [40., 40., 128., 64.]])
    sums = window_map_sums(sal[None], windows, 8, (32, 64))
    assert sums[0].tolist() == [16.0, 0.0, 32.0]  # windows, whole image
    st = score_windows(sal, None, windows, 8, (32, 64))
    torch.testing.assert_close(st['mass'], torch.tensor([0.5, 0.0]))


def test_score_is_mass_times_entropy_per_area():
    sal = torch.zeros(12, 16)
    sae = torch.zeros(12, 16)
    sal[1:3, 1:3] = 5.0  # salient but certain
    sal[8:10, 10:12] = 5.0  # salient and ambiguous
    sae[8:10, 10:12] = math.log(8)
    windows = torch.tensor([[0., 0., 32., 32.], [64., 56., 112., 96.],
                            [64., 0., 96., 24.], [0., 0., 128., 96.]])
    st = score_windows(sal, sae, windows, 8, (96, 128), num_heads=8)
    torch.testing.assert_close(st['mass'], torch.tensor([0.5, 0.5, 0., 1.]))
    torch.testing.assert_close(st['entropy'], torch.tensor([0., 1., 0., .5]))
    area = torch.tensor([32 * 32, 48 * 40, 32 * 24, 128 * 96]) / (96 * 128)
    torch.testing.assert_close(st['score'], st['mass'] * st['entropy'] / area)
    # the small ambiguous window beats the whole image per pixel spent
    assert st['score'].argmax() == 1


def test_missed_objects_and_oracle_cover():
    gt = torch.tensor([[0., 0, 10, 10], [50, 50, 60, 60], [52, 70, 58, 78],
                       [100, 0, 110, 10]])
    labels = torch.tensor([0, 1, 1, 2])
    det = torch.tensor([[0., 0, 10, 11], [50, 50, 60, 60], [100, 0, 110, 10]])
    missed = missed_objects(gt, labels, det, torch.tensor([0.9, 0.2, 0.9]),
                            torch.tensor([0, 1, 0]))
    # found; too low a score; no detection; wrong class
    assert missed.tolist() == [False, True, True, True]
    windows = torch.tensor([[40., 40, 80, 80], [90, 0, 120, 20],
                            [0, 0, 200, 200]])
    cost = torch.tensor([1.0, 1.0, 10.0], dtype=torch.float64)
    # budget 2: the big window does not fit; the 2-object window first
    idx = oracle_windows(windows, gt[missed], cost, 2.0, None)
    assert idx.tolist() == [0, 1]
    assert oracle_windows(windows, gt[missed], cost, None, None).tolist() \
        == [2]
    assert window_coverage(gt[missed], windows[[1]]).tolist() == [
        False, False, True]
