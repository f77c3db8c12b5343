"""Heatmaps for HMPE: a trainable per-level heatmap head and the paper's
gradient-weighted heatmap (analysis only).

HMPE (Zeng, arXiv 2504.13469), Sec. 3.1. The paper derives H_class and
H_bbox from second/third-order gradients of the class score and of the box
regression loss w.r.t. a CNN feature map (Eq. 1-3). Computing those in every
training step would need higher-order autograd through the detector, so the
detector learns the heatmaps instead (:class:`HeatmapHead`), supervised from
the ground-truth boxes; :func:`gradient_weighted_heatmap` keeps Eq. 1-3 for
visualisation (``tools/analysis_tools/vis_heatmap.py --mode gradient``).

Training targets (:func:`heatmap_targets`), per level of stride (s_y, s_x)
(input size / level size), for every ground-truth box:

- H_class: a CenterNet-style Gaussian peaking at exactly 1 on the cell that
  holds the box centre, with per-axis sigma = max(sigma_ratio * box side,
  min_sigma * stride) (in input pixels), written into the box's class
  channel (or channel 0 when class-agnostic); overlaps keep the maximum.
- H_bbox: the box-interior indicator (1 on cells whose centre lies inside
  a box, and on the box's centre cell so that boxes smaller than a cell are
  not lost), 0 elsewhere.

Padded cells (outside ``img_shape``) get zero weight. Both maps use the
penalty-reduced focal loss of CenterNet (mmdet ``GaussianFocalLoss``),
normalised by the number of cells with target 1 over all levels.
"""
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.model import BaseModule
from torch import Tensor


@MODELS.register_module()
class HeatmapHead(BaseModule):
    """A light shared head predicting H_class and H_bbox on every level.

    conv3x3(in -> feat) + GN + ReLU, then two 1x1 convs with sigmoid.

    Args:
        in_channels (int): channels of the neck levels. Defaults to 256.
        feat_channels (int): hidden channels. Defaults to 64.
        num_classes (int): detector classes (channels of H_class).
        class_agnostic (bool): one H_class channel instead of one per class.
            Defaults to False.
        sigma_ratio (float): Gaussian sigma / box side. Defaults to 0.09
            (TTFNet's 0.54 / 6).
        min_sigma (float): lower bound of sigma in cells. Defaults to 0.5.
        prior_prob (float): initial heat (bias init). Defaults to 0.1.
        loss_cls (dict): loss on H_class. Defaults to GaussianFocalLoss.
        loss_bbox (dict): loss on H_bbox. Defaults to GaussianFocalLoss.
    """

    def __init__(self,
                 in_channels: int = 256,
                 feat_channels: int = 64,
                 num_classes: int = 10,
                 class_agnostic: bool = False,
                 sigma_ratio: float = 0.09,
                 min_sigma: float = 0.5,
                 prior_prob: float = 0.1,
                 loss_cls: dict = dict(
                     type='GaussianFocalLoss', loss_weight=1.0),
                 loss_bbox: dict = dict(
                     type='GaussianFocalLoss', loss_weight=1.0),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.num_classes = num_classes
        self.class_agnostic = class_agnostic
        self.cls_channels = 1 if class_agnostic else num_classes
        self.sigma_ratio = sigma_ratio
        self.min_sigma = min_sigma
        self.prior_prob = prior_prob
        self.conv = ConvModule(
            in_channels, feat_channels, 3, padding=1,
            norm_cfg=dict(type='GN', num_groups=min(32, feat_channels)))
        self.cls_out = nn.Conv2d(feat_channels, self.cls_channels, 1)
        self.bbox_out = nn.Conv2d(feat_channels, 1, 1)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)

    def init_weights(self) -> None:
        super().init_weights()
        bias = -torch.log(torch.tensor((1 - self.prior_prob) /
                                       self.prior_prob))
        for m in (self.cls_out, self.bbox_out):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.constant_(m.bias, bias)

    def forward(self, feats: Sequence[Tensor]
                ) -> Tuple[List[Tensor], List[Tensor]]:
        """Per level (bs, in, h, w) -> H_class (bs, C, h, w) and H_bbox
        (bs, 1, h, w), both fp32 sigmoid probabilities in [1e-4, 1 - 1e-4]."""
        h_cls, h_box = [], []
        for x in feats:
            x = self.conv(x)
            # fp32 under autocast: 1 - 1e-4 rounds to 1.0 in fp16, and the
            # focal loss of a background pixel at p = 1 is inf
            h_cls.append(self.cls_out(x).float().sigmoid().clamp(
                1e-4, 1 - 1e-4))
            h_box.append(self.bbox_out(x).float().sigmoid().clamp(
                1e-4, 1 - 1e-4))
        return h_cls, h_box

    def loss(self, h_cls: List[Tensor], h_box: List[Tensor],
             batch_data_samples: SampleList) -> dict:
        """Focal heatmap losses summed over levels.

        Returns:
            dict: ``loss_heatmap_cls`` and ``loss_heatmap_bbox``.
        """
        boxes, labels, bidx, img_hw = _gather_gts(batch_data_samples,
                                                  h_cls[0].device)
        pad_hw = batch_data_samples[0].metainfo['batch_input_shape']
        labels = labels * 0 if self.class_agnostic else labels
        ign_boxes, ign_bidx = _gather_ignored(batch_data_samples,
                                              h_cls[0].device)
        targets = []
        for c in h_cls:
            cls_t, box_t, valid = heatmap_targets(
                boxes, labels, bidx, img_hw, pad_hw, c.shape[-2:],
                self.cls_channels, self.sigma_ratio, self.min_sigma)
            # ignored regions (VisDrone crowds) are neither object nor
            # background: no loss there
            valid = valid & ~ignored_cells(ign_boxes, ign_bidx, len(img_hw),
                                           pad_hw, c.shape[-2:])
            targets.append((cls_t, box_t, valid))
        num_cls = sum(((t[0] == 1) & t[2]).sum() for t in targets)
        num_box = sum(((t[1] == 1) & t[2]).sum() for t in targets)
        loss_cls = sum(
            self.loss_cls(c, t[0], weight=t[2].to(c.dtype).expand_as(c),
                          avg_factor=num_cls.clamp(min=1))
            for c, t in zip(h_cls, targets))
        loss_box = sum(
            self.loss_bbox(b, t[1], weight=t[2].to(b.dtype),
                           avg_factor=num_box.clamp(min=1))
            for b, t in zip(h_box, targets))
        return dict(loss_heatmap_cls=loss_cls, loss_heatmap_bbox=loss_box)


