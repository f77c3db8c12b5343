"""DINO's contrastive denoising with a bound on the ground truths it uses.

mmdet's ``CdnQueryGenerator`` makes ``num_groups = num_dn_queries //
max_gts`` groups of ``2 * max_gts`` queries, where ``max_gts`` is the largest
ground-truth count of the batch, and at least one group. Once an image holds
more objects than the denoising budget (``num_dn_queries``, 100 in DINO),
the denoising part is ``2 * max_gts`` queries: an image with 2000 objects
(AI-TOD) adds 4000 queries, and the decoder's self-attention grows with the
square of its query count. This is the most reported out-of-memory cause of
DINO on dense small-object sets.

:class:`BoundedCdnQueryGenerator` feeds at most ``max_gts_per_image``
ground truths of each image to the denoising part, a uniformly random subset
drawn anew at every step (so over training every object is denoised, in
expectation equally often). The matching part and its loss still use every
ground truth. The kept indices travel in ``dn_meta['dn_gt_keep']`` so that
the head builds the denoising targets from the same subset
(:meth:`CrossDINOHead.get_dn_targets`).
"""
from typing import List, Optional

import torch
from mmdet.models.layers.transformer.dino_layers import CdnQueryGenerator
from mmdet.structures import DetDataSample, SampleList


class BoundedCdnQueryGenerator(CdnQueryGenerator):
    """``CdnQueryGenerator`` that denoises at most ``max_gts_per_image``
    ground truths per image (a random subset each call).

    Args:
        max_gts_per_image (int): the bound; the denoising part then holds at
            most ``2 * max_gts_per_image * num_groups`` queries.
        **kwargs: ``CdnQueryGenerator`` arguments.
    """

    def __init__(self, max_gts_per_image: int, **kwargs) -> None:
        if int(max_gts_per_image) < 1:
            raise ValueError('dn_cfg.max_gts_per_image must be >= 1, got '
                             f'{max_gts_per_image}')
        super().__init__(**kwargs)
        self.max_gts_per_image = int(max_gts_per_image)

    def __call__(self, batch_data_samples: SampleList) -> tuple:
        """As ``CdnQueryGenerator.__call__``; ``dn_meta['dn_gt_keep']`` is a
        list with, per image, the (k,) indices of the ground truths used, or
        None where all were."""
        keep = [self._keep(len(s.gt_instances), s.gt_instances.labels.device)
                for s in batch_data_samples]
        subset = [s if k is None else self._subset(s, k)
                  for s, k in zip(batch_data_samples, keep)]
        *queries, dn_meta = super().__call__(subset)
        dn_meta['dn_gt_keep'] = keep
        return (*queries, dn_meta)

    def _keep(self, num_gts: int, device) -> Optional[torch.Tensor]:
        if num_gts <= self.max_gts_per_image:
            return None
        # sorted: the subset keeps the annotation order
        return torch.randperm(num_gts, device=device)[
            :self.max_gts_per_image].sort().values

    @staticmethod
    def _subset(sample: DetDataSample,
                keep: torch.Tensor) -> DetDataSample:
        out = DetDataSample(metainfo=sample.metainfo)
        out.gt_instances = sample.gt_instances[keep]
        return out


def select_dn_gts(batch_gt_instances: List, dn_meta: dict) -> List:
    """The ground truths the denoising queries were made from:
    ``batch_gt_instances`` subset by ``dn_meta['dn_gt_keep']`` (all of them
    when absent)."""
    keep = dn_meta.get('dn_gt_keep')
    if keep is None:
        return batch_gt_instances
    return [g if k is None else g[k] for g, k in zip(batch_gt_instances, keep)]
