"""Decoder cross-attention capture and Spatial Attention Entropy (SAE).

ViCrop-Det (Wang, Li, Chen, Zhang, "ViCrop-Det: Spatial Attention Entropy
Guided Cropping for Training-Free Small-Object Detection", arXiv 2604.26806)
uses the detector's own decoder cross-attention as a probe of where small,
ambiguous objects are. No code was released; this is our implementation of
the paper's Methodology for mmcv's ``MultiScaleDeformableAttention`` (the
decoder cross-attention of DINO, Cross-DINO and Deformable DETR in mmdet 3.x):

1. :class:`DecoderAttentionRecorder` captures, during the normal forward pass
   (the decoder is never re-run), each chosen decoder layer's sampling
   locations and attention weights, per head, level and point. mmcv keeps
   them as local variables, so we hook the module's inputs
   (``reference_points``, ``spatial_shapes``) and the raw outputs of its two
   ``nn.Linear`` submodules (``sampling_offsets``, ``attention_weights``) and
   re-apply mmcv's softmax and location formula. Hooks are removed on exit;
   weights and config are untouched.
2. :func:`splat_attention` bilinearly splats every sampling point's weight
   (optionally times its query's score) onto an image grid, one map per head,
   with a single ``scatter_add_`` (no loop over queries or points).
3. :func:`spatial_attention_entropy` computes, per grid cell,
   ``SAE(x, y) = -sum_h p_h(x, y) log p_h(x, y)`` with
   ``p_h = A_h / sum_h' A_h'`` the head-normalised attention (paper,
   Methodology), and the saliency ``S = sum_h A_h`` (attention magnitude).

Levels are summed: a sampling location is a normalised image position, the
level only decides which feature map is read there.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor


def deform_attn_sampling(offsets: Tensor, weight_logits: Tensor,
                         reference_points: Tensor, spatial_shapes: Tensor,
                         num_heads: int, num_levels: int,
                         num_points: int) -> Tuple[Tensor, Tensor]:
    """Sampling locations and weights of mmcv's MultiScaleDeformableAttention.

    Re-applies the module's own formulas (mmcv 2.x
    ``MultiScaleDeformableAttention.forward``) to its Linear outputs.

    Args:
        offsets (Tensor): ``sampling_offsets`` output, (bs, nq, H*L*P*2).
        weight_logits (Tensor): ``attention_weights`` output, (bs, nq, H*L*P).
        reference_points (Tensor): (bs, nq, L, 2) points or (bs, nq, L, 4)
            boxes (cx, cy, w, h), normalised to the padded input.
        spatial_shapes (Tensor): (L, 2) feature sizes as (h, w).

    Returns:
        tuple[Tensor, Tensor]: locations (bs, nq, H, L, P, 2) as normalised
        (x, y) in the padded input, and weights (bs, nq, H, L, P) that sum to
        1 over (L, P) for every query and head.
    """
    bs, nq = offsets.shape[:2]
    offsets = offsets.view(bs, nq, num_heads, num_levels, num_points, 2)
    weights = weight_logits.view(bs, nq, num_heads, num_levels * num_points)
    weights = weights.softmax(-1).view(bs, nq, num_heads, num_levels,
                                       num_points)
    if reference_points.shape[-1] == 2:
        normalizer = torch.stack(
            [spatial_shapes[..., 1], spatial_shapes[..., 0]],
            -1).to(offsets.dtype)
        loc = reference_points[:, :, None, :, None, :] + \
            offsets / normalizer[None, None, None, :, None, :]
    elif reference_points.shape[-1] == 4:
        loc = reference_points[:, :, None, :, None, :2] + \
            offsets / num_points * reference_points[:, :, None, :, None, 2:] \
            * 0.5
    else:
        raise ValueError('reference_points must end in 2 or 4, got '
                         f'{reference_points.shape[-1]}')
    return loc, weights


class DecoderAttentionRecorder:
    """Records decoder cross-attention of a DETR-family detector.

    Use as a context manager around the detector's ``predict``; hooks are
    registered on entry and removed on exit. Works with any detector whose
    ``decoder.layers[i].cross_attn`` is an mmcv ``MultiScaleDeformableAttention``
    called with keyword ``reference_points`` and ``spatial_shapes`` (mmdet's
    DINO, Deformable DETR, crossdino's CrossDINO). The final-layer class
    logits are captured from ``bbox_head`` (its forward returns
    ``(all_layers_cls_scores, all_layers_bbox_preds)``) to weight queries.

    Args:
        detector (nn.Module): the detector (not a wrapper).
        layers (Sequence[int], optional): decoder layers to record (negative
            indices allowed). Defaults to all layers.
        encoder_logits (bool): also record the two-stage encoder's class
            logits for every memory token (``bbox_head.cls_branches[
            num_layers]``, which DINO and two-stage Deformable DETR apply to
            the whole memory). Default False.

    Attributes:
        records (list[dict]): one dict per recorded cross-attention call with
            ``offsets``, ``logits``, ``reference_points``, ``spatial_shapes``
            and the module's ``num_heads/num_levels/num_points``.
        cls_logits (Tensor | None): (bs, nq, C) last-layer class logits.
        box_preds (Tensor | None): (bs, nq, 4) last-layer boxes, normalised
            cxcywh.
        enc_logits (Tensor | None): (bs, num_tokens, C) encoder class logits
            (``encoder_logits=True``).
        spatial_shapes (Tensor | None): (L, 2) memory sizes seen by the
            decoder (also recorded with ``layers=[]``).
        enabled (bool): set False to stop recording (e.g. second pass).
    """

    def __init__(self,
                 detector: nn.Module,
                 layers: Optional[Sequence[int]] = None,
                 encoder_logits: bool = False):
        decoder = getattr(detector, 'decoder', None)
        if decoder is None or not hasattr(decoder, 'layers'):
            raise TypeError(f'{type(detector).__name__} has no '
                            '`decoder.layers`: not a DETR-family detector')
        all_layers = list(decoder.layers)
        n = len(all_layers)
        idx = range(n) if layers is None else [i % n for i in layers]
        self.attn_modules = [all_layers[i].cross_attn for i in idx]
        for m in self.attn_modules:
            for name in ('sampling_offsets', 'attention_weights', 'num_heads',
                         'num_levels', 'num_points'):
                if not hasattr(m, name):
                    raise TypeError(f'{type(m).__name__} lacks `{name}`: '
                                    'not a multi-scale deformable attention')
        self.head = getattr(detector, 'bbox_head', None)
        self.decoder = decoder
        self.enc_branch = None
        if encoder_logits:
            branches = getattr(self.head, 'cls_branches', None)
            if not getattr(detector, 'as_two_stage', False) or \
                    branches is None or len(branches) <= n:
                raise TypeError(
                    f'{type(detector).__name__} is not a two-stage DETR with '
                    '`bbox_head.cls_branches[num_layers]` (DINO, two-stage '
                    'Deformable DETR): no encoder class logits to record')
            self.enc_branch = branches[n]
        self.spatial_shapes: Optional[Tensor] = None
        self.handles: List = []
        self.records: List[Dict] = []
        self.cls_logits: Optional[Tensor] = None
        self.box_preds: Optional[Tensor] = None
        self.enc_logits: Optional[Tensor] = None
        self.enabled = True

    # hooks ---------------------------------------------------------------
    def _pre_hook(self, module, args, kwargs):
        if self.enabled:
            self._pending[id(module)] = dict(
                reference_points=kwargs['reference_points'],
                spatial_shapes=kwargs['spatial_shapes'],
                num_heads=module.num_heads,
                num_levels=module.num_levels,
                num_points=module.num_points)
        return None

    def _linear_hook(self, attn, key):

        def hook(module, inputs, output):
            if self.enabled:
                self._pending[id(attn)][key] = output.detach()

        return hook

    def _post_hook(self, module, inputs, output):
        if self.enabled:
            self.records.append(self._pending.pop(id(module)))

    def _decoder_hook(self, module, args, kwargs):
        if self.enabled and 'spatial_shapes' in kwargs:
            self.spatial_shapes = kwargs['spatial_shapes']
        return None

    def _head_hook(self, module, inputs, output):
        if self.enabled:
            self.cls_logits = output[0][-1].detach()
            self.box_preds = output[1][-1].detach()

    def _enc_hook(self, module, inputs, output):
        # the first call of a forward: with shared prediction layers
        # (Deformable DETR without box refinement) the same module also
        # classifies every decoder layer's queries afterwards
        if self.enabled and self.enc_logits is None:
            self.enc_logits = output.detach()

    def __enter__(self) -> 'DecoderAttentionRecorder':
        self.records, self.cls_logits, self._pending = [], None, {}
        self.box_preds = self.enc_logits = self.spatial_shapes = None
        self.handles.append(
            self.decoder.register_forward_pre_hook(self._decoder_hook,
                                                   with_kwargs=True))
        for m in self.attn_modules:
            self.handles += [
                m.register_forward_pre_hook(self._pre_hook, with_kwargs=True),
                m.sampling_offsets.register_forward_hook(
                    self._linear_hook(m, 'offsets')),
                m.attention_weights.register_forward_hook(
                    self._linear_hook(m, 'logits')),
                m.register_forward_hook(self._post_hook)
            ]
        if self.head is not None:
            self.handles.append(
                self.head.register_forward_hook(self._head_hook))
        if self.enc_branch is not None:
            self.handles.append(
                self.enc_branch.register_forward_hook(self._enc_hook))
        return self

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def __exit__(self, *exc) -> None:
        self.remove()

    # results -------------------------------------------------------------
    def sampling(self) -> Tuple[Tensor, Tensor]:
        """Recorded sampling points of all recorded layers, concatenated.

        Returns:
            tuple[Tensor, Tensor]: locations (bs, n_rec, nq, H, L*P, 2) and
            weights (bs, n_rec, nq, H, L*P), ``n_rec`` recorded layers.
        """
        if not self.records:
            raise RuntimeError('no cross-attention was recorded')
        locs, weights = [], []
        for r in self.records:
            loc, w = deform_attn_sampling(r['offsets'], r['logits'],
                                          r['reference_points'],
                                          r['spatial_shapes'], r['num_heads'],
                                          r['num_levels'], r['num_points'])
            bs, nq, h = w.shape[:3]
            locs.append(loc.reshape(bs, nq, h, -1, 2))
            weights.append(w.reshape(bs, nq, h, -1))
        return torch.stack(locs, 1), torch.stack(weights, 1)

    def query_scores(self) -> Optional[Tensor]:
        """(bs, nq) best-class sigmoid score of each query, or None."""
        if self.cls_logits is None:
            return None
        return self.cls_logits.sigmoid().amax(-1)


def query_weights(scores: Optional[Tensor],
                  shape: Tuple[int, int],
                  mode: str = 'score',
                  topk: Optional[int] = None,
                  device=None,
                  score_thr: float = 0.3) -> Tensor:
    """Per-query weight of the splat.

    Args:
        scores (Tensor | None): (bs, nq) query scores; None means uniform.
        shape (tuple): (bs, nq).
        mode (str): ``'score'`` (weight = score, the paper's saliency),
            ``'uniform'`` (1) or ``'unconfident'`` (score, but 0 for queries
            at or above ``score_thr``: only what the first pass was unsure
            of draws crops).
        topk (int, optional): keep only the ``topk`` best-scoring queries
            (of those ``'unconfident'`` keeps).
        score_thr (float): the confidence of ``'unconfident'``.

    Returns:
        Tensor: (bs, nq) weights.
    """
    if mode not in ('score', 'uniform', 'unconfident'):
        raise ValueError('query weighting must be score|uniform|unconfident, '
                         f'got {mode}')
    if scores is None:
        return torch.ones(shape, device=device)
    w = torch.ones_like(scores) if mode == 'uniform' else scores
    if mode == 'unconfident':
        w = torch.where(scores < score_thr, scores, torch.zeros_like(scores))
    if topk is not None and topk < scores.shape[1]:
        # the best-scoring queries; of the unconfident ones for that mode
        rank = w if mode == 'unconfident' else scores
        keep = rank.topk(topk, dim=1).indices
        w = torch.zeros_like(w).scatter(1, keep, w.gather(1, keep))
    return w


def splat_attention(locations: Tensor,
                    weights: Tensor,
                    grid_hw: Tuple[int, int],
                    query_weight: Optional[Tensor] = None) -> Tensor:
    """Bilinearly splat attention weights onto an image grid, per head.

    A point at normalised (x, y) lands at grid position
    ``(x * gw - 0.5, y * gh - 0.5)`` (cell centres, ``align_corners=False``)
    and its weight is shared between the 4 neighbouring cells. Positions are
    clamped to the grid, so the total mass is conserved exactly:
    ``out.sum((-1, -2)) == (weights * query_weight).sum`` per image and head.

    Args:
        locations (Tensor): (bs, ..., H, N, 2) normalised (x, y), with any
            number of middle dims (layers, queries) before the head dim.
        weights (Tensor): (bs, ..., H, N).
        grid_hw (tuple[int, int]): (gh, gw).
        query_weight (Tensor, optional): broadcastable to ``weights`` after
            appending two dims, e.g. (bs, nq) for weights (bs, L, nq, H, N)
            must be given as (bs, 1, nq).

    Returns:
        Tensor: (bs, H, gh, gw) per-head attention maps.
    """
    gh, gw = grid_hw
    bs, num_heads = weights.shape[0], weights.shape[-2]
    if query_weight is not None:
        weights = weights * query_weight[..., None, None]
    # head index as the leading per-image dim: (bs, H, M)
    w = weights.movedim(-2, 1).reshape(bs, num_heads, -1)
    loc = locations.movedim(-3, 1).reshape(bs, num_heads, -1, 2)
    x = (loc[..., 0] * gw - 0.5).clamp(0, gw - 1)
    y = (loc[..., 1] * gh - 0.5).clamp(0, gh - 1)
    x0 = x.floor().clamp(max=gw - 2) if gw > 1 else x.floor()
    y0 = y.floor().clamp(max=gh - 2) if gh > 1 else y.floor()
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    x1 = (x0 + 1).clamp(max=gw - 1)
    y1 = (y0 + 1).clamp(max=gh - 1)
    idx = torch.stack([y0 * gw + x0, y0 * gw + x1, y1 * gw + x0, y1 * gw + x1],
                      -1)  # (bs, H, M, 4)
    val = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy),
                       (1 - fx) * fy, fx * fy], -1) * w[..., None]
    out = w.new_zeros(bs, num_heads, gh * gw)
    out.scatter_add_(2, idx.flatten(2), val.flatten(2))
    return out.view(bs, num_heads, gh, gw)


def spatial_attention_entropy(
        head_maps: Tensor,
        eps: float = 1e-12,
        normalize: bool = False) -> Tuple[Tensor, Tensor]:
    """SAE and saliency from per-head attention maps.

    ``SAE(x, y) = -sum_h p_h log p_h``, ``p_h = A_h / sum_h A_h`` (ViCrop-Det,
    Methodology). Cells without attention (sum below ``eps``) get SAE 0.

    Args:
        head_maps (Tensor): (bs, H, gh, gw) non-negative attention per head.
        normalize (bool): divide by ``log H`` so SAE lies in [0, 1].

    Returns:
        tuple[Tensor, Tensor]: SAE (bs, gh, gw) in nats (in [0, log H]) and
        saliency ``sum_h A_h`` (bs, gh, gw).
    """
    saliency = head_maps.sum(1)
    p = head_maps / saliency.clamp(min=eps)[:, None]
    sae = -(p * torch.log(p.clamp(min=eps))).sum(1)
    sae = torch.where(saliency > eps, sae, torch.zeros_like(sae))
    if normalize:
        sae = sae / math.log(head_maps.shape[1])
    return sae, saliency
