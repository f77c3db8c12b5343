"""ViCrop-Det test-time cropping for DETR-family detectors, and uniform slicing.

ViCrop-Det (arXiv 2604.26806) is a training-free inference wrapper:

1. first pass of the unchanged detector; its decoder cross-attention is
   recorded on the way (:class:`~.attention_entropy.DecoderAttentionRecorder`)
   and splatted into a Spatial Attention Entropy (SAE) map and a saliency map;
2. crop windows where both saliency and entropy are high are chosen under a
   compute budget (:func:`score_windows`, :func:`select_windows`);
3. the crops are upsampled and run through the same detector in one batch;
4. crop detections are mapped back, boxes cut by an interior crop border are
   dropped, and everything is merged with the first pass by class-wise NMS
   (mmcv ``batched_nms``, which keeps the higher-scoring duplicate), or with
   ``merge='cross'`` where first-pass boxes only compete with crop boxes.

Window score (our choice; the paper only says "high saliency and high
entropy"): with ``S`` the saliency and ``SAE / log H`` the normalised entropy,
a window ``w`` has the attention mass share ``m(w) = sum_w S / sum_image S``
and the saliency-weighted entropy ``e(w) = sum_w S*SAE / (sum_w S log H)``;
``score(w) = m(w) * e(w)``. A window qualifies when ``m(w)`` is at least
``min_mass_ratio`` times its area share (it draws more attention than a
uniform map would) and ``e(w) >= min_entropy``. Non-maximum suppression on
windows (IoU ``window_iou_thr``), then windows are taken in score order while
at most ``max_crops`` and the upsampled crop pixels stay within
``budget * image pixels``. Nothing qualifies -> no second pass, and the output
is exactly the detector's own prediction.

``mode='uniform'`` is the SAHI-style baseline: a ``slice_grid`` of tiles with
``overlap_ratio`` covering the image, the full-image pass kept, same crop
scale and merge. Crops are cut from the network input (after the test
pipeline's Resize), not from the original file.
"""
import contextlib
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import batched_nms, bbox_overlaps, nms
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseTTAModel
from mmengine.structures import InstanceData
from torch import Tensor

from .attention_entropy import (DecoderAttentionRecorder, query_weights,
                                splat_attention, spatial_attention_entropy)


# ---------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------
def _positions(size: int, win: int, step: int) -> Tensor:
    """Start offsets of windows of ``win`` px stepping ``step`` over ``size``,
    the last one flush with the end."""
    if win >= size:
        return torch.zeros(1)
    pos = torch.arange(0, size - win + 1, max(step, 1), dtype=torch.float32)
    if pos[-1] < size - win:
        pos = torch.cat([pos, pos.new_tensor([size - win])])
    return pos


def sliding_windows(img_hw: Tuple[int, int],
                    window_ratios: Sequence[Union[float, Tuple[float, float]]],
                    stride_ratio: float = 0.5) -> Tensor:
    """Candidate windows of several sizes sliding over an image.

    Args:
        img_hw (tuple[int, int]): image (h, w) in pixels.
        window_ratios: window sides as a fraction of the image side, one
            float (square ratio) or (rh, rw) per window size.
        stride_ratio (float): step as a fraction of the window side.

    Returns:
        Tensor: (n, 4) integer-valued xyxy windows inside the image.
    """
    h, w = img_hw
    boxes = []
    for r in window_ratios:
        rh, rw = (r, r) if isinstance(r, (int, float)) else r
        wh, ww = max(1, round(h * rh)), max(1, round(w * rw))
        wh, ww = min(wh, h), min(ww, w)
        ys = _positions(h, wh, round(wh * stride_ratio))
        xs = _positions(w, ww, round(ww * stride_ratio))
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        yy, xx = yy.flatten(), xx.flatten()
        boxes.append(torch.stack([xx, yy, xx + ww, yy + wh], 1))
    return torch.cat(boxes)


