"""ENACT: entropy-based clustering of the keys and values of self-attention.

Paper: G. Savathrakis and A. Argyros, "ENACT: Entropy-based Clustering of
Attention Input for Reducing the Computational Needs of Object Detection
Transformers" (ICIP 2025, arXiv 2409.07541), Eq. 1-4 and Fig. 2.

This is a re-implementation of the PAPER, written from its text:

1. p.d.f. over the key tokens: ``p = softmax_tokens(Linear(d, 1)(K))``, with
   K = key + key_pos (Eq. 3 input).
2. Self-information ``H = -p log p`` (Eq. 3; natural log, see ``log_base``).
3. 1-D Gaussian smoothing with standard deviation ``sigma``; the kernel spans
   ``[-3 sigma, 3 sigma]`` (``2 * ceil(3 sigma) + 1`` taps, normalised to 1).
4. Second derivative with the kernel ``[-1, 2, -1]`` (Eq. 4).
5. Step function: ``+1`` where the second derivative is > 0, ``-1`` elsewhere.
6. Every maximal run of equal sign is one cluster (data-driven count).
7. In each cluster the weights are the softmax of the SMOOTHED information
   over the cluster's tokens; the cluster key / value are the weighted sums of
   the keys / values of its tokens.
8. Queries are not clustered: standard multi-head attention of all N queries
   over the M clusters (Eq. 1-2, 1/sqrt(d_head) scaling).

Token order: mmdet's DETRs flatten the (H, W) feature map row-major
(``feat.view(bs, c, -1).permute(0, 2, 1)``). Clustering runs along that 1-D
order exactly as in the paper; a run may wrap from the end of one image row to
the start of the next.

Departures from the authors' public code (on purpose, the paper is followed):
the code clusters into fixed chunks of one batch-wide size, drops the
``N mod c`` leftover tokens, reads the size back to the host in every layer,
scales the attention by ``1/d_head`` after the softmax and ignores the key
padding mask. Here the clusters are the variable-length sign regions, no token
is dropped, the attention scaling is the standard one and padding is honoured.

Variable cluster counts in a batch are handled on the device without Python
loops: region starts -> ``cumsum`` -> cluster ids -> ``scatter_add`` segment
sums into ``(B, M, d)`` padded to the batch maximum ``M``; padded clusters get
``key_padding_mask=True``. Padded image tokens (``key_padding_mask``) get p=0,
are sent to a dump slot that is dropped, and a valid token after a padded one
always starts a new cluster, so padding never joins a cluster with valid
tokens. Steps 2-6 run over each image's valid tokens only, in fp32 with
autocast off: an image clusters the same alone and inside a padded batch, and
under bf16 as under fp32 (tested).

The padded cluster count ``M`` is a tensor shape and therefore must be known
on the host. ``max_clusters=None`` (default) reads ``max_b(num_clusters_b)``
once per layer (ONE scalar device->host sync, the only one). A sync-free,
static-shape mode is ``max_clusters=<int>`` (or a float in (0, 1]: a fraction
of the key count, ``ceil(frac * N)``); over the cap, neighbouring clusters
merge evenly (cluster c of n into slot ``floor(c M / n)``;
``ENACTAttention.last_stats['overflow']`` flags the images where that
happened, as a tensor). ``max_clusters=1.0`` is exact and sync-free but pads
to N (no memory saving). ``max_run_length`` splits long sign regions into
pieces of at most that many tokens (off by default, as in the paper).

In-cluster weights: the softmax of the smoothed ``-p log p``, which is at
most ``1/e`` and, with ``p ~ 1/N``, of order ``log(N) / N``, so the weights
are within 0.6% of uniform (measured on a randomly initialised layer: max
relative deviation 0.59% / 0.32% / 0.12% at N = 1050 / 4200 / 16700): the
clusters act as means and the p.d.f. layer learns mostly through the region
boundaries. That is the paper's design; ``scale_weights=True`` (opt-in)
multiplies the scores by the number of valid tokens first.

Gradients: the region boundaries come from a step function and carry no
gradient (zero almost everywhere; no straight-through estimator is used, the
authors' STE is inert too). The p.d.f. Linear is trained through the in-cluster
softmax weights: ``d K_c / d e_i = w_i (K_i - K_c)``, where ``e_i`` is the
smoothed information, which depends on p through ``-p log p``, the Gaussian
convolution and the token softmax. Singleton clusters pass no gradient.
"""
import math
import warnings
from typing import Dict, Optional, Union

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import build_dropout
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS


def gaussian_kernel1d(sigma: float) -> Tensor:
    """Normalised 1-D Gaussian with taps at integers in [-3 sigma, 3 sigma]."""
    assert sigma > 0, f'sigma must be > 0, got {sigma}'
    half = int(math.ceil(3 * sigma))
    x = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    return kernel / kernel.sum()


def self_information(logits: Tensor,
                     padding_mask: Optional[Tensor] = None,
                     log_base: Optional[float] = None) -> Tensor:
    """``-p log p`` of the token p.d.f. ``p = softmax(logits)`` (B, N).

    Padded tokens get ``p = 0`` and therefore zero information.
    """
    if padding_mask is not None:
        logits = logits.masked_fill(padding_mask, float('-inf'))
    p = logits.softmax(dim=-1)
    # clamp: finite gradient where p underflows to 0 (padding); 0 log 0 = 0
    info = -p * p.clamp(min=torch.finfo(p.dtype).tiny).log()
    if log_base is not None:
        info = info / math.log(log_base)
    return info


def gaussian_smooth(info: Tensor, kernel: Tensor) -> Tensor:
    """1-D smoothing of (B, N) rows with ``kernel``, zero padded.

    Written as padded windows (``unfold`` + matmul) rather than ``conv1d``:
    same result, much faster for one channel on CPU.
    """
    half = kernel.numel() // 2
    windows = F.pad(info, (half, half)).unfold(-1, kernel.numel(), 1)
    return windows @ kernel.to(info)


def curvature_sign(smoothed: Tensor) -> Tensor:
    """Step function of Eq. 4: second derivative ``[-1, 2, -1]`` (zero
    padded) > 0, (B, N) bool. No gradient flows through a step."""
    s = F.pad(smoothed.detach(), (1, 1))
    return (2 * s[:, 1:-1] - s[:, :-2] - s[:, 2:]) > 0


def smooth_and_sign(info: Tensor, kernel: Tensor):
    """Gaussian smoothing of (B, N) -> (smoothed, sign > 0)."""
    smoothed = gaussian_smooth(info, kernel)
    return smoothed, curvature_sign(smoothed)


def sign_regions(positive: Tensor,
                 padding_mask: Optional[Tensor] = None,
                 max_run_length: Optional[int] = None):
    """Cluster ids of the runs of equal sign, padded tokens excluded.

    Args:
        positive (Tensor): (B, N) bool, the step function (> 0).
        padding_mask (Tensor, optional): (B, N) bool, True = padded token.
        max_run_length (int, optional): split longer runs into consecutive
            pieces of at most this many tokens.

    Returns:
        tuple: ``cluster_ids`` (B, N) long, 0-based along each row, ``-1`` for
        padded tokens; ``num_clusters`` (B,) long.
    """
    valid = torch.ones_like(positive) if padding_mask is None \
        else ~padding_mask
    start = torch.ones_like(positive)
    start[:, 1:] = (positive[:, 1:] != positive[:, :-1]) | ~valid[:, :-1]
    if max_run_length is not None:
        pos = torch.arange(positive.shape[1], device=positive.device)
        run_start = (start * pos).cummax(dim=1).values
        start = start | ((pos - run_start) % max_run_length == 0)
    start = start & valid
    ids = start.long().cumsum(dim=-1) - 1
    ids = ids.masked_fill(~valid, -1)
    return ids, start.sum(dim=-1)


