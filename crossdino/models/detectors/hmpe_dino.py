"""HMPE-DINO: DINO with heatmap positional embedding, MOHFE and HIDQ.

HMPE: HeatMap Embedding for Efficient Transformer-Based Small Object
Detection (Zeng, arXiv 2504.13469), Sec. 3.1-3.2, Fig. 2-3. The data flow::

    backbone -> neck (ChannelMapper or LSConvChannelMapper) -> img_feats
    img_feats -> HeatmapHead -> H_class, H_bbox per level (trained, focal)
    pre_transformer -> [mask filter: feat_pos = Mask(H_mixed) * sine + lvl]
                    -> [MOHFE: feat += W [E_class || E_bbox]]
    encoder -> pre_decoder [HIDQ: DINO's top-k, content from E_mixed]
    decoder (3 or 6 layers) -> DINOHead

What each switch of ``hmpe`` maps to, and where it deviates:

- Mask filter (Eq. 4, 6-7), ``mask_filter``: the encoder's sine encoding is
  replaced by :class:`HeatmapPositionalEncoding` fed with H_mixed; the level
  embedding is added afterwards, as in DINO. The heatmaps come from a
  trained head, not from gradients (see ``heatmap_head.py``).
- MOHFE (Eq. 5), ``mohfe``: E_class = conv1x1(H_class), E_bbox =
  conv1x1(H_bbox) (to embed_dims, per level, shared weights), concatenated
  and projected, ``W [E_class || E_bbox]`` (computed as one composed 1x1
  conv, :meth:`HMPEDINO.mohfe_weight`), and ADDED to the flattened
  encoder input ``feat``. Deformable attention forms its query from
  ``feat + pos`` and its values from ``feat`` (keys are implicit), so the
  heatmap embedding enters Q and V of every encoder layer, on all levels.
  Deviation: the paper builds Q/K/V from the heatmap embeddings alone; here
  they are fused into the image tokens (the encoder still needs the image
  content). The projection is zero-initialised (training starts as DINO).
- HIDQ (Eq. 8-9). Eq. 8 initialises the *content* of the decoder queries
  from the mixed heatmap; it does not choose query positions (the authors'
  base selects them by class score). So by default (``query_selection=
  'class'``) the positions are DINO's top-k by class logit and, with
  ``hidq_content``, the content queries become ``query_embedding + W'_Q
  E_mixed``, E_mixed = H_mixed x the selected encoder token (zero-
  initialised W'_Q; cold tokens fall back to the learned embedding,
  "suppressed"). Reference boxes stay DINO's encoder proposals; Eq. 9 is
  the decoder's deformable cross-attention, unchanged.
  Options: ``'heatmap'`` ranks the 3x3 peaks of H_class (max over
  classes, every level, raw probabilities so that levels compare) above
  ``tau`` first and fills the remaining slots by class score
  (:func:`heat_peaks`); ranking raw H_mixed would let the H_bbox plateau
  of every object of 16 px or more take the queries of tiny objects
  (tested). ``'product'`` ranks sigmoid class score x H_mixed, tokens with
  H_mixed <= tau after all hot ones. DINO's invalid proposals (padding,
  border) are never selected. num_queries stays fixed.
- Loss: ``HeatmapHead.loss`` (``loss_heatmap_cls``, ``loss_heatmap_bbox``)
  is added to DINO's losses.

``hmpe=None`` is mmdet's DINO exactly. Decoder depth is the decoder config's
``num_layers`` (the head's branch count follows it, as in DINO).
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import OptConfigType
from torch import Tensor

from ..layers.heatmap_positional_encoding import HeatmapPositionalEncoding
from .bounded_denoising import BoundedDenoisingMixin

PE_KEYS = ('mix_lambda', 'learnable_lambda', 'tau', 'soft',
           'soft_temperature', 'heat_norm')
SELECTIONS = ('class', 'heatmap', 'product')
HMPE_KEYS = PE_KEYS + ('heatmap_head', 'mask_filter', 'mohfe',
                       'query_selection', 'hidq_content', 'detach_heatmap')


def heat_peaks(h_cls: List[Tensor],
               masks: List[Optional[Tensor]]) -> Tensor:
    """Local maxima of the class heatmap, per level, flattened like the
    tokens: (bs, sum(h*w)), ``max_c H_class`` at a 3x3 local maximum of it,
    0 elsewhere and on padding.

    H_class is trained as a Gaussian at each object's centre on every
    level, so every object, however small, makes a peak at its centre;
    H_bbox (the box interior) is left out: for an object of 16 px or more it
    forms a plateau of many hot tokens, which would outrank the peaks of
    tiny objects.

    Args:
        h_cls (list[Tensor]): per level (bs, C, h, w) probabilities.
        masks (list[Tensor | None]): per level (bs, h, w), True = padded.
    """
    out = []
    for c, m in zip(h_cls, masks):
        heat = c.amax(1, keepdim=True)
        if m is not None:
            heat = heat * ~m[:, None].bool()
        peak = heat == F.max_pool2d(heat, 3, stride=1, padding=1)
        out.append((heat * peak).flatten(1))
    return torch.cat(out, 1)


@MODELS.register_module()
class HMPEDINO(BoundedDenoisingMixin, DINO):
    """DINO + HMPE (mask filter, MOHFE, HIDQ).

    Args:
        hmpe (dict, optional): None = plain DINO. Keys (defaults):
            ``heatmap_head`` (``dict(type='HeatmapHead')``; in_channels and
            num_classes default to the detector's), ``mask_filter`` (True),
            ``mohfe`` (True), ``query_selection`` (``'class'``, one of
            'class' | 'heatmap' | 'product'), ``hidq_content`` (True),
            ``detach_heatmap`` (False: detection losses also train the
            heatmap head), and the :class:`HeatmapPositionalEncoding` keys
            ``mix_lambda, learnable_lambda, tau, soft, soft_temperature,
            heat_norm``.
        *args, **kwargs: :class:`mmdet.models.DINO` arguments.
    """

    def __init__(self, *args, hmpe: OptConfigType = None, **kwargs) -> None:
        cfg = None if hmpe is None else dict(copy.deepcopy(hmpe))
        if cfg is not None:
            unknown = sorted(set(cfg) - set(HMPE_KEYS))
            if unknown:
                raise ValueError(f'unknown hmpe keys {unknown}; expected '
                                 f'some of {list(HMPE_KEYS)}')
            sel = cfg.setdefault('query_selection', 'class')
            cfg.setdefault('heat_norm', 'minmax_levels')
            if sel not in SELECTIONS:
                raise ValueError(f'hmpe.query_selection must be one of '
                                 f'{SELECTIONS}, got {sel!r}')
            if cfg.get('learnable_lambda') and not (
                    cfg.get('soft') or cfg.get('hidq_content', True)):
                # the hard mask and top-k pass no gradient to lambda: an
                # unused parameter, which DDP rejects
                raise ValueError('hmpe.learnable_lambda needs soft=True or '
                                 'hidq_content=True to receive a gradient')
        # Read by _init_layers, which DetectionTransformer.__init__ calls.
        self._hmpe_cfg = cfg
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        pe_cfg = dict(self.positional_encoding)  # still the config here
        super()._init_layers()
        self.heatmap_head = None
        cfg = self._hmpe_cfg
        if cfg is None:
            return
        pe_cfg.update({k: cfg[k] for k in PE_KEYS if k in cfg})
        self.positional_encoding = HeatmapPositionalEncoding(**pe_cfg)
        head = dict(cfg.get('heatmap_head', dict(type='HeatmapHead')))
        head.setdefault('in_channels', self.embed_dims)
        head.setdefault('num_classes', self.bbox_head.num_classes)
        self.heatmap_head = MODELS.build(head)
        self.mask_filter = cfg.get('mask_filter', True)
        self.query_selection = cfg['query_selection']
        self.detach_heatmap = cfg.get('detach_heatmap', False)
        self.mohfe = None
        if cfg.get('mohfe', True):
            self.mohfe = nn.ModuleDict(dict(
                cls=nn.Conv2d(self.heatmap_head.cls_channels,
                              self.embed_dims, 1),
                bbox=nn.Conv2d(1, self.embed_dims, 1),
                fuse=nn.Linear(2 * self.embed_dims, self.embed_dims)))
        self.hidq_proj = nn.Linear(self.embed_dims, self.embed_dims) \
            if cfg.get('hidq_content', True) else None

    def init_weights(self) -> None:
        super().init_weights()
        if self.heatmap_head is None:
            return
        for lin in (self.mohfe and self.mohfe['fuse'], self.hidq_proj):
            if lin is not None:
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict:
        """DINO's losses + ``loss_heatmap_cls`` + ``loss_heatmap_bbox``."""
        if self.heatmap_head is None:
            return super().loss(batch_inputs, batch_data_samples)
        img_feats = self.extract_feat(batch_inputs)
        heatmaps = self.heatmap_head(img_feats)
        head_inputs_dict = self.forward_transformer(
            img_feats, batch_data_samples, heatmaps)
        losses = self.bbox_head.loss(
            **head_inputs_dict, batch_data_samples=batch_data_samples)
        losses.update(self.heatmap_head.loss(*heatmaps, batch_data_samples))
        return losses

    def forward_transformer(self,
                            img_feats: Tuple[Tensor],
                            batch_data_samples: OptSampleList = None,
                            heatmaps: Optional[Tuple[List[Tensor],
                                                     List[Tensor]]] = None
                            ) -> Dict:
        """pre_transformer -> HMPE -> encoder -> HIDQ pre_decoder ->
        decoder. ``heatmaps`` = HeatmapHead output (computed if None)."""
        if self.heatmap_head is None:
            return super().forward_transformer(img_feats, batch_data_samples)
        if heatmaps is None:
            heatmaps = self.heatmap_head(img_feats)
        encoder_inputs_dict, decoder_inputs_dict = self.pre_transformer(
            img_feats, batch_data_samples)
        heat, rank = self.apply_hmpe(encoder_inputs_dict, *heatmaps)
        encoder_outputs_dict = self.forward_encoder(**encoder_inputs_dict)
        tmp_dec_in, head_inputs_dict = self.pre_decoder(
            **encoder_outputs_dict, batch_data_samples=batch_data_samples,
            heat=heat, rank=rank)
        decoder_inputs_dict.update(tmp_dec_in)
        decoder_outputs_dict = self.forward_decoder(**decoder_inputs_dict)
        head_inputs_dict.update(decoder_outputs_dict)
        return head_inputs_dict

    def apply_hmpe(self, encoder_inputs_dict: Dict, h_cls: List[Tensor],
                   h_box: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """Mask filter and MOHFE, in place on ``encoder_inputs_dict``.

        Args:
            encoder_inputs_dict (dict): from ``pre_transformer``; ``feat``
                and ``feat_pos`` are (bs, sum(h*w), embed_dims).
            h_cls (list[Tensor]): per level (bs, C, h, w).
            h_box (list[Tensor]): per level (bs, 1, h, w).

        Returns:
            tuple[Tensor]: ``heat``, the raw H_mixed (Eq. 4 without
            normalisation, so that levels compare), and ``rank``, what
            heat-based query selection ranks (:func:`heat_peaks` for
            ``'heatmap'``, else ``heat``); both flattened like the tokens,
            (bs, sum(h*w)), zero on padded tokens.
        """
        if self.detach_heatmap:
            h_cls = [h.detach() for h in h_cls]
            h_box = [h.detach() for h in h_box]
        mask = encoder_inputs_dict['feat_mask']
        bs = h_box[0].size(0)
        sizes = [h * w for h, w in (b.shape[-2:] for b in h_box)]
        masks = [None] * len(sizes) if mask is None else [
            m.view(bs, *b.shape[-2:])
            for m, b in zip(mask.split(sizes, 1), h_box)]
        pe = self.positional_encoding
        # Raw mix, comparable across levels; the mask filter normalises it.
        raw = [pe.mix(c, b, m, normalize=False)
               for c, b, m in zip(h_cls, h_box, masks)]
        if self.mask_filter:
            pos = [pe(m, input=b, heatmap=h)
                   .flatten(2).transpose(1, 2) + self.level_embed[lvl]
                   for lvl, (m, b, h) in enumerate(
                       zip(masks, h_box, self.normalize_levels(raw, masks)))]
            encoder_inputs_dict['feat_pos'] = torch.cat(pos, 1)
        if self.mohfe is not None:
            weight, bias = self.mohfe_weight()
            emb = [F.conv2d(torch.cat([c, b], 1), weight[..., None, None],
                            bias).flatten(2).transpose(1, 2)
                   for c, b in zip(h_cls, h_box)]
            encoder_inputs_dict['feat'] = encoder_inputs_dict['feat'] + \
                torch.cat(emb, 1)
        heat = torch.cat([r.flatten(1) for r in raw], 1)
        if self.query_selection == 'heatmap':
            return heat, heat_peaks(h_cls, masks)
        return heat, heat

    def normalize_levels(self, raw: List[Tensor],
                         masks: List[Optional[Tensor]]) -> List[Tensor]:
        """``heat_norm`` of the per-level raw H_mixed (bs, 1, h, w):
        ``'minmax_levels'`` takes one min and max per image over the valid
        pixels of all levels; other values normalise each level alone."""
        pe = self.positional_encoding
        if pe.heat_norm != 'minmax_levels':
            return [pe.normalize_heat(r, m) for r, m in zip(raw, masks)]
        # all levels as one (bs, 1, 1, sum(h*w)) map, normalised at once
        flat = torch.cat([r.flatten(1) for r in raw], 1)[:, None, None]
        mask = None if masks[0] is None else torch.cat(
            [m.flatten(1) for m in masks], 1)[:, None]
        normed = pe.normalize_heat(flat, mask).split(
            [r[0, 0].numel() for r in raw], -1)
        return [n.view_as(r) for n, r in zip(normed, raw)]

    def mohfe_weight(self) -> Tuple[Tensor, Tensor]:
        """Eq. 5's ``W [conv_c(H_class) || conv_b(H_bbox)]`` composed into
        one 1x1 conv over ``[H_class || H_bbox]`` (all maps are linear, so
        this is exact and costs (C + 1) instead of 2 * embed_dims MACs per
        token and output channel).

        Returns:
            tuple[Tensor]: weight (embed_dims, C + 1), bias (embed_dims, ).
        """
        d = self.embed_dims
        fuse, conv_c, conv_b = (self.mohfe[k] for k in ('fuse', 'cls', 'bbox'))
        w_c, w_b = fuse.weight[:, :d], fuse.weight[:, d:]
        weight = torch.cat([w_c @ conv_c.weight.flatten(1),
                            w_b @ conv_b.weight.flatten(1)], 1)
        bias = w_c @ conv_c.bias + w_b @ conv_b.bias + fuse.bias
        return weight, bias

    def select_queries(self, enc_outputs_class: Tensor,
                       heat: Optional[Tensor],
                       valid: Optional[Tensor] = None) -> Tensor:
        """Indices (bs, num_queries) of the encoder tokens that become
        queries, by ``query_selection``.

        Args:
            enc_outputs_class (Tensor): (bs, N, num_classes) logits.
            heat (Tensor, optional): (bs, N), what heat-based selection
                ranks: peaks of H_class ('heatmap'), H_mixed ('product');
                required unless the selection is 'class'.
            valid (Tensor, optional): (bs, N) bool, False where DINO's
                proposal is invalid (padding, or a box too close to the
                border: its coordinates are +inf); those rank last.
        """
        # fp32: under autocast fp16 spacing near 1 (~5e-4) ties close scores
        score = enc_outputs_class.max(-1)[0].float()
        heat = None if heat is None else heat.float()
        mode = getattr(self, 'query_selection', 'class')
        tau = self.positional_encoding.tau
        if mode == 'heatmap':  # peaks above tau first, then by class score
            score = torch.where(heat > tau, 1 + heat, score.sigmoid())
        elif mode == 'product':
            # hot tokens first (by class x heat), then cold ones by class
            hot = heat > tau
            score = torch.where(hot, 1 + score.sigmoid() * heat,
                                score.sigmoid())
        if valid is not None:
            score = score.masked_fill(~valid, float('-inf'))
        return torch.topk(score, k=self.num_queries, dim=1)[1]

    def pre_decoder(self,
                    memory: Tensor,
                    memory_mask: Tensor,
                    spatial_shapes: Tensor,
                    batch_data_samples: OptSampleList = None,
                    heat: Optional[Tensor] = None,
                    rank: Optional[Tensor] = None) -> Tuple[Dict]:
        """DINO's ``pre_decoder`` with HIDQ's query selection and content.

        Same inputs/outputs as :meth:`mmdet.models.DINO.pre_decoder`, plus
        ``heat``: H_mixed, (bs, sum(h*w)), or None (plain DINO), which the
        content queries read, and ``rank`` (default ``heat``), which heat-
        based selection ranks (:meth:`apply_hmpe`).
        """
        if heat is None:
            return super().pre_decoder(memory, memory_mask, spatial_shapes,
                                       batch_data_samples)
        bs, _, c = memory.shape
        branch = self.decoder.num_layers
        output_memory, output_proposals = self.gen_encoder_output_proposals(
            memory, memory_mask, spatial_shapes)
        enc_outputs_class = self.bbox_head.cls_branches[branch](output_memory)
        enc_outputs_coord_unact = self.bbox_head.reg_branches[branch](
            output_memory) + output_proposals
        # invalid proposals are +inf (a reference box of (1, 1, 1, 1))
        valid = torch.isfinite(output_proposals).all(-1)
        topk = self.select_queries(enc_outputs_class,
                                   heat if rank is None else rank, valid)
        gather = lambda x: torch.gather(  # noqa: E731
            x, 1, topk.unsqueeze(-1).expand(-1, -1, x.size(-1)))
        topk_score = gather(enc_outputs_class)
        topk_coords_unact = gather(enc_outputs_coord_unact)
        topk_coords = topk_coords_unact.sigmoid()
        topk_coords_unact = topk_coords_unact.detach()

        # repeat, not expand (as DINO): a view of the parameter made under
        # no_grad would require grad without a grad_fn
        query = self.query_embedding.weight[None].repeat(bs, 1, 1)
        if self.hidq_proj is not None:  # Eq. 8: W'_Q E_mixed
            e_mixed = gather(output_memory) * gather(heat.unsqueeze(-1))
            query = query + self.hidq_proj(e_mixed)
        if self.training:
            dn_label_query, dn_bbox_query, dn_mask, dn_meta = \
                self.dn_query_generator(batch_data_samples)
            query = torch.cat([dn_label_query, query], dim=1)
            reference_points = torch.cat([dn_bbox_query, topk_coords_unact],
                                         dim=1)
        else:
            reference_points = topk_coords_unact
            dn_mask, dn_meta = None, None
        decoder_inputs_dict = dict(
            query=query,
            memory=memory,
            reference_points=reference_points.sigmoid(),
            dn_mask=dn_mask)
        head_inputs_dict = dict(
            enc_outputs_class=topk_score,
            enc_outputs_coord=topk_coords,
            dn_meta=dn_meta) if self.training else dict()
        return decoder_inputs_dict, head_inputs_dict
