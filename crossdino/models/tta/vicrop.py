"""ViCrop-Det test-time cropping for DETR-family detectors, with its controls.

ViCrop-Det (arXiv 2604.26806) is a training-free inference wrapper: a first
pass of the unchanged detector, a probe of where it is uncertain, crops of
those regions re-detected, and a merge. :class:`ViCropTTAModel` implements it
and, under one budget rule, the controls it must beat:

- ``mode='vicrop'``: windows ranked by a probe map (``probe``):
  ``'sae'`` the paper's signal, the decoder cross-attention splatted per head
  into a Spatial Attention Entropy (SAE) and a saliency map
  (:mod:`.attention_entropy`), queries weighted by ``query_weighting``;
  ``'encoder'`` the two-stage encoder's objectness on every token with the
  regions of confident first-pass detections masked out (what the detector
  sees but did not report);
- ``mode='uniform'``: SAHI-style tiles (``slice_grid``, ``overlap_ratio``),
  K of N tiles spread over the image when the budget pays for fewer;
- ``mode='random'``: random sliding windows (same sizes, same window NMS);
- ``mode='oracle'``: the windows that cover the most ground truths the first
  pass missed (needs ``gt_instances``; an upper bound, not a method).

**Budget.** Every mode spends ``budget x`` the first pass's pixels on the
crop passes, counting what the crop forward actually processes (padding to
``pad_size_divisor`` and the two-stage DETR's minimum token count). Windows
are taken best first; one that does not fit is skipped, not the end of the
search.

**Crops** are cut from the original image (``crop_source='original'``,
re-read from ``img_path``), resized to ``crop_scale x`` the window's size
in network-input pixels (``window 0.5 x crop_scale 2`` = the first pass's
canvas) and normalised by the detector's own data preprocessor, so detail
above the network input resolution comes back. ``'input'`` cuts from the
resized network input (no file needed).

**Merge** (:mod:`.merge`): class-wise NMS (``merge_method='nms'``), NMS that
never matches two first-pass boxes (``'cross'``), or greedy non-maximum
merging (``'nmm'``), by IoU or intersection over the smaller box
(``match_metric``); optional recalibration of crop scores by the first
pass (``crop_rescore``) and ACS-Free box choice (``acs_free``).
"""
import copy
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.fileio import get
from mmengine.model import BaseTTAModel
from mmengine.structures import InstanceData
from torch import Tensor

from .acs_free import detection_head_entropy, head_entropy
from .attention_entropy import (DecoderAttentionRecorder, query_weights,
                                spatial_attention_entropy, splat_attention)
from .merge import fuse_crop_scores, merge_detections
from .windows import (missed_ground_truth, oracle_windows, score_windows,
                      select_windows, sliding_windows, spread_order,
                      uniform_windows, window_size)

_RENAMED = dict(
    merge="`merge` is now `merge_method` ('nms' | 'cross' | 'nmm'): a "
    'config key `merge` shadows ConfigDict.merge',
    nms='`nms` is now `match_thr` (and `match_metric`)',
    crop_score_scale='`crop_score_scale` is replaced by `crop_rescore`')


# ---------------------------------------------------------------------------
# boxes
# ---------------------------------------------------------------------------
def crop_to_image_boxes(boxes: Tensor, offset: Tensor,
                        scale_xy: Tensor) -> Tensor:
    """Map boxes from a resized crop to the image it was cut from.

    Args:
        boxes (Tensor): (n, 4) xyxy in crop pixels (after resizing).
        offset (Tensor): (2,) the crop's top-left corner (x, y) in image
            pixels.
        scale_xy (Tensor): (2,) crop pixels per image pixel (sx, sy).
    """
    return boxes / scale_xy.repeat(2) + offset.repeat(2)


def image_to_crop_boxes(boxes: Tensor, offset: Tensor,
                        scale_xy: Tensor) -> Tensor:
    """Inverse of :func:`crop_to_image_boxes`."""
    return (boxes - offset.repeat(2)) * scale_xy.repeat(2)


def border_cut_mask(boxes: Tensor, crop: Tensor, img_hw: Tuple[int, int],
                    tol: float) -> Tensor:
    """Boxes touching a crop border that lies inside the image.

    Such boxes are likely truncated objects and are dropped. A crop side on
    the image border does not cut anything.

    Args:
        boxes (Tensor): (n, 4) xyxy in image pixels.
        crop (Tensor): (4,) crop xyxy in image pixels.
        img_hw (tuple): image (h, w).
        tol (float): distance in image pixels counted as touching.

    Returns:
        Tensor: (n,) bool, True = cut.
    """
    h, w = img_hw
    interior = torch.stack(
        [crop[0] > 0, crop[1] > 0, crop[2] < w, crop[3] < h])
    near = torch.stack([
        boxes[:, 0] <= crop[0] + tol, boxes[:, 1] <= crop[1] + tol, boxes[:, 2]
        >= crop[2] - tol, boxes[:, 3] >= crop[3] - tol
    ], 1)
    return (near & interior.to(near.device)).any(1)