def _batch_boxes(boxes_per_image: Sequence[Tensor],
                 device) -> Tuple[Tensor, Tensor]:
    """(N, 4) boxes of a batch, concatenated, and the (N, ) image index of
    each (no per-box loop)."""
    boxes = torch.cat([b.reshape(-1, 4) for b in boxes_per_image])
    # built on the host from python ints and copied without blocking: no
    # device -> host sync (repeat_interleave on the device would need one)
    counts = torch.tensor([len(b) for b in boxes_per_image])
    bidx = torch.repeat_interleave(torch.arange(len(counts)), counts).to(
        device, non_blocking=True)
    return boxes.to(device).float(), bidx


def _box_tensor(instances) -> Tensor:
    return getattr(instances.bboxes, 'tensor', instances.bboxes)


def _gather_ignored(batch_data_samples: SampleList,
                    device) -> Tuple[Tensor, Tensor]:
    """Ignored regions of the batch (``ignored_instances``, as
    :class:`IgnoredRegionsCocoDataset` packs them): (N, 4) xyxy boxes and
    (N, ) image indices; empty when there are none."""
    boxes = []
    for s in batch_data_samples:
        ign = s.get('ignored_instances', None)
        has = ign is not None and 'bboxes' in ign
        boxes.append(_box_tensor(ign) if has else torch.zeros(0, 4))
    return _batch_boxes(boxes, device)


def _gather_gts(batch_data_samples: SampleList, device) -> Tuple[Tensor, ...]:
    """All GT boxes of the batch with their image index (no per-box loop)."""
    gts = [s.gt_instances for s in batch_data_samples]
    boxes, bidx = _batch_boxes([_box_tensor(g) for g in gts], device)
    labels = torch.cat([g.labels for g in gts]).to(device).long()
    img_hw = torch.tensor([s.metainfo['img_shape'][:2]
                           for s in batch_data_samples],
                          dtype=torch.float32).to(device, non_blocking=True)
    return boxes, labels, bidx, img_hw


# Elements of one (boxes, h, w) temporary of heatmap_targets (4 MiB fp32).
_TARGET_BUDGET = 1 << 20


