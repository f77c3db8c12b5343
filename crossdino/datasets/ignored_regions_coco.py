"""COCO-format dataset that keeps ignored regions as ignored instances.

All crossdino converters (VisDrone, WiderPerson, SODA-D, ...) write ignored
regions as annotations with ``category_id=0`` and ``ignore=1``. mmdet's
``CocoDataset`` drops those; here they become instances with
``ignore_flag=1`` and ``bbox_label=-1``, so the pipeline transforms them with
the image and ``PackDetInputs`` puts them into
``data_samples.ignored_instances``, where training (e.g. to ignore
predictions inside crowds) and crossdino's metrics can use them.

Boxes that reach out of their image are counted while loading and reported
in one warning: mmdet trains on a box crossing the border unclipped and
drops one entirely outside without a word, so a wrong image size or a
converter bug would otherwise go unnoticed.
"""
import logging
import os.path as osp
from typing import List, Union

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

IGNORED_LABEL = -1
# Float slack (px) for "inside the image": ``x + w`` of a clipped box can
# exceed the width by a rounding error.
BORDER_TOL = 1e-3
# Annotation ids quoted in the out-of-image warning.
NUM_EXAMPLE_IDS = 5


@DATASETS.register_module()
class IgnoredRegionsCocoDataset(CocoDataset):
    """A COCO dataset in crossdino's layout, with ignored regions.

    Objects are parsed exactly as by :class:`mmdet.datasets.CocoDataset`.
    Each ignored region, i.e. an annotation with ``category_id == 0`` or
    ``ignore`` set, is appended to ``data_info['instances']`` as::

        dict(bbox=[x1, y1, x2, y2], bbox_label=-1, ignore_flag=1)

    Regions outside the image or thinner than one pixel are dropped, like
    mmdet drops such objects. Annotations (objects or regions) whose box
    is not inside its image are counted, and a single warning gives their
    number, the annotation file and a few annotation ids. Subclasses set
    ``METAINFO`` and ``CONVERTER_HINT`` (the command that writes
    ``ann_file``), which the missing-file error quotes.
    """

    CONVERTER_HINT = ('convert the dataset with the matching script in '
                      'tools/dataset_converters/; see data/README.md')

    def load_data_list(self) -> List[dict]:
        """Load the annotation file, with a hint when it is not there."""
        if not osp.isfile(self.ann_file):
            root = self.data_root or osp.dirname(self.ann_file)
            state = ('exists' if osp.isdir(root) else 'does not exist')
            raise FileNotFoundError(
                f'{self.__class__.__name__}: annotation file '
                f'"{self.ann_file}" not found (data_root "{root}" {state}). '
                f'{self.CONVERTER_HINT}.')
        self._crossing, self._outside = [], []
        data_list = super().load_data_list()
        self._warn_boxes_outside()
        return data_list

    def _count_boxes_outside(self, raw_data_info: dict) -> None:
        """Note the ids of annotations whose box crosses the image border
        (kept unclipped) or lies entirely outside (dropped)."""
        img_info = raw_data_info['raw_img_info']
        width, height = img_info['width'], img_info['height']
        for ann in raw_data_info['raw_ann_info']:
            x1, y1, w, h = ann['bbox']
            x2, y2 = x1 + w, y1 + h
            if (x1 >= -BORDER_TOL and y1 >= -BORDER_TOL
                    and x2 <= width + BORDER_TOL
                    and y2 <= height + BORDER_TOL):
                continue
            if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
                self._outside.append(ann['id'])
            else:
                self._crossing.append(ann['id'])

    def _warn_boxes_outside(self) -> None:
        """Log one warning for the boxes noted by
        :meth:`_count_boxes_outside`."""
        ids = self._crossing + self._outside
        if not ids:
            return
        more = ', ...' if len(ids) > NUM_EXAMPLE_IDS else ''
        print_log(
            f'{self.__class__.__name__}: {len(ids)} annotation box(es) in '
            f'{self.ann_file} are not inside their image: '
            f'{len(self._crossing)} cross the border (kept unclipped), '
            f'{len(self._outside)} lie entirely outside (dropped); e.g. '
            f'annotation ids {", ".join(map(str, ids[:NUM_EXAMPLE_IDS]))}'
            f'{more}. Clip them with "python tools/dataset_converters/'
            'check_coco.py ANN_FILE --fix FIXED.json" and train on the copy.',
            logger='current',
            level=logging.WARNING)

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Parse one image's raw COCO info, keeping ignored regions.

        Args:
            raw_data_info (dict): ``raw_img_info`` and ``raw_ann_info`` (all
                annotations of the image, ignored regions included, as
                returned by the COCO api's ``get_ann_ids(img_ids=...)``).

        Returns:
            dict: mmdet's data info; ``instances`` holds the objects followed
            by the ignored regions.
        """
        data_info = super().parse_data_info(raw_data_info)
        self._count_boxes_outside(raw_data_info)
        img_info = raw_data_info['raw_img_info']
        width, height = img_info['width'], img_info['height']
        for ann in raw_data_info['raw_ann_info']:
            if not (ann.get('ignore', False) or ann['category_id'] == 0):
                continue
            x1, y1, w, h = ann['bbox']
            inter_w = min(x1 + w, width) - max(x1, 0)
            inter_h = min(y1 + h, height) - max(y1, 0)
            if inter_w <= 0 or inter_h <= 0 or w < 1 or h < 1:
                continue
            data_info['instances'].append(
                dict(
                    bbox=[x1, y1, x1 + w, y1 + h],
                    bbox_label=IGNORED_LABEL,
                    ignore_flag=1))
        return data_info
