"""VisDrone2019-DET dataset on top of mmdet's ``CocoDataset``.

Reads the COCO JSON written by
``tools/dataset_converters/visdrone2coco.py``, in which VisDrone's ignored
regions (categories 0 and 11) are annotations with ``category_id=0`` and
``ignore=1``. mmdet's ``CocoDataset`` drops those; here they become instances
with ``ignore_flag=1`` and ``bbox_label=-1``, so the pipeline transforms them
with the image and ``PackDetInputs`` puts them into
``data_samples.ignored_instances``, where training (e.g. to ignore
predictions inside crowds) and crossdino's metric can use them.
"""
import os.path as osp
from typing import List, Union

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

IGNORED_LABEL = -1


@DATASETS.register_module()
class VisDroneDataset(CocoDataset):
    """VisDrone2019-DET in crossdino's COCO format, with ignored regions.

    Objects (``category_id`` 1..10) are parsed exactly as by
    :class:`mmdet.datasets.CocoDataset`. Each ignored region, i.e. an
    annotation with ``category_id == 0`` or ``ignore`` set, is appended to
    ``data_info['instances']`` as::

        dict(bbox=[x1, y1, x2, y2], bbox_label=-1, ignore_flag=1)

    Regions outside the image or thinner than one pixel are dropped, like
    mmdet drops such objects.
    """

    METAINFO = {
        'classes': ('pedestrian', 'people', 'bicycle', 'car', 'van', 'truck',
                    'tricycle', 'awning-tricycle', 'bus', 'motor'),
        'palette': [(220, 20, 60), (255, 140, 0), (255, 215, 0),
                    (0, 90, 230), (0, 200, 210), (130, 50, 210),
                    (230, 40, 190), (30, 160, 60), (150, 230, 50),
                    (250, 150, 190)]
    }

    def load_data_list(self) -> List[dict]:
        """Load the annotation file, with a hint when it is not there."""
        if not osp.isfile(self.ann_file):
            root = self.data_root or osp.dirname(self.ann_file)
            state = ('exists' if osp.isdir(root) else 'does not exist')
            raise FileNotFoundError(
                f'VisDrone annotation file "{self.ann_file}" not found '
                f'(data_root "{root}" {state}). Download VisDrone2019-DET '
                'into the data root and convert it with "python tools/'
                'dataset_converters/visdrone2coco.py DATA_ROOT"; see '
                'data/README.md.')
        return super().load_data_list()

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
