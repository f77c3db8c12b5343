"""ACS-Free: training-free choice among candidate boxes by attention entropy.

Yang et al., "Self-Improving Small Object Grounding in LVLMs" (seed
``002_7ff5ea7aecaac199``): among several candidate boxes for one object,
prefer the one whose attention is most focused (lowest entropy) on a few
*discriminative heads*, the heads whose entropy best separates good boxes
from bad ones. The paper works on LVLM attention and does not publish its
head rule; on a DETR we read, for each detection, the query that produced
it and the entropy of that query's deformable sampling weights per decoder
layer and head,

    H_{q,l,h} = -sum_{lv,p} w log w / log(L * P)        (in [0, 1]),

and pick the heads by the Spearman correlation between H and the IoU of the
detection with its best ground truth on a held-out split
(:func:`rank_heads`, ``tools/analysis_tools/acs_free_heads.py``): the most
negative correlations are the discriminative heads.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.ops import bbox_overlaps
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, get_box_tensor
from torch import Tensor


def point_entropy(weights: Tensor) -> Tensor:
    """Normalised entropy of each query's sampling weights per head.

    Args:
        weights (Tensor): (..., H, N) weights summing to 1 over the last dim
            (N = levels x points).

    Returns:
        Tensor: (..., H) in [0, 1].
    """
    w = weights.float().clamp(min=1e-12)
    return -(w * w.log()).sum(-1) / math.log(max(weights.shape[-1], 2))


def detection_queries(det_boxes: Tensor, query_boxes: Tensor) -> Tensor:
    """The query that produced each detection.

    DETR heads take their detections from the last layer's query boxes
    (scaled to the image and clipped); the nearest query box in L1 finds the
    query back without changing the head.

    Args:
        det_boxes (Tensor): (n, 4) xyxy normalised by the image size.
        query_boxes (Tensor): (nq, 4) last-layer cxcywh, normalised.

    Returns:
        Tensor: (n,) long query indices.
    """
    if len(det_boxes) == 0:
        return torch.zeros(0, dtype=torch.long, device=det_boxes.device)
    q = bbox_cxcywh_to_xyxy(query_boxes.float()).clamp(0, 1)
    return torch.cdist(det_boxes.float(), q, p=1).argmin(1)


def detection_head_entropy(recorder, samples,
                           keep: Optional[List[Tensor]] = None
                           ) -> List[Tensor]:
    """Per detection, the entropy of its query's sampling weights on every
    recorded decoder layer and head.

    Args:
        recorder (DecoderAttentionRecorder): after the pass (its sampling
            weights and last-layer boxes).
        samples (list[DetDataSample]): the pass's results; ``pred_instances``
            boxes in the pixels the head returned them in (``scale_factor``
            maps them to ``img_shape``, the image the detector saw).
        keep (list[Tensor], optional): per image, a bool mask of the
            detections to read.

    Returns:
        list[Tensor]: per image (n, layers * H), flat index
        ``layer * H + head`` over the recorded layers.
    """
    _, w = recorder.sampling()  # (bs, layers, nq, H, L*P)
    ent = point_entropy(w).permute(0, 2, 1, 3).flatten(2)  # (bs, nq, LH)
    out = []
    for b, s in enumerate(samples):  # a few images
        boxes = s.pred_instances.bboxes
        if keep is not None:
            boxes = boxes[keep[b]]
        sf = boxes.new_tensor(s.metainfo['scale_factor']).repeat(2)
        wh = boxes.new_tensor(s.metainfo['img_shape'][:2][::-1]).repeat(2)
        q = detection_queries(boxes * sf / wh, recorder.box_preds[b])
        out.append(ent[b, q])
    return out


def best_gt_iou(boxes: Tensor, labels: Tensor, gt) -> Tensor:
    """(n,) IoU of each box with its best ground truth of the same class
    (0 without one). ``gt`` (InstanceData) holds ``bboxes`` and ``labels``
    in the pixels of ``boxes``."""
    gt_boxes = get_box_tensor(gt.bboxes).to(boxes)
    if len(gt_boxes) == 0 or len(boxes) == 0:
        return boxes.new_zeros(len(boxes))
    iou = bbox_overlaps(boxes.float(), gt_boxes.float())
    same = labels[:, None] == gt.labels.to(labels.device)[None]
    return (iou * same).amax(1)


def head_entropy(entropy: Tensor, heads: Optional[Sequence[int]]) -> Tensor:
    """Mean over the chosen heads. ``entropy`` (..., n_heads) with heads
    flattened as ``layer * H + head``; None = all heads."""
    if heads is None:
        return entropy.mean(-1)
    return entropy[..., list(heads)].mean(-1)


def _average_ranks(v: Tensor) -> Tensor:
    """Ranks 0..n-1 of a 1-D tensor, ties sharing their mean rank."""
    uniq, inv = v.double().unique(return_inverse=True)
    counts = torch.bincount(inv, minlength=len(uniq)).double()
    first = counts.cumsum(0) - counts  # rank of each value's first copy
    return (first + (counts - 1) / 2)[inv]


def spearman(x: Tensor, y: Tensor) -> Tensor:
    """Spearman rank correlation of ``y`` (n,) with every column of ``x``
    (n, m), ties at their mean rank. Returns (m,); analysis code, not a hot
    path (one loop over the m columns)."""
    ry = _average_ranks(y)
    rx = torch.stack([_average_ranks(c) for c in x.T], 1)
    rx, ry = rx - rx.mean(0), ry - ry.mean()
    num = (rx * ry[:, None]).sum(0)
    den = (rx.pow(2).sum(0) * ry.pow(2).sum()).sqrt().clamp(min=1e-12)
    return (num / den).float()


def rank_heads(entropy: Tensor, iou: Tensor,
               num_heads: int = 3) -> Tuple[List[int], Tensor]:
    """Discriminative heads: entropy most negatively correlated with IoU.

    Args:
        entropy (Tensor): (n_det, n_heads) per-detection head entropies.
        iou (Tensor): (n_det,) IoU of each detection with its best
            same-class ground truth.
        num_heads (int): how many heads to keep.

    Returns:
        tuple: the chosen flattened head indices (most negative first) and
        the (n_heads,) Spearman correlations.
    """
    rho = spearman(entropy, iou)
    order = rho.argsort()
    return order[:num_heads].tolist(), rho
