# Copyright (c) crossdino contributors. All rights reserved.
"""The images a metric evaluates: those that were run.

mmdet's ``CocoMetric`` evaluates every image of its ``ann_file``
(``coco_eval.params.imgIds = self.img_ids``, all ids of the file). When only
part of the set was run (``--cfg-options test_dataloader.dataset.indices=4``,
a shard of a large set, the patches of a few images), every object of the
images that were not run counts as a miss and the AP drops (0.030 instead of
0.262 for 4 images of the demo set). crossdino's metrics restrict the ground
truth to the image ids present in their results instead. The results are
complete when ``compute_metrics`` runs: mmengine gathers them from all ranks
first, so a distributed evaluation sees the union of its shards.
"""
from typing import Iterable, List


def evaluated_img_ids(run_ids: Iterable[int], known_ids: Iterable[int],
                      source: str = 'the annotation file') -> List[int]:
    """Sorted, unique ids of the images that were run.

    Args:
        run_ids (Iterable[int]): ``img_id`` of every result (an image
            without detections included: it still counts its misses).
        known_ids (Iterable[int]): Image ids of the ground truth.
        source (str): Names the ground truth in the error.

    Returns:
        list[int]: The ids to evaluate (``COCOeval.params.imgIds``).

    Raises:
        ValueError: If a result's image is not in the ground truth, e.g.
            results of another split.
    """
    ids = sorted(set(run_ids))
    unknown = set(ids) - set(known_ids)
    if unknown:
        raise ValueError(
            f'{len(unknown)} predicted img_id(s) not in {source}, e.g. '
            f'{sorted(unknown, key=str)[:10]}: the results and the ground '
            'truth come from different sets.')
    return ids