def uniform_windows(img_hw: Tuple[int, int],
                    grid: Tuple[int, int] = (2, 2),
                    overlap_ratio: float = 0.2) -> Tensor:
    """SAHI-style tiling: ``rows x cols`` tiles with overlap covering the image.

    Tile side ``= side / (n - (n - 1) * overlap)`` so that neighbours overlap
    by ``overlap_ratio`` of a tile.

    Returns:
        Tensor: (rows*cols, 4) integer-valued xyxy tiles.
    """
    h, w = img_hw
    rows, cols = grid
    th = min(h, math.ceil(h / (rows - (rows - 1) * overlap_ratio)))
    tw = min(w, math.ceil(w / (cols - (cols - 1) * overlap_ratio)))
    ys = torch.linspace(0, h - th, rows).round() if rows > 1 else \
        torch.zeros(1)
    xs = torch.linspace(0, w - tw, cols).round() if cols > 1 else \
        torch.zeros(1)
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    yy, xx = yy.flatten(), xx.flatten()
    return torch.stack([xx, yy, xx + tw, yy + th], 1)


def score_windows(saliency: Tensor, sae: Tensor, windows: Tensor,
                  stride: float, img_hw: Tuple[int, int],
                  num_heads: int) -> Dict[str, Tensor]:
    """Mass share, entropy and score of windows via integral images.

    Args:
        saliency (Tensor): (gh, gw) attention magnitude of one image.
        sae (Tensor): (gh, gw) SAE in nats.
        windows (Tensor): (n, 4) xyxy in input pixels.
        stride (float): pixels per grid cell.
        img_hw (tuple): valid image (h, w); mass outside it is ignored.
        num_heads (int): H, to normalise the entropy by log H.

    Returns:
        dict: ``mass`` (n,) share of the image's attention mass, ``area``
        (n,) share of the image area, ``entropy`` (n,) saliency-weighted mean
        SAE / log H in [0, 1], ``score`` (n,) = mass * entropy.
    """
    h, w = img_hw
    vh = min(saliency.shape[0], math.ceil(h / stride))
    vw = min(saliency.shape[1], math.ceil(w / stride))
    s = saliency[:vh, :vw]
    se = (s * sae[:vh, :vw]) / math.log(num_heads)
    integ = F.pad(torch.stack([s, se]).cumsum(1).cumsum(2), (1, 0, 1, 0))
    win = windows.to(s.device)
    x0 = (win[:, 0] / stride).floor().long().clamp(0, vw)
    y0 = (win[:, 1] / stride).floor().long().clamp(0, vh)
    x1 = (win[:, 2] / stride).ceil().long().clamp(0, vw)
    y1 = (win[:, 3] / stride).ceil().long().clamp(0, vh)
    sums = integ[:, y1, x1] - integ[:, y0, x1] - integ[:, y1, x0] + \
        integ[:, y0, x0]  # (2, n)
    total = integ[0, -1, -1].clamp(min=1e-12)
    mass = sums[0] / total
    entropy = sums[1] / sums[0].clamp(min=1e-12)
    area = (win[:, 2] - win[:, 0]) * (win[:, 3] - win[:, 1]) / float(h * w)
    return dict(mass=mass, area=area, entropy=entropy, score=mass * entropy)