def cluster_tokens(tensors, scores: Tensor, cluster_ids: Tensor,
                   num_slots: int):
    """Softmax-weighted segment sums of token features per cluster.

    Args:
        tensors (list[Tensor]): tensors of shape (B, N, C) to cluster.
        scores (Tensor): (B, N) logits of the in-cluster softmax.
        cluster_ids (Tensor): (B, N) long in ``[0, num_slots)`` or ``-1``
            (token dropped: padding).
        num_slots (int): number of output clusters M.

    Returns:
        tuple: the list of clustered (B, M, C) tensors and the (B, N) weights.
    """
    B = scores.shape[0]
    ids = torch.where(cluster_ids < 0, num_slots, cluster_ids)  # dump slot
    shift = scores.new_full((B, num_slots + 1), float('-inf'))
    shift = shift.scatter_reduce(
        1, ids, scores.detach(), reduce='amax', include_self=True)
    e = (scores - shift.gather(1, ids)).exp()
    denom = scores.new_zeros(B, num_slots + 1).scatter_add(1, ids, e)
    weights = e / denom.gather(1, ids)
    weights = weights.masked_fill(cluster_ids < 0, 0.)
    outs = []
    for x in tensors:  # K and V: two tensors, not a loop over images
        idx = ids.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        out = x.new_zeros(B, num_slots + 1, x.shape[-1]).scatter_add(
            1, idx, weights.unsqueeze(-1).to(x) * x)
        outs.append(out[:, :num_slots])
    return outs, weights