class _FirstRows(nn.Module):
    """The first ``k`` rows of an embedding, read live (weights loaded after
    the wrapper was built are seen)."""

    def __init__(self, embedding: nn.Embedding, k: int):
        super().__init__()
        self.src, self.k = [embedding], k  # a list: not a child module

    @property
    def weight(self) -> Tensor:
        return self.src[0].weight[:self.k]


class _NoRecorder:
    """Stands in for :class:`DecoderAttentionRecorder` around a detector
    without a DETR decoder (the uniform / random / oracle modes need no
    attention)."""
    spatial_shapes = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def _shallow_view(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that shares its children, parameters and
    buffers; setting an attribute, child, parameter, buffer or hook on it
    leaves ``module`` unchanged."""
    view = copy.copy(module)
    for name, value in vars(module).items():
        if isinstance(value, (dict, set)):  # _modules, _parameters, hooks
            object.__setattr__(view, name, copy.copy(value))
    return view


# ---------------------------------------------------------------------------
# the wrapper
# ---------------------------------------------------------------------------
@MODELS.register_module()
class ViCropTTAModel(BaseTTAModel):
    """ViCrop-Det (and uniform, random, oracle windows) around a DETR.

    Weights and config of ``module`` are unchanged; checkpoints load into
    ``module`` as for any mmengine ``BaseTTAModel``. ``test_step`` takes the
    ordinary (non-TTA) data batch of the test dataloader.

    Args:
        module (dict | nn.Module): the detector.
        mode (str): ``'vicrop'``, ``'uniform'``, ``'random'`` or
            ``'oracle'`` (reads ``gt_instances`` in original-image pixels,
            as mmdet's test pipelines, which load annotations after
            ``Resize``, give them). Default ``'vicrop'``.
        probe (str): the map ``'vicrop'`` ranks windows by: ``'sae'`` (paper)
            or ``'encoder'`` (residual encoder objectness). Default
            ``'sae'``.
        layers (Sequence[int], optional): decoder layers whose
            cross-attention forms the SAE. Default None = all.
        query_weighting (str): SAE probe: ``'score'`` (paper), ``'uniform'``
            or ``'unconfident'`` (queries below ``detected_thr``).
        topk_queries (int, optional): SAE probe: only the top-k queries.
        detected_thr (float): first-pass detections at or above this score
            count as found (``'encoder'`` masks them, ``'unconfident'``
            ignores their queries, ``'oracle'`` and the coverage measure
            call the rest missed). Default 0.3.
        grid_stride (int): input pixels per probe grid cell. Default 8.
        window_ratios (Sequence): window sides as a fraction of the image
            side; several sizes compete by score per pixel. Default (0.5,).
        window_stride_ratio (float): sliding step / window side. Default 0.5.
        crop_scale (float): crop pixels per network-input pixel of its
            window. Default 2.0 (a half-side window fills the canvas).
        crop_source (str): ``'original'`` (re-read ``img_path``) or
            ``'input'`` (the resized network input). Default ``'original'``.
        budget (float, optional): extra pixels processed by the crop passes
            as a fraction of the first pass's. Default 1.0. None =
            unlimited; 0 = never crop.
        max_crops (int, optional): at most this many crops per image.
            Default None (the budget decides).
        max_crops_per_forward (int): crops per detector forward. Default 8.
        window_iou_thr (float, optional): window NMS (vicrop, random).
            Default 0.25.
        min_mass_ratio (float): a vicrop window qualifies when it holds at
            least this times its area share of the probe's mass. Default 1.
        min_entropy (float): SAE probe: minimal mass-weighted SAE / log H.
            Default 0.
        slice_grid (tuple, optional): uniform mode's (rows, cols). Default
            None: tiles of the first ``window_ratios`` size, as many as
            cover the image with ``overlap_ratio`` (same crops as ViCrop's,
            placed blindly).
        slice_size (tuple, optional): uniform mode's tile (h, w) in
            original-image pixels, SAHI's ``slice_height, slice_width``
            (mapped to the input by each image's ``scale_factor``; the crop
            resolution stays ``crop_scale`` x the tile's input size). Default
            None: ``slice_grid`` or ``window_ratios`` decide.
        overlap_ratio (float): uniform mode's minimal tile overlap.
            Default 0.2.
        seed (int): random mode's seed (per image: seed and image id).
        border_tol (float): image pixels within which a crop box touches an
            interior crop border (dropped). Default 2.
        merge_method (str): ``'nms'``, ``'cross'`` or ``'nmm'``.
            Default ``'nms'``.
        match_metric (str): ``'iou'`` or ``'ios'``. Default ``'iou'``.
        match_thr (float): duplicates match above this. Default 0.5.
        crop_rescore (dict, optional): ``dict(first_weight=0.7)`` fuses a
            crop score with the best overlapping first-pass score
            (:func:`~.merge.fuse_crop_scores`). Default None.
        acs_free (dict, optional): ``dict(heads=[[layer, head], ...])``
            (None heads = all) picks each merged cluster's box by the lowest
            attention entropy (:mod:`.acs_free`). Default None.
        max_per_img (int, optional): cap after the merge. Default: the
            detector's ``test_cfg.max_per_img``.
        crop_num_queries (int, optional): decoder queries of the crop pass
            (the first ``k`` learned queries). Default None = all.
        keep_debug (bool): keep maps, windows, their costs, first-pass
            predictions and the candidates before the merge (``parts``,
            original-image pixels) of the last batch in ``last_debug``.
    """

    def __init__(self,
                 module,
                 mode: str = 'vicrop',
                 probe: str = 'sae',
                 layers: Optional[Sequence[int]] = None,
                 query_weighting: str = 'score',
                 topk_queries: Optional[int] = None,
                 detected_thr: float = 0.3,
                 grid_stride: int = 8,
                 window_ratios: Sequence = (0.5, ),
                 window_stride_ratio: float = 0.5,
                 crop_scale: float = 2.0,
                 crop_source: str = 'original',
                 budget: Optional[float] = 1.0,
                 max_crops: Optional[int] = None,
                 max_crops_per_forward: int = 8,
                 window_iou_thr: Optional[float] = 0.25,
                 min_mass_ratio: float = 1.0,
                 min_entropy: float = 0.0,
                 slice_grid: Optional[Tuple[int, int]] = None,
                 slice_size: Optional[Tuple[int, int]] = None,
                 overlap_ratio: float = 0.2,
                 seed: int = 0,
                 border_tol: float = 2.0,
                 merge_method: str = 'nms',
                 match_metric: str = 'iou',
                 match_thr: float = 0.5,
                 crop_rescore: Optional[dict] = None,
                 acs_free: Optional[dict] = None,
                 max_per_img: Optional[int] = None,
                 crop_num_queries: Optional[int] = None,
                 keep_debug: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 **removed):
        for key in removed:
            if key in _RENAMED:
                raise TypeError(f'ViCropTTAModel: {_RENAMED[key]}')
            raise TypeError(f'ViCropTTAModel got an unknown setting {key!r}')
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        choices = dict(mode=(mode, ('vicrop', 'uniform', 'random', 'oracle')),
                       probe=(probe, ('sae', 'encoder')),
                       crop_source=(crop_source, ('original', 'input')),
                       merge_method=(merge_method, ('nms', 'cross', 'nmm')),
                       match_metric=(match_metric, ('iou', 'ios')))
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f'{name} must be one of {allowed}, got '
                                 f'{value!r}')
        query_weights(None, (1, 1), query_weighting)  # validates the name
        if max_crops_per_forward < 1:
            raise ValueError('max_crops_per_forward must be >= 1')
        if slice_size is not None and (slice_grid is not None or len(
                slice_size) != 2 or min(slice_size) < 1):
            raise ValueError('slice_size must be (h, w) >= 1 pixels of the '
                             'original image, and excludes slice_grid; got '
                             f'slice_size={slice_size}, '
                             f'slice_grid={slice_grid}')
        self.mode, self.probe = mode, probe
        self.layers = None if layers is None else list(layers)
        self.query_weighting = query_weighting
        self.topk_queries = topk_queries
        self.detected_thr = detected_thr
        self.grid_stride = grid_stride
        self.window_ratios = list(window_ratios)
        self.window_stride_ratio = window_stride_ratio
        self.crop_scale = crop_scale
        self.crop_source = crop_source
        self.budget = budget
        self.max_crops = max_crops
        self.max_crops_per_forward = max_crops_per_forward
        self.window_iou_thr = window_iou_thr
        self.min_mass_ratio = min_mass_ratio
        self.min_entropy = min_entropy
        self.slice_grid = None if slice_grid is None else tuple(slice_grid)
        self.slice_size = None if slice_size is None else tuple(slice_size)
        self.overlap_ratio = overlap_ratio
        self.seed = seed
        self.border_tol = border_tol
        self.merge_method = merge_method
        self.match_metric = match_metric
        self.match_thr = match_thr
        self.crop_rescore = None if crop_rescore is None else \
            dict(crop_rescore)
        self.acs_free = None if acs_free is None else dict(acs_free)
        if self.acs_free is not None and merge_method == 'nmm':
            raise ValueError("acs_free picks one member's box per cluster; "
                             "merge_method='nmm' would replace it by the "
                             'union: use nms or cross')
        test_cfg = getattr(self.module, 'test_cfg', None) or {}
        self.max_per_img = max_per_img if max_per_img is not None else \
            test_cfg.get('max_per_img', None)
        self.keep_debug = keep_debug
        self.last_debug: Optional[dict] = None
        self._warned_no_file = False
        # the detector must offer what the chosen probe reads: fail here,
        # not at the first test batch
        self.uses_sae = mode == 'vicrop' and probe == 'sae'
        if self.uses_sae or self.acs_free is not None:
            rec = DecoderAttentionRecorder(self.module, self.layers)
        if self.acs_free is not None and self.acs_free.get('heads'):
            n_layers = len(self.module.decoder.layers)
            n_heads = rec.attn_modules[0].num_heads
            for pair in self.acs_free['heads']:
                layer, head = pair
                if not (-n_layers <= layer < n_layers
                        and 0 <= head < n_heads):
                    raise ValueError(
                        f'acs_free head {list(pair)} is not a [layer, head] '
                        f'of this decoder ({n_layers} layers x {n_heads} '
                        'heads)')
        if mode == 'vicrop' and probe == 'encoder':
            DecoderAttentionRecorder(self.module, [], encoder_logits=True)
        if crop_num_queries is not None:
            nq = getattr(self.module, 'num_queries', None)
            if nq is None or not isinstance(
                    getattr(self.module, 'query_embedding', None),
                    nn.Embedding):
                raise TypeError(
                    'crop_num_queries needs a detector with `num_queries` '
                    'and a `query_embedding` nn.Embedding (mmdet DETR '
                    f'family); {type(self.module).__name__} has not.')
            if not 0 < crop_num_queries <= nq:
                raise ValueError(f'crop_num_queries must be in 1..{nq} (the '
                                 f'detector\'s num_queries), got '
                                 f'{crop_num_queries}')
        self.crop_num_queries = crop_num_queries

    # -- mmengine API ------------------------------------------------------
    def merge_preds(self, data_samples_list):
        """Unused: ViCrop merges inside :meth:`test_step`."""
        raise NotImplementedError

    def test_step(self, data: dict) -> List[DetDataSample]:
        """Preprocess the ordinary test batch, then :meth:`predict`."""
        data = self.module.data_preprocessor(data, False)
        return self.predict(data['inputs'], data['data_samples'])

    def forward(self, inputs: Tensor, data_samples=None, mode='predict'):
        if mode != 'predict':
            raise NotImplementedError('ViCropTTAModel only predicts')
        return self.predict(inputs, data_samples)

    # -- probe maps --------------------------------------------------------
    def attention_maps(
            self,
            recorder: DecoderAttentionRecorder,
            grid_hw: Tuple[int, int],
            input_hw: Optional[Tuple[int, int]] = None
    ) -> Tuple[Tensor, Tensor]:
        """SAE (bs, gh, gw) and saliency (bs, gh, gw) of a recorded pass.

        ``input_hw`` (the padded batch's (h, w)) makes a cell exactly
        ``grid_stride`` pixels, as the window sums assume, also when the
        batch is no multiple of it.
        """
        loc, w = recorder.sampling()  # (bs, n_rec, nq, H, N, 2), (..., N)
        if input_hw is not None:
            gh, gw = grid_hw
            loc = loc * loc.new_tensor([
                input_hw[1] / (gw * self.grid_stride),
                input_hw[0] / (gh * self.grid_stride)
            ])
        if self.acs_free is not None and self.layers is not None:
            n = len(recorder.attn_modules)  # all layers were recorded
            idx = sorted({i % n for i in self.layers})
            loc, w = loc[:, idx], w[:, idx]
        bs, _, nq = w.shape[:3]
        qw = query_weights(recorder.query_scores(), (bs, nq),
                           self.query_weighting,
                           self.topk_queries,
                           device=w.device,
                           score_thr=self.detected_thr)
        head_maps = splat_attention(loc, w, grid_hw, qw[:, None])
        return spatial_attention_entropy(head_maps)

    def residual_objectness(self, recorder: DecoderAttentionRecorder,
                            grid_hw: Tuple[int, int],
                            results: List[DetDataSample]) -> Tensor:
        """Encoder objectness where the first pass found nothing.

        Each memory token's best-class sigmoid score (the two-stage
        encoder's proposal score), levels resampled to the probe grid and
        maxed, then zeroed inside confident first-pass boxes.

        Returns:
            Tensor: (bs, gh, gw).
        """
        obj = recorder.enc_logits.float().sigmoid().amax(-1)  # (bs, tokens)
        bs = obj.shape[0]
        levels, start = [], 0
        # spatial shapes are a (L, 2) tensor; one host read per batch
        for h, w in recorder.spatial_shapes.tolist():
            lv = obj[:, start:start + h * w].view(bs, 1, h, w)
            levels.append(F.interpolate(lv, size=grid_hw, mode='nearest'))
            start += h * w
        obj = torch.cat(levels, 1).amax(1)
        gh, gw = grid_hw
        s = self.grid_stride
        cy = (torch.arange(gh, device=obj.device) + 0.5) * s
        cx = (torch.arange(gw, device=obj.device) + 0.5) * s
        for b, r in enumerate(results):  # post-processing, per image
            inst = r.pred_instances
            keep = inst.scores >= self.detected_thr
            sf = inst.bboxes.new_tensor(r.metainfo['scale_factor']).repeat(2)
            boxes = inst.bboxes[keep] * sf  # input pixels
            in_y = (cy[None] >= boxes[:, 1:2]) & (cy[None] <= boxes[:, 3:4])
            in_x = (cx[None] >= boxes[:, 0:1]) & (cx[None] <= boxes[:, 2:3])
            covered = (in_y[:, :, None] & in_x[:, None]).any(0)
            obj[b] = obj[b].masked_fill(covered, 0)
        return obj

    # -- windows -----------------------------------------------------------
    def crop_shape(self, window_hw: Tuple[int, int]) -> Tuple[int, int]:
        """(h, w) of the resized crop of a window of ``window_hw`` px
        (rounded down: a canvas-size crop never outgrows the canvas)."""
        return (max(1, int(window_hw[0] * self.crop_scale + 1e-9)),
                max(1, int(window_hw[1] * self.crop_scale + 1e-9)))

    def crop_cost(self, window_hw: Tuple[int, int], min_area: int) -> int:
        """Pixels the crop forward processes for one window: the resized
        crop padded to ``pad_size_divisor`` and to ``min_area``."""
        h, w = self._padded(self.crop_shape(window_hw), min_area)
        return h * w

    def _padded(self, hw: Tuple[int, int], min_area: int) -> Tuple[int, int]:
        div = getattr(self.module.data_preprocessor, 'pad_size_divisor', 1)
        ph, pw = (math.ceil(hw[0] / div) * div, math.ceil(hw[1] / div) * div)
        if ph * pw < min_area:
            grow = math.sqrt(min_area / (ph * pw))
            ph = math.ceil(ph * grow / div) * div
            pw = math.ceil(pw * grow / div) * div
        return ph, pw

    def candidate_windows(self, img_hw: Tuple[int, int],
                          scale_factor: Tuple[float, float] = (1., 1.)
                          ) -> Tensor:
        """Candidate windows (n, 4) xyxy in input pixels; ``scale_factor``
        (w, h), input per original pixel, maps ``slice_size``."""
        if self.mode == 'uniform':
            if self.slice_size is not None:
                tile = (max(1, int(self.slice_size[0] * scale_factor[1])),
                        max(1, int(self.slice_size[1] * scale_factor[0])))
            elif self.slice_grid is None:
                tile = window_size(img_hw, self.window_ratios[0])
            else:
                tile = None
            tiles = uniform_windows(img_hw, self.slice_grid,
                                    self.overlap_ratio, tile)
            return tiles[spread_order(tiles)]
        return sliding_windows(img_hw, self.window_ratios,
                               self.window_stride_ratio)

    def choose_crops(self, img_hw: Tuple[int, int], min_area: int,
                     maps: Dict[str, Optional[Tensor]], num_heads: int,
                     sample: DetDataSample) -> Tuple[Tensor, dict]:
        """Crop windows (k, 4) xyxy in input pixels for one image.

        Args:
            img_hw (tuple): the image's (h, w) in the network input.
            min_area (int): crop-forward minimum (:meth:`min_crop_area`).
            maps (dict): this image's ``mass`` (gh, gw) and ``sae`` maps
                on the host (vicrop mode; None otherwise).
            num_heads (int): attention heads (SAE normalisation).
            sample (DetDataSample): its metainfo; for the oracle also
                ``gt_instances`` and the first pass's ``pred_instances``.

        Returns:
            tuple: the windows and a dict of ``cost`` (k,) per window.
        """
        h, w = img_hw
        windows = self.candidate_windows(
            img_hw, sample.metainfo.get('scale_factor', (1., 1.)))
        sizes = (windows[:, 3] - windows[:, 1], windows[:, 2] - windows[:, 0])
        cost = torch.tensor([
            self.crop_cost((int(a), int(b)), min_area)
            for a, b in zip(*sizes)
        ], dtype=torch.float64)
        budget = None if self.budget is None else self.budget * h * w
        if self.mode == 'oracle':
            if 'gt_instances' not in sample:
                raise ValueError("mode='oracle' needs ground truth "
                                 '(gt_instances) in the data samples')
            missed = missed_ground_truth(sample, sample.pred_instances,
                                         self.detected_thr)
            keep = oracle_windows(windows, missed.cpu(), cost, budget,
                                  self.max_crops)
        elif self.mode == 'uniform':
            order = torch.arange(len(windows), 0, -1, dtype=torch.float64)
            keep = select_windows(windows, order,
                                  torch.ones(len(windows), dtype=torch.bool),
                                  None, self.max_crops, cost, budget)
        elif self.mode == 'random':
            g = torch.Generator().manual_seed(
                self.seed * 1000003 + int(sample.metainfo.get('img_id', 0)))
            scores = torch.rand(len(windows), generator=g, dtype=torch.float64)
            keep = select_windows(windows, scores,
                                  torch.ones(len(windows), dtype=torch.bool),
                                  self.window_iou_thr, self.max_crops, cost,
                                  budget)
        else:
            stats = score_windows(maps['mass'], maps['sae'], windows,
                                  self.grid_stride, img_hw, num_heads)
            valid = (stats['mass'] >= self.min_mass_ratio * stats['area']) & \
                (stats['entropy'] >= self.min_entropy)
            keep = select_windows(windows, stats['score'], valid,
                                  self.window_iou_thr, self.max_crops, cost,
                                  budget)
        return windows[keep], dict(cost=cost[keep])

    def min_crop_area(self, spatial_shapes: Optional[Tensor],
                      input_hw: Tuple[int, int]) -> int:
        """Smallest padded crop area (pixels) a two-stage DETR accepts.

        DINO / two-stage Deformable DETR take the top ``num_queries`` encoder
        tokens, so a crop must yield at least that many tokens. Tokens scale
        with the area; the first pass gives the ratio.
        """
        nq = self.crop_num_queries or getattr(self.module, 'num_queries',
                                              None)
        if spatial_shapes is None or nq is None or not getattr(
                self.module, 'as_two_stage', False):
            return 0
        # one host sync per batch (a shape, not in a per-query loop)
        tokens = int(spatial_shapes.prod(-1).sum())
        return math.ceil(1.05 * nq * input_hw[0] * input_hw[1] / tokens)

    # -- crop pass ---------------------------------------------------------
    def crop_detector(self) -> nn.Module:
        """The detector of the crop pass: ``module`` itself, or a view with
        ``crop_num_queries`` queries that shares every weight.

        The head's ``max_per_img`` is capped at ``k * num_classes``: DETR
        heads take their top-``max_per_img`` over (queries x classes).
        """
        det, k = self.module, self.crop_num_queries
        if k is None or k == det.num_queries:
            return det
        view = _shallow_view(det)
        view.num_queries = k
        view.query_embedding = _FirstRows(det.query_embedding, k)
        head = _shallow_view(det.bbox_head)
        if getattr(head, 'test_cfg', None) is not None:
            head.test_cfg = copy.deepcopy(head.test_cfg)
            if head.test_cfg.get('max_per_img') is not None:
                head.test_cfg['max_per_img'] = min(
                    head.test_cfg['max_per_img'], k * head.num_classes)
        view.bbox_head = head
        return view

    def _original(self, sample: DetDataSample, cache: dict):
        """The original (h, w, 3) uint8 image of a sample, or None."""
        path = sample.metainfo.get('img_path')
        if self.crop_source == 'input' or path is None:
            if self.crop_source == 'original' and not self._warned_no_file:
                warnings.warn('ViCrop: a sample has no img_path (in-memory '
                              'image); its crops are cut from the resized '
                              'network input')
                self._warned_no_file = True
            return None
        if path not in cache:
            img = mmcv.imfrombytes(get(path), flag='color')
            if img is None:
                raise OSError(f'ViCrop: cannot decode {path}')
            oh, ow = sample.metainfo['ori_shape'][:2]
            if img.shape[:2] != (oh, ow):
                raise ValueError(
                    f'ViCrop: {path} is {img.shape[1]}x{img.shape[0]} but '
                    f'the test pipeline saw {ow}x{oh} (ori_shape); the file '
                    "changed, or set crop_source='input'")
            cache[path] = img
        return cache[path]

    def cut_crops(self, inputs: Tensor, samples: List[DetDataSample],
                  crops: List[Tensor], min_area: int) -> List[tuple]:
        """All crops of a batch as forward chunks of equal-size crops.

        Returns:
            list of ``(batch, crop_samples, owners)``: ``batch`` (n, C, Hc,
            Wc) normalised and padded, and per crop ``(image index, offset
            (2,), scale (2,), window (4,))`` with offset and window in
            original-image pixels and scale the crop pixels per original
            pixel.
        """
        groups: Dict[tuple, list] = {}
        cache: dict = {}
        for b, boxes in enumerate(crops):
            sfx, sfy = samples[b].metainfo['scale_factor']
            oh, ow = samples[b].metainfo['ori_shape'][:2]
            ih, iw = samples[b].metainfo['img_shape'][:2]
            original = None if len(boxes) == 0 else self._original(
                samples[b], cache)
            for box in boxes.tolist():  # a handful of windows per image
                x0, y0, x1, y1 = box
                th, tw = self.crop_shape((round(y1 - y0), round(x1 - x0)))
                # a side on the input's edge is exactly the original's edge
                # (x1 / sfx may fall an ulp short and look interior)
                edge_x, edge_y = x1 >= iw, y1 >= ih
                if original is not None:
                    ox0, oy0 = math.floor(x0 / sfx), math.floor(y0 / sfy)
                    ox1 = ow if edge_x else min(ow, math.ceil(x1 / sfx))
                    oy1 = oh if edge_y else min(oh, math.ceil(y1 / sfy))
                    patch = mmcv.imresize(original[oy0:oy1, ox0:ox1],
                                          (tw, th),
                                          interpolation='bilinear')
                    patch = torch.from_numpy(patch).permute(2, 0, 1)
                else:  # from the normalised input, in input pixels
                    ox0, oy0 = x0 / sfx, y0 / sfy
                    ox1 = ow if edge_x else x1 / sfx
                    oy1 = oh if edge_y else y1 / sfy
                    patch = F.interpolate(
                        inputs[b:b + 1, :, int(y0):int(y1), int(x0):int(x1)],
                        size=(th, tw), mode='bilinear',
                        align_corners=False)[0]
                owner = (b, torch.tensor([ox0, oy0], dtype=torch.float32),
                         torch.tensor([tw / (ox1 - ox0), th / (oy1 - oy0)],
                                      dtype=torch.float32),
                         torch.tensor([ox0, oy0, ox1, oy1],
                                      dtype=torch.float32))
                groups.setdefault((th, tw, original is None),
                                  []).append((patch, owner))
        chunks = []
        n = self.max_crops_per_forward
        for (th, tw, from_input), items in groups.items():
            for i in range(0, len(items), n):
                part = items[i:i + n]
                chunks.append(self._batch(inputs, [p for p, _ in part],
                                          (th, tw), from_input, min_area) +
                              ([o for _, o in part], ))
        return chunks

    def _batch(self, inputs: Tensor, patches: List[Tensor], hw: Tuple[int,
                                                                      int],
               from_input: bool, min_area: int) -> tuple:
        """Normalise (uint8 patches) and pad equal-size crops to one
        batch."""
        ph, pw = self._padded(hw, min_area)
        meta = dict(img_shape=hw, ori_shape=hw, scale_factor=(1.0, 1.0))
        samples = [DetDataSample(metainfo=dict(meta)) for _ in patches]
        if from_input:
            batch = torch.stack(patches)
        else:  # the detector's own normalisation and colour order
            data = self.module.data_preprocessor(
                dict(inputs=patches, data_samples=samples), False)
            batch, samples = data['inputs'], data['data_samples']
        batch = F.pad(batch,
                      (0, pw - batch.shape[-1], 0, ph - batch.shape[-2]))
        for s in samples:
            s.set_metainfo(
                dict(pad_shape=(ph, pw), batch_input_shape=(ph, pw)))
        return batch.to(inputs.device), samples

    # -- ACS-Free ----------------------------------------------------------
    def detection_entropy(self, recorder: DecoderAttentionRecorder,
                          samples: List[DetDataSample]) -> List[Tensor]:
        """Mean entropy on the ACS-Free heads of each detection's query
        (:func:`~.acs_free.detection_head_entropy`; all layers recorded).

        Returns:
            list[Tensor]: per image (n,).
        """
        ents = detection_head_entropy(recorder, samples)
        heads = self.acs_free.get('heads')
        if heads is not None:  # flat index = layer * H + head
            n_layers = len(recorder.attn_modules)
            n_heads = ents[0].shape[-1] // n_layers
            heads = [(l % n_layers) * n_heads + h for l, h in heads]
        return [head_entropy(e, heads) for e in ents]

    def _recorder(self, det: nn.Module, layers: Optional[List[int]],
                  encoder_logits: bool = False):
        """A recorder of ``layers`` (``[]``: only the memory shapes, which
        a detector without a DETR decoder does not have)."""
        decoder = getattr(det, 'decoder', None)
        if layers == [] and not encoder_logits and not hasattr(
                decoder, 'layers'):
            return _NoRecorder()
        return DecoderAttentionRecorder(det, layers, encoder_logits)

    # -- predict -----------------------------------------------------------
    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: List[DetDataSample]) -> List[DetDataSample]:
        """First pass, window choice, crop passes, merge.

        Args:
            inputs (Tensor): (bs, C, Hp, Wp) preprocessed, padded batch.
            data_samples (list[DetDataSample]): with ``img_shape``,
                ``ori_shape``, ``scale_factor`` (and ``img_path`` for
                original-image crops) metainfo.

        Returns:
            list[DetDataSample]: the samples with merged ``pred_instances``
            in original-image coordinates.
        """
        det = self.module
        hp, wp = inputs.shape[-2:]
        grid_hw = (math.ceil(hp / self.grid_stride),
                   math.ceil(wp / self.grid_stride))
        do_crop = self.budget != 0 and self.max_crops != 0
        acs = self.acs_free is not None
        # ACS-Free reads every layer; the SAE its `layers`; else only shapes
        record = None if acs else (self.layers if self.uses_sae and do_crop
                                   else [])
        recorder = self._recorder(
            det, record, do_crop and self.mode == 'vicrop'
            and self.probe == 'encoder')
        with recorder:
            results = det.predict(inputs, data_samples, rescale=True)
        if acs:
            ents = self.detection_entropy(recorder, results)
            for r, e in zip(results, ents):
                r.pred_instances.entropy = e
        maps = dict(mass=None, sae=None)
        num_heads = 1
        if do_crop and self.mode == 'vicrop':
            if self.probe == 'sae':
                num_heads = recorder.records[0]['num_heads']
                maps['sae'], maps['mass'] = self.attention_maps(
                    recorder, grid_hw, (hp, wp))
            else:
                maps['mass'] = self.residual_objectness(
                    recorder, grid_hw, results)
        # window choice runs on the host: one copy of the maps per batch
        host = {k: None if v is None else v.cpu() for k, v in maps.items()}
        min_area = self.min_crop_area(recorder.spatial_shapes, (hp, wp))
        crops, costs = [], []
        for b, s in enumerate(results):
            img_hw = tuple(int(v) for v in s.metainfo['img_shape'])
            if not do_crop:
                crops.append(torch.zeros(0, 4))
                costs.append(torch.zeros(0, dtype=torch.float64))
                continue
            own = {k: None if v is None else v[b] for k, v in host.items()}
            win, info = self.choose_crops(img_hw, min_area, own, num_heads, s)
            crops.append(win)
            costs.append(info['cost'])
        if self.keep_debug:
            self.last_debug = dict(
                sae=maps['sae'],
                saliency=maps['mass'],
                crops=crops,
                crop_cost=costs,
                grid_stride=self.grid_stride,
                first_pass=[r.pred_instances.clone() for r in results])
        extra: List[List[InstanceData]] = [[] for _ in results]
        if sum(len(c) for c in crops):
            crop_det = self.crop_detector()
            for batch, samples, owners in self.cut_crops(
                    inputs, data_samples, crops, min_area):
                crop_rec = self._recorder(crop_det, None if acs else [])
                with crop_rec:
                    crop_results = crop_det.predict(batch, samples,
                                                    rescale=False)
                ents = self.detection_entropy(crop_rec, crop_results) \
                    if acs else None
                for i, ((b, offset, sxy, window), cr) in enumerate(
                        zip(owners, crop_results)):
                    inst = cr.pred_instances
                    boxes = crop_to_image_boxes(inst.bboxes,
                                                offset.to(inst.bboxes),
                                                sxy.to(inst.bboxes))
                    ori_hw = tuple(results[b].metainfo['ori_shape'][:2])
                    keep = ~border_cut_mask(boxes, window.to(boxes), ori_hw,
                                            self.border_tol)
                    part = InstanceData(bboxes=boxes[keep],
                                        scores=inst.scores[keep],
                                        labels=inst.labels[keep])
                    if ents is not None:
                        part.entropy = ents[i][keep]
                    extra[b].append(part)
        if self.keep_debug:  # the candidates before the merge
            self.last_debug['parts'] = [[r.pred_instances.clone()] + e
                                        for r, e in zip(results, extra)]
        for b, s in enumerate(results):
            if not extra[b]:
                if acs:
                    del s.pred_instances.entropy
                continue
            first_pass = s.pred_instances
            if self.crop_rescore is not None:
                for part in extra[b]:
                    part.scores = fuse_crop_scores(
                        first_pass, part, match_thr=self.match_thr,
                        min_first_score=self.detected_thr,
                        **self.crop_rescore)
            s.pred_instances = merge_detections(
                [first_pass] + extra[b],
                method='nmm' if self.merge_method == 'nmm' else 'nms',
                match_thr=self.match_thr,
                match_metric=self.match_metric,
                cross_only=self.merge_method == 'cross',
                select='entropy' if acs else 'score',
                max_per_img=self.max_per_img)
        return results


def wrap_config_with_vicrop(cfg: Config, **overrides) -> Config:
    """Wrap ``cfg.model`` in :class:`ViCropTTAModel` for testing.

    The settings live in one place, the config's top-level ``vicrop`` dict
    (so ``--cfg-options vicrop.budget=2`` works); ``overrides`` come on top.
    A ``tta_model`` of type ``ViCropTTAModel`` is read as well (its other
    keys, below ``vicrop``). A model that is already a ``ViCropTTAModel`` is
    only updated.
    """
    settings = {}
    tta = cfg.get('tta_model', None)
    if tta is not None and tta.get('type') == 'ViCropTTAModel':
        settings.update({
            k: v
            for k, v in tta.items() if k not in ('type', 'module')
        })
    settings.update(cfg.get('vicrop', None) or {})
    settings.update(overrides)
    if cfg.model.get('type') == 'ViCropTTAModel':
        cfg.model.update(settings)
    else:
        cfg.model = ConfigDict(type='ViCropTTAModel',
                               module=cfg.model,
                               **settings)
    return cfg