def select_windows(windows: Tensor, scores: Tensor, valid: Tensor,
                   iou_thr: float, max_crops: Optional[int],
                   pixel_cost: Tensor,
                   pixel_budget: Optional[float]) -> Tensor:
    """Best non-overlapping qualifying windows under a count/pixel budget.

    Windows are NMS-ed (IoU above ``iou_thr`` suppressed), then taken in
    score order while the cumulative ``pixel_cost`` stays within
    ``pixel_budget`` and at most ``max_crops`` are taken.

    Args:
        windows (Tensor): (n, 4) xyxy.
        scores (Tensor): (n,).
        valid (Tensor): (n,) bool, qualifying windows.
        pixel_cost (Tensor): (n,) extra pixels each window costs.
        pixel_budget (float, optional): None = unlimited.

    Returns:
        Tensor: (k,) indices into ``windows``, best first.
    """
    idx = valid.nonzero().flatten()
    if idx.numel() == 0 or max_crops == 0 or (pixel_budget is not None
                                              and pixel_budget <= 0):
        return idx[:0]
    _, keep = nms(windows[idx].float(), scores[idx].float().contiguous(),
                  iou_thr)
    idx = idx[keep]  # score order
    ok = torch.ones_like(idx, dtype=torch.bool)
    if pixel_budget is not None:
        ok &= pixel_cost[idx].cumsum(0) <= pixel_budget + 1e-6
    if max_crops is not None:
        ok &= torch.arange(len(idx), device=idx.device) < max_crops
    return idx[ok]


# ---------------------------------------------------------------------------
# crops and boxes
# ---------------------------------------------------------------------------
def crop_to_image_boxes(boxes: Tensor, crop: Tensor,
                        scale_xy: Tensor) -> Tensor:
    """Map boxes from an upsampled crop to the input image.

    Args:
        boxes (Tensor): (n, 4) xyxy in crop pixels (after upsampling).
        crop (Tensor): (4,) crop xyxy in input pixels.
        scale_xy (Tensor): (2,) upsampling factors (sx, sy).
    """
    s = scale_xy.repeat(2)
    return boxes / s + crop[:2].repeat(2)


def image_to_crop_boxes(boxes: Tensor, crop: Tensor,
                        scale_xy: Tensor) -> Tensor:
    """Inverse of :func:`crop_to_image_boxes`."""
    return (boxes - crop[:2].repeat(2)) * scale_xy.repeat(2)