@MODELS.register_module()
class ENACTAttention(BaseModule):
    """Drop-in for mmcv ``MultiheadAttention`` with ENACT-clustered K and V.

    Same constructor keys and ``forward`` signature as mmcv's
    ``MultiheadAttention`` and the same residual (the output is
    ``identity + dropout_layer(proj_drop(attn))``). The projections live in a
    ``torch.nn.MultiheadAttention`` under ``attn.*``, as in mmcv, so a state
    dict of a plain DETR encoder attention loads with only ``pdf.*`` missing.
    Clustering happens before the in-projection; this is exact because the
    weights of a cluster sum to one and the projection is affine.

    Args:
        embed_dims (int): Feature dimension.
        num_heads (int): Attention heads.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the attention.
        dropout_layer (dict): Dropout on the residual branch.
        batch_first (bool): (B, N, C) inputs when True (mmdet's DETRs).
        sigma (float): Std of the Gaussian smoothing (paper: 5 for DETR and
            Conditional DETR, 3 for Anchor DETR).
        max_clusters (int | float, optional): Padded cluster count. None:
            batch maximum (one scalar device->host read per call). int: fixed
            cap; float in (0, 1]: ``ceil(frac * num_keys)``. Caps are
            sync-free. Over the cap, neighbouring clusters merge evenly
            (``last_stats['overflow']`` flags the images).
        max_run_length (int, optional): split sign regions longer than
            this many tokens (a peaked density can make one region of
            hundreds of tokens, averaged into one key). None (default): the
            paper's unbounded regions.
        log_base (float, optional): Base of the log in ``-p log p``; None =
            natural log (the paper does not fix it; the authors' code uses 2).
        scale_weights (bool): multiply the smoothed information by the
            number of valid tokens before the in-cluster softmax. The
            paper's weights (False, default) are within 0.6% of uniform:
            ``-p log p <= 1/e`` and ``p ~ 1/N``, so the softmax sees
            differences of order 1/N (module docstring). Opt-in.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 dropout_layer: Optional[dict] = dict(
                     type='Dropout', drop_prob=0.),
                 init_cfg: Optional[dict] = None,
                 batch_first: bool = False,
                 sigma: float = 5.0,
                 max_clusters: Optional[Union[int, float]] = None,
                 max_run_length: Optional[int] = None,
                 scale_weights: bool = False,
                 log_base: Optional[float] = None,
                 **kwargs) -> None:
        super().__init__(init_cfg)
        if 'dropout' in kwargs:  # same deprecated alias as mmcv
            attn_drop = kwargs['dropout']
            dropout_layer = dict(dropout_layer or {}, type='Dropout',
                                 drop_prob=kwargs.pop('dropout'))
        if isinstance(max_clusters, float) and not 0 < max_clusters <= 1:
            raise ValueError('ENACTAttention: a float max_clusters is a '
                             f'fraction in (0, 1], got {max_clusters}')
        if max_run_length is not None and max_run_length < 1:
            raise ValueError('ENACTAttention: max_run_length must be >= 1, '
                             f'got {max_run_length}')
        self.max_run = max_run_length
        self.scale_weights = scale_weights
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.batch_first = batch_first
        self.sigma = sigma
        self.max_clusters = max_clusters
        self.log_base = log_base
        self.attn = nn.MultiheadAttention(
            embed_dims, num_heads, attn_drop, batch_first=True, **kwargs)
        self.pdf = nn.Linear(embed_dims, 1)
        self.register_buffer(
            'smooth_kernel', gaussian_kernel1d(sigma), persistent=False)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(
            dropout_layer) if dropout_layer else nn.Identity()
        self.last_stats: Dict[str, Tensor] = {}

    def init_weights(self) -> None:
        """Xavier-uniform p.d.f. weight, zero bias (paper, Sec. 4.1)."""
        super().init_weights()
        nn.init.xavier_uniform_(self.pdf.weight)
        nn.init.zeros_(self.pdf.bias)

    def _num_slots(self, num_clusters: Tensor, num_keys: int) -> int:
        if self.max_clusters is None:
            # The one device->host read: tensor shapes live on the host.
            return max(int(num_clusters.max()), 1)
        if isinstance(self.max_clusters, float):
            return max(int(math.ceil(self.max_clusters * num_keys)), 1)
        return int(self.max_clusters)

    def _regions(self, key: Tensor, key_padding_mask: Optional[Tensor]):
        """Steps 1-6 on the valid tokens of each image, in fp32 (or the
        input's precision, if higher).

        Returns ``info``, ``smoothed`` (B, N) fp32 and ``cluster_ids``,
        ``num_clusters`` as :func:`sign_regions`.

        fp32 with autocast off: in bf16 the smoothed signal and its second
        difference tie by rounding and the clusters change (O(B N) work).
        Padded tokens are moved behind the valid ones before the 1-D filter
        (a stable sort keeps the row-major order), so an image's tokens are
        filtered exactly as when it is alone: padding columns of a batch
        would otherwise sit between its rows inside the Gaussian window.
        """
        dtype = torch.promote_types(key.dtype, torch.float32)
        with torch.autocast(key.device.type, enabled=False):
            logits = F.linear(key.to(dtype), self.pdf.weight.to(dtype),
                              self.pdf.bias.to(dtype)).squeeze(-1)
            info = self_information(logits, key_padding_mask, self.log_base)
            if key_padding_mask is None:
                smoothed, positive = smooth_and_sign(info, self.smooth_kernel)
                ids, num_clusters = sign_regions(positive,
                                                 max_run_length=self.max_run)
                return info, smoothed, ids, num_clusters
            order = key_padding_mask.int().argsort(dim=1, stable=True)
            pad = key_padding_mask.gather(1, order)
            smoothed = gaussian_smooth(info.gather(1, order),
                                       self.smooth_kernel)
            # the second difference's zero padding starts where the image's
            # tokens end (the blur spills into the slots behind them)
            smoothed = smoothed.masked_fill(pad, 0.)
            ids, num_clusters = sign_regions(curvature_sign(smoothed), pad,
                                             self.max_run)
            unsort = order.argsort(dim=1)
            return (info, smoothed.gather(1, unsort), ids.gather(1, unsort),
                    num_clusters)

    def cluster(self, key: Tensor, value: Tensor,
                key_padding_mask: Optional[Tensor] = None) -> Dict:
        """Cluster batch-first key (with pos) and value, (B, N, C) each.

        Returns a dict with ``key``/``value`` (B, M, C), ``key_padding_mask``
        (B, M), ``cluster_ids`` (B, N), ``num_clusters`` (B,) (after the
        cap: ``overflow`` (B,) flags the images whose sign regions were more
        and got merged), ``info`` and ``smoothed`` (B, N), ``weights``
        (B, N).
        """
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.bool()
        info, smoothed, ids, num_clusters = self._regions(
            key, key_padding_mask)
        num_slots = self._num_slots(num_clusters, key.shape[1])
        overflow = num_clusters > num_slots
        # Over the cap, neighbouring clusters merge evenly (cluster c of n
        # goes to slot floor(c M / n)), not all surplus into the last slot.
        merged = torch.div(ids.clamp(min=0) * num_slots,
                           num_clusters.clamp(min=1)[:, None],
                           rounding_mode='floor')
        ids = torch.where(overflow[:, None] & (ids >= 0), merged, ids)
        num_clusters = num_clusters.clamp(max=num_slots)
        scores = smoothed
        if self.scale_weights:
            # -p log p ~ log(N) / N: times N the in-cluster softmax sees
            # differences of order 1 instead of 1 / N
            n = key.shape[1] if key_padding_mask is None else \
                (~key_padding_mask).sum(-1, keepdim=True)
            scores = smoothed * n
        (k_cl, v_cl), weights = cluster_tokens([key, value], scores, ids,
                                               num_slots)
        slots = torch.arange(num_slots, device=key.device)
        cl_mask = slots.unsqueeze(0) >= num_clusters.unsqueeze(1)
        return dict(
            key=k_cl, value=v_cl, key_padding_mask=cl_mask, cluster_ids=ids,
            num_clusters=num_clusters, info=info, smoothed=smoothed,
            weights=weights, overflow=overflow)

    def forward(self,
                query: Tensor,
                key: Optional[Tensor] = None,
                value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None,
                key_pos: Optional[Tensor] = None,
                attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """Same contract as mmcv ``MultiheadAttention.forward``.

        ``attn_mask`` is defined per key token and has no meaning per cluster;
        it must be None (DETR encoders pass none).
        """
        if attn_mask is not None:
            raise NotImplementedError(
                'ENACTAttention clusters the keys; attn_mask is unsupported')
        if key is None:
            key = query
        if value is None:
            value = key
        if identity is None:
            identity = query
        if key_pos is None and query_pos is not None:
            if query_pos.shape == key.shape:
                key_pos = query_pos
            else:
                warnings.warn('position encoding of key is missing in '
                              f'{self.__class__.__name__}.')
        if query_pos is not None:
            query = query + query_pos
        if key_pos is not None:
            key = key + key_pos
        if not self.batch_first:
            query, key, value = (x.transpose(0, 1)
                                 for x in (query, key, value))

        cl = self.cluster(key, value, key_padding_mask)
        num_valid = key.new_full(cl['num_clusters'].shape, key.shape[1]) \
            if key_padding_mask is None else \
            (~key_padding_mask.bool()).sum(-1).to(key)
        self.last_stats = dict(
            num_keys=key.shape[1],  # a Python int: no host-to-device copy
            num_valid_keys=num_valid,
            num_clusters=cl['num_clusters'].detach(),
            overflow=cl['overflow'])
        out = self.attn(
            query, cl['key'], cl['value'],
            key_padding_mask=cl['key_padding_mask'], need_weights=False)[0]
        if not self.batch_first:
            out = out.transpose(0, 1)
        return identity + self.dropout_layer(self.proj_drop(out))

    def extra_repr(self) -> str:
        return (f'sigma={self.sigma}, max_clusters={self.max_clusters}, '
                f'max_run_length={self.max_run}')