def _cell_centres(pad_hw: Sequence[int], level_hw: Sequence[int],
                  device) -> Tuple[Tensor, Tensor, float, float]:
    """Cell centres of a level in input pixels: ``ys`` (h,), ``xs`` (w,),
    and the strides ``sy``, ``sx``."""
    h, w = int(level_hw[0]), int(level_hw[1])
    sy, sx = pad_hw[0] / h, pad_hw[1] / w
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * sy
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * sx
    return ys, xs, sy, sx


def _cells_inside(boxes: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """(N, h, w) bool: cell centres inside each of the (N, 4) xyxy boxes."""
    w, h = xs.numel(), ys.numel()
    return ((xs.view(1, 1, w) >= boxes[:, 0].view(-1, 1, 1)) &
            (xs.view(1, 1, w) <= boxes[:, 2].view(-1, 1, 1)) &
            (ys.view(1, h, 1) >= boxes[:, 1].view(-1, 1, 1)) &
            (ys.view(1, h, 1) <= boxes[:, 3].view(-1, 1, 1)))


def ignored_cells(boxes: Tensor, bidx: Tensor, batch_size: int,
                  pad_hw: Sequence[int],
                  level_hw: Sequence[int]) -> Tensor:
    """(bs, 1, h, w) bool: cells whose centre lies in an ignored region.

    Args:
        boxes (Tensor): (N, 4) xyxy ignored regions, input pixels.
        bidx (Tensor): (N, ) image index of each region.
        batch_size (int): bs.
        pad_hw, level_hw: as in :func:`heatmap_targets`.
    """
    ys, xs, _, _ = _cell_centres(pad_hw, level_hw, boxes.device)
    h, w = ys.numel(), xs.numel()
    out = boxes.new_zeros(batch_size, h * w)
    if boxes.numel():
        out.scatter_reduce_(
            0, bidx.view(-1, 1).expand(-1, h * w),
            _cells_inside(boxes, xs, ys).view(-1, h * w).float(),
            reduce='amax')
    return out.view(batch_size, 1, h, w).bool()


def heatmap_targets(boxes: Tensor, labels: Tensor, bidx: Tensor,
                    img_hw: Tensor, pad_hw: Sequence[int],
                    level_hw: Sequence[int], num_channels: int,
                    sigma_ratio: float = 0.09,
                    min_sigma: float = 0.5) -> Tuple[Tensor, Tensor, Tensor]:
    """H_class / H_bbox targets of one level, vectorised over the boxes of
    the whole batch (see the module docstring).

    Args:
        boxes (Tensor): (N, 4) xyxy in input (padded batch) pixels.
        labels (Tensor): (N, ) channel of each box in the class map.
        bidx (Tensor): (N, ) image index of each box.
        img_hw (Tensor): (bs, 2) unpadded (h, w) of each image.
        pad_hw (tuple[int]): padded batch input (H, W).
        level_hw (tuple[int]): (h, w) of the level.
        num_channels (int): channels of the class map.

    Returns:
        tuple[Tensor]: class target (bs, C, h, w), box target (bs, 1, h, w),
        valid (bs, 1, h, w) bool (cell centre inside ``img_shape``).
    """
    bs = img_hw.size(0)
    h, w = int(level_hw[0]), int(level_hw[1])
    dev = img_hw.device
    ys, xs, sy, sx = _cell_centres(pad_hw, level_hw, dev)
    valid = (ys.view(1, h, 1) < img_hw[:, 0].view(bs, 1, 1)) & \
        (xs.view(1, 1, w) < img_hw[:, 1].view(bs, 1, 1))
    # centre cell of each box and Gaussian sigmas (in cells)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    ci = (cx / sx).floor().clamp(0, w - 1)
    cj = (cy / sy).floor().clamp(0, h - 1)
    sig_x = (sigma_ratio * (boxes[:, 2] - boxes[:, 0]) / sx).clamp(
        min=min_sigma)
    sig_y = (sigma_ratio * (boxes[:, 3] - boxes[:, 1]) / sy).clamp(
        min=min_sigma)
    gx = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w)
    gy = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1)
    cls_t = xs.new_zeros(bs * num_channels, h * w)
    box_t = xs.new_zeros(bs, h * w)
    channel = bidx * num_channels + labels
    # The per-box maps are (boxes, h, w): build them a chunk of boxes at a
    # time so that the temporaries stay under _TARGET_BUDGET elements
    # (1000 boxes on a 100x167 level would be 67 MB each at once).
    step = max(1, _TARGET_BUDGET // (h * w))
    for s in range(0, boxes.size(0), step):
        part = slice(s, s + step)
        gauss = torch.exp(
            -(gx - ci[part].view(-1, 1, 1))**2 /
            (2 * sig_x[part].view(-1, 1, 1)**2) -
            (gy - cj[part].view(-1, 1, 1))**2 /
            (2 * sig_y[part].view(-1, 1, 1)**2))
        inside = _cells_inside(boxes[part], xs, ys) | (gauss == 1)
        n = gauss.size(0)
        cls_t.scatter_reduce_(
            0, channel[part].view(n, 1).expand(n, h * w),
            gauss.view(n, h * w), reduce='amax')
        box_t.scatter_reduce_(
            0, bidx[part].view(n, 1).expand(n, h * w),
            inside.view(n, h * w).to(gauss.dtype), reduce='amax')
    return (cls_t.view(bs, num_channels, h, w), box_t.view(bs, 1, h, w),
            valid[:, None])


def _diag_derivatives(fn: Callable[[Tensor], Tensor], a: Tensor,
                      chunk: int = 256) -> Tuple[Tensor, Tensor, Tensor]:
    """Exact dy/da, d2y/da2 and d3y/da3 (diagonals) of a scalar ``fn``.

    One forward-over-reverse pass per element (vmapped in chunks): for
    small maps only.
    """
    from torch.func import grad, jvp, vmap
    g = grad(fn)
    n = a.numel()
    eye = torch.eye(n, dtype=a.dtype, device=a.device).view(n, *a.shape)

    def second(v):
        return jvp(g, (a, ), (v, ))[1]

    def third(v):
        return jvp(lambda x: jvp(g, (x, ), (v, ))[1], (a, ), (v, ))[1]

    d2, d3 = [], []
    for s in range(0, n, chunk):
        basis = eye[s:s + chunk]
        idx = torch.arange(s, s + basis.size(0), device=a.device)
        d2.append(vmap(second)(basis).flatten(1)[torch.arange(len(idx)),
                                                 idx])
        d3.append(vmap(third)(basis).flatten(1)[torch.arange(len(idx)),
                                                idx])
    return g(a), torch.cat(d2).view_as(a), torch.cat(d3).view_as(a)


def gradient_weighted_heatmap(model_or_fn: Callable[[Tensor], Tensor],
                              activations: Tensor,
                              mode: str = 'exp',
                              chunk: int = 256) -> Tensor:
    """Eq. 1-3: gradient-weighted heatmap of activations A for a score y.

    ``alpha = d2y/dA2 + d3y/dA3`` (Eq. 1, element-wise diagonals),
    ``beta_k = sum_ij alpha * relu(dy/dA)`` (Eq. 2),
    ``H = relu(sum_k beta_k A_k)`` (Eq. 3).

    Args:
        model_or_fn (callable): maps A of one image, (K, H, W), to a scalar:
            the class score S^c for H_class, or a (negated) regression loss
            for H_bbox.
        activations (Tensor): (bs, K, H, W) feature maps A.
        mode (str): ``'exact'``: y = fn(A), its higher derivatives by
            forward-over-reverse autograd (one pass per element; small maps
            only). ``'exp'``: Grad-CAM++'s closed form with y = exp(S),
            S = fn(A) assumed piecewise linear in A, so
            ``d^n y/dA^n = exp(S) (dS/dA)^n`` (one backward pass).

    Returns:
        Tensor: (bs, H, W), not normalised.
    """
    if mode not in ('exact', 'exp'):
        raise ValueError(f"mode must be 'exact' or 'exp', got {mode!r}")
    outs = []
    for a in activations.detach():  # analysis only: a loop over images
        if mode == 'exact':
            d1, d2, d3 = _diag_derivatives(model_or_fn, a, chunk)
        else:
            a = a.clone().requires_grad_(True)
            with torch.enable_grad():
                s = model_or_fn(a)
                ds, = torch.autograd.grad(s, a)
            ey = s.detach().exp()
            d1, d2, d3 = ey * ds, ey * ds**2, ey * ds**3
        alpha = d2 + d3
        beta = (alpha * d1.clamp(min=0)).sum((1, 2))
        outs.append((beta.view(-1, 1, 1) * a.detach()).sum(0).clamp(min=0))
    return torch.stack(outs)


__all__ = ['HeatmapHead', 'heatmap_targets', 'gradient_weighted_heatmap']