def border_cut_mask(boxes: Tensor, crop: Tensor, img_hw: Tuple[int, int],
                    tol: float) -> Tensor:
    """Boxes touching a crop border that lies inside the image.

    Such boxes are likely truncated objects and are dropped. A crop side on
    the image border does not cut anything.

    Args:
        boxes (Tensor): (n, 4) xyxy in input pixels.
        crop (Tensor): (4,) crop xyxy in input pixels.
        img_hw (tuple): image (h, w).
        tol (float): distance in input pixels counted as touching.

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
    return (near & interior).any(1)


def merge_detections(parts: Sequence[InstanceData], nms_cfg: dict,
                     max_per_img: Optional[int]) -> InstanceData:
    """Concatenate detections and run class-wise NMS (mmcv ``batched_nms``).

    Duplicates keep the higher score. ``nms_cfg=None`` only sorts by score.
    ``max_per_img`` caps the output.
    """
    bboxes = torch.cat([p.bboxes for p in parts])
    scores = torch.cat([p.scores for p in parts])
    labels = torch.cat([p.labels for p in parts])
    out = InstanceData()
    if bboxes.numel() == 0:
        out.bboxes, out.scores, out.labels = bboxes, scores, labels
        return out
    if nms_cfg is None:
        keep = scores.argsort(descending=True)
        dets = torch.cat([bboxes[keep], scores[keep, None]], 1)
    else:
        dets, keep = batched_nms(bboxes, scores, labels, nms_cfg)
    if max_per_img is not None:
        dets, keep = dets[:max_per_img], keep[:max_per_img]
    out.bboxes, out.scores, out.labels = dets[:, :4], dets[:, 4], labels[keep]
    return out


def merge_detections_cross(first: InstanceData, crops: Sequence[InstanceData],
                           iou_thr: float,
                           max_per_img: Optional[int]) -> InstanceData:
    """Merge that never lets first-pass boxes suppress each other.

    Crop boxes are NMS-ed among themselves (class-wise); then every
    same-class (crop, first-pass) pair with IoU above ``iou_thr`` keeps only
    the higher-scoring box. The first pass is thus unchanged where no crop box
    competes (the plain ``batched_nms`` merge also removes the DETR's own
    overlapping same-class boxes everywhere).
    """
    crop = merge_detections(crops, dict(type='nms', iou_threshold=iou_thr),
                            None)
    if len(crop) == 0 or len(first) == 0:
        return merge_detections([first, crop], None, max_per_img)
    iou = bbox_overlaps(crop.bboxes, first.bboxes)  # (n_crop, n_first)
    dup = (iou > iou_thr) & (crop.labels[:, None] == first.labels[None])
    crop_wins = crop.scores[:, None] > first.scores[None]
    drop_first = (dup & crop_wins).any(0)
    drop_crop = (dup & ~crop_wins).any(1)
    return merge_detections([first[~drop_first], crop[~drop_crop]], None,
                            max_per_img)


# ---------------------------------------------------------------------------
# the wrapper
# ---------------------------------------------------------------------------
@MODELS.register_module()
class ViCropTTAModel(BaseTTAModel):
    """ViCrop-Det (or uniform slicing) around any DETR-family detector.

    Weights and config of ``module`` are unchanged; checkpoints load into
    ``module`` as for any mmengine ``BaseTTAModel``. ``test_step`` takes the
    ordinary (non-TTA) data batch of the test dataloader.

    Args:
        module (dict | nn.Module): the detector.
        mode (str): ``'vicrop'`` (attention-guided) or ``'uniform'`` (SAHI-style
            grid). Default ``'vicrop'``.
        layers (Sequence[int], optional): decoder layers whose cross-attention
            contributes. Default None = all layers.
        query_weighting (str): ``'score'`` weights each query's attention by
            its best-class score (last decoder layer), ``'uniform'`` by 1.
        topk_queries (int, optional): only the top-k queries contribute.
            Default None = all queries.
        grid_stride (int): input pixels per SAE grid cell. Default 8.
        window_ratios (Sequence): window sides as a fraction of the image
            side. Default (0.25,) (1/16 of the image area).
        window_stride_ratio (float): sliding step / window side. Default 0.5.
        crop_scale (float): crop upsampling factor. Default 2.0.
        budget (float, optional): extra pixels (after upsampling) as a fraction
            of the image's pixels. Default 0.25 (one 1/4-side crop at scale
            2, or four with ``window_ratios=(0.125,)``). None = unlimited;
            0 = never crop.
        max_crops (int, optional): at most K crops per image. Default 4.
        window_iou_thr (float): windows overlapping more are suppressed.
            Default 0.25.
        min_mass_ratio (float): a window must hold at least this times its
            area share of the attention mass. Default 1.0.
        min_entropy (float): minimal saliency-weighted SAE / log H. Default 0.
        border_tol (float): input pixels within which a crop box touches an
            interior crop border (dropped). Default 2.
        nms (dict): merge NMS config for ``batched_nms``.
            Default ``dict(type='nms', iou_threshold=0.5)``.
        merge (str): ``'nms'`` (class-wise ``batched_nms`` over first pass and
            crops, as in the paper) or ``'cross'``
            (:func:`merge_detections_cross`: first-pass boxes are only
            suppressed by better crop boxes). Default ``'nms'``.
        crop_score_scale (float): score fusion: crop detection scores are
            multiplied by it before the merge. Default 1.0 (no fusion).
        max_per_img (int, optional): cap after the merge. Default: the
            detector's ``test_cfg.max_per_img``.
        slice_grid (tuple[int, int]): uniform mode rows x cols. Default (2, 2).
        overlap_ratio (float): uniform mode tile overlap. Default 0.2.
        keep_debug (bool): keep maps and windows of the last batch in
            ``self.last_debug`` (for visualisation). Default False.
        crop_num_queries (int, optional): decoder queries of the second pass.
            A crop shows a fraction of the image, so fewer queries suffice;
            the detector keeps its first ``crop_num_queries`` learned queries
            (DINO pairs them with its best-ranked proposals). It cuts the
            fixed decoder cost of the crop pass, which dominates ViCrop's
            overhead on small inputs, and the padding a two-stage DETR's
            top-k needs (:meth:`min_crop_area`). Needs ``num_queries`` and
            ``query_embedding`` on the detector (mmdet's DETR family).
            Default None = the detector's own.
    """

    def __init__(self,
                 module: Union[dict, nn.Module],
                 mode: str = 'vicrop',
                 layers: Optional[Sequence[int]] = None,
                 query_weighting: str = 'score',
                 topk_queries: Optional[int] = None,
                 grid_stride: int = 8,
                 window_ratios: Sequence = (0.25, ),
                 window_stride_ratio: float = 0.5,
                 crop_scale: float = 2.0,
                 budget: Optional[float] = 0.25,
                 max_crops: Optional[int] = 4,
                 window_iou_thr: float = 0.25,
                 min_mass_ratio: float = 1.0,
                 min_entropy: float = 0.0,
                 border_tol: float = 2.0,
                 nms: Optional[dict] = None,
                 merge: str = 'nms',
                 crop_score_scale: float = 1.0,
                 max_per_img: Optional[int] = None,
                 slice_grid: Tuple[int, int] = (2, 2),
                 overlap_ratio: float = 0.2,
                 keep_debug: bool = False,
                 crop_num_queries: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None):
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        if mode not in ('vicrop', 'uniform'):
            raise ValueError(f'mode must be vicrop|uniform, got {mode}')
        self.mode = mode
        self.layers = None if layers is None else list(layers)
        self.query_weighting = query_weighting
        self.topk_queries = topk_queries
        self.grid_stride = grid_stride
        self.window_ratios = list(window_ratios)
        self.window_stride_ratio = window_stride_ratio
        self.crop_scale = crop_scale
        self.budget = budget
        self.max_crops = max_crops
        self.window_iou_thr = window_iou_thr
        self.min_mass_ratio = min_mass_ratio
        self.min_entropy = min_entropy
        self.border_tol = border_tol
        self.nms_cfg = dict(nms or dict(type='nms', iou_threshold=0.5))
        if merge not in ('nms', 'cross'):
            raise ValueError(f'merge must be nms|cross, got {merge}')
        self.merge = merge
        self.crop_score_scale = crop_score_scale
        test_cfg = getattr(self.module, 'test_cfg', None) or {}
        self.max_per_img = max_per_img if max_per_img is not None else \
            test_cfg.get('max_per_img', None)
        self.slice_grid = tuple(slice_grid)
        self.overlap_ratio = overlap_ratio
        self.keep_debug = keep_debug
        self.last_debug: Optional[dict] = None
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

    # -- steps -------------------------------------------------------------
    def attention_maps(self, recorder: DecoderAttentionRecorder,
                       grid_hw: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """SAE (bs, gh, gw) and saliency (bs, gh, gw) of a recorded pass."""
        loc, w = recorder.sampling()  # (bs, n_rec, nq, H, N, 2), (..., N)
        bs, _, nq = w.shape[:3]
        qw = query_weights(recorder.query_scores(), (bs, nq),
                           self.query_weighting,
                           self.topk_queries,
                           device=w.device)
        head_maps = splat_attention(loc, w, grid_hw, qw[:, None])
        return spatial_attention_entropy(head_maps)

    def choose_crops(self, sae: Optional[Tensor], saliency: Optional[Tensor],
                     img_hw: Tuple[int, int], num_heads: int) -> Tensor:
        """Crop windows (k, 4) xyxy in input pixels for one image."""
        h, w = img_hw
        if self.mode == 'uniform':
            return uniform_windows(img_hw, self.slice_grid, self.overlap_ratio)
        windows = sliding_windows(img_hw, self.window_ratios,
                                  self.window_stride_ratio)
        stats = score_windows(saliency, sae, windows, self.grid_stride, img_hw,
                              num_heads)
        valid = (stats['mass'] >= self.min_mass_ratio * stats['area']) & \
            (stats['entropy'] >= self.min_entropy)
        cost = ((windows[:, 2] - windows[:, 0]) *
                (windows[:, 3] - windows[:, 1]) * self.crop_scale**2)
        budget = None if self.budget is None else self.budget * h * w
        keep = select_windows(windows.to(sae.device), stats['score'], valid,
                              self.window_iou_thr, self.max_crops,
                              cost.to(sae.device), budget)
        # windows live on the host: one sync per image to index them
        return windows[keep.cpu()]

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

    @contextlib.contextmanager
    def _crop_queries(self):
        """Run the detector with ``crop_num_queries`` queries inside.

        The head's ``max_per_img`` is capped at ``k * num_classes``: DETR
        heads take their top-``max_per_img`` over (queries x classes).
        """
        det, k = self.module, self.crop_num_queries
        if k is None:
            yield
            return
        full_nq, full_emb = det.num_queries, det.query_embedding
        test_cfg = getattr(det.bbox_head, 'test_cfg', None)
        full_max = None if test_cfg is None else test_cfg.get('max_per_img')
        det.num_queries = k
        det.query_embedding = nn.Embedding.from_pretrained(
            full_emb.weight[:k], freeze=True)
        if full_max is not None:
            test_cfg['max_per_img'] = min(full_max,
                                          k * det.bbox_head.num_classes)
        try:
            yield
        finally:
            det.num_queries, det.query_embedding = full_nq, full_emb
            if full_max is not None:
                test_cfg['max_per_img'] = full_max

    def crop_batch(self,
                   inputs: Tensor,
                   crops: List[Tensor],
                   min_area: int = 0
                   ) -> Tuple[Tensor, List[DetDataSample], List[tuple]]:
        """Cut, upsample and pad all crops into one batch.

        Args:
            inputs (Tensor): (bs, C, Hp, Wp) preprocessed batch.
            crops (list[Tensor]): per image (k_i, 4) integer xyxy windows.
            min_area (int): pad the batch to at least this many pixels
                (see :meth:`min_crop_area`); padding is masked.

        Returns:
            tuple: crop batch (n, C, Hc, Wc), its data samples, and per crop
            ``(image index, crop xyxy, (sx, sy))``.
        """
        patches, owners = [], []
        for b, boxes in enumerate(crops):
            for box in boxes.tolist():  # a handful of windows per image
                x0, y0, x1, y1 = (int(v) for v in box)
                size = (max(1, round((y1 - y0) * self.crop_scale)),
                        max(1, round((x1 - x0) * self.crop_scale)))
                patch = F.interpolate(inputs[b:b + 1, :, y0:y1, x0:x1],
                                      size=size,
                                      mode='bilinear',
                                      align_corners=False)
                patches.append(patch[0])
                owners.append((b, inputs.new_tensor(box),
                               inputs.new_tensor(
                                   [size[1] / (x1 - x0),
                                    size[0] / (y1 - y0)])))
        div = getattr(self.module.data_preprocessor, 'pad_size_divisor', 1)
        ph = math.ceil(max(p.shape[1] for p in patches) / div) * div
        pw = math.ceil(max(p.shape[2] for p in patches) / div) * div
        if ph * pw < min_area:
            grow = math.sqrt(min_area / (ph * pw))
            ph = math.ceil(ph * grow / div) * div
            pw = math.ceil(pw * grow / div) * div
        batch = inputs.new_zeros(len(patches), inputs.shape[1], ph, pw)
        samples = []
        for i, p in enumerate(patches):
            batch[i, :, :p.shape[1], :p.shape[2]] = p
            hw = tuple(p.shape[1:])
            samples.append(
                DetDataSample(metainfo=dict(img_shape=hw,
                                            ori_shape=hw,
                                            scale_factor=(1.0, 1.0),
                                            pad_shape=(ph, pw),
                                            batch_input_shape=(ph, pw))))
        return batch, samples, owners

    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: List[DetDataSample]) -> List[DetDataSample]:
        """First pass, crop selection, second pass, merge.

        Args:
            inputs (Tensor): (bs, C, Hp, Wp) preprocessed, padded batch.
            data_samples (list[DetDataSample]): with ``img_shape``,
                ``scale_factor``, ``batch_input_shape`` metainfo.

        Returns:
            list[DetDataSample]: the samples with merged ``pred_instances``
            in original-image coordinates.
        """
        det = self.module
        hp, wp = inputs.shape[-2:]
        grid_hw = (math.ceil(hp / self.grid_stride),
                   math.ceil(wp / self.grid_stride))
        sae = saliency = None
        do_crop = self.budget != 0 and self.max_crops != 0
        use_sae = self.mode == 'vicrop' and do_crop
        # otherwise only the memory shapes are recorded
        recorder = DecoderAttentionRecorder(det,
                                            self.layers if use_sae else [])
        with recorder:
            results = det.predict(inputs, data_samples, rescale=True)
        num_heads = 1
        if use_sae:
            num_heads = recorder.records[0]['num_heads']
            sae, saliency = self.attention_maps(recorder, grid_hw)
        crops = []
        for b, s in enumerate(results):
            img_hw = tuple(int(v) for v in s.metainfo['img_shape'])
            if not do_crop:
                crops.append(torch.zeros(0, 4))
                continue
            crops.append(
                self.choose_crops(None if sae is None else sae[b],
                                  None if saliency is None else saliency[b],
                                  img_hw, num_heads))
        if self.keep_debug:
            self.last_debug = dict(
                sae=sae,
                saliency=saliency,
                crops=crops,
                grid_stride=self.grid_stride,
                first_pass=[r.pred_instances.clone() for r in results])
        if sum(len(c) for c in crops) == 0:
            return results  # nothing qualifies: the plain predictions
        batch, crop_samples, owners = self.crop_batch(
            inputs, crops, self.min_crop_area(recorder.spatial_shapes,
                                              (hp, wp)))
        with self._crop_queries():
            crop_results = det.predict(batch, crop_samples, rescale=False)
        extra: List[List[InstanceData]] = [[] for _ in results]
        for (b, crop, sxy), cr in zip(owners, crop_results):
            inst = cr.pred_instances
            img_hw = tuple(int(v) for v in results[b].metainfo['img_shape'])
            boxes = crop_to_image_boxes(inst.bboxes, crop, sxy)
            keep = ~border_cut_mask(boxes, crop, img_hw, self.border_tol)
            sf = boxes.new_tensor(results[b].metainfo['scale_factor'])
            part = InstanceData()
            part.bboxes = boxes[keep] / sf.repeat(2)
            part.scores = inst.scores[keep] * self.crop_score_scale
            part.labels = inst.labels[keep]
            extra[b].append(part)
        for b, s in enumerate(results):
            if not extra[b]:
                continue
            if self.merge == 'cross':
                s.pred_instances = merge_detections_cross(
                    s.pred_instances, extra[b],
                    self.nms_cfg.get('iou_threshold', 0.5), self.max_per_img)
            else:
                s.pred_instances = merge_detections([s.pred_instances] +
                                                    extra[b], self.nms_cfg,
                                                    self.max_per_img)
        return results


def wrap_config_with_vicrop(cfg: Config, **overrides) -> Config:
    """Wrap ``cfg.model`` in :class:`ViCropTTAModel` for testing.

    Settings come from, in order: ``overrides``, the config's ``vicrop`` dict,
    a ``tta_model`` of type ``ViCropTTAModel`` (its other keys), defaults.
    A model that is already a ``ViCropTTAModel`` is only updated.
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
