"""Boxes outside their image are counted at dataset load, with one warning."""
import json
import logging

import pytest

pytest.importorskip('mmdet')

from mmengine.logging import MMLogger  # noqa: E402

from crossdino.datasets import (AITODDataset, DOTAv15Dataset,  # noqa: E402
                                IgnoredRegionsCocoDataset, NWPUVHR10Dataset,
                                SODADDataset, VisDroneDataset,
                                WiderPersonDataset)

DATASET_CLASSES = (IgnoredRegionsCocoDataset, VisDroneDataset, AITODDataset,
                   WiderPersonDataset, NWPUVHR10Dataset, DOTAv15Dataset,
                   SODADDataset)


def write_coco(path, boxes):
    """One 100x80 image and one ``car`` box per ``{ann_id: bbox}``, plus an
    ignored region inside the image."""
    anns = [dict(id=i, image_id=1, category_id=1, bbox=b, area=b[2] * b[3],
                 iscrowd=0) for i, b in boxes.items()]
    anns.append(dict(id=99, image_id=1, category_id=0, bbox=[0, 0, 10, 10],
                     area=100, iscrowd=1, ignore=1))
    path.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.jpg', width=100, height=80)],
        annotations=anns, categories=[dict(id=1, name='car')])))
    return str(path)


@pytest.fixture
def warnings_logged():
    """WARNING records of the current MMLogger (where print_log goes)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def load(cls, ann_file):
    return cls(ann_file=ann_file, data_prefix=dict(img=''),
               metainfo=dict(classes=('car', )), test_mode=True)


@pytest.mark.parametrize('cls', DATASET_CLASSES)
def test_boxes_outside_are_counted_once(tmp_path, cls, warnings_logged):
    ann_file = write_coco(tmp_path / 'ann.json', {
        1: [10, 10, 20, 20],  # inside
        2: [0, 0, 100, 80],  # the whole image: inside
        3: [90, 10, 20, 20],  # crosses the right border
        4: [-5, 70, 10, 20],  # crosses the left and bottom borders
        5: [120, 10, 5, 5],  # entirely outside (mmdet drops it silently)
        # float noise of a clipped box (x + w = 100 + 1e-12): inside
        6: [0.1, 0.2, 99.9 + 1e-12, 79.8],
    })
    dataset = load(cls, ann_file)
    # Loading itself is unchanged: 5 objects kept (the outside one dropped)
    # plus the ignored region.
    assert len(dataset.get_data_info(0)['instances']) == 6
    msgs = [r.getMessage() for r in warnings_logged]
    assert len(msgs) == 1
    assert msgs[0] == (
        f'{cls.__name__}: 3 annotation box(es) in {ann_file} are not inside '
        'their image: 2 cross the border (kept unclipped), 1 lie entirely '
        'outside (dropped); e.g. annotation ids 3, 4, 5. Clip them with '
        '"python tools/dataset_converters/check_coco.py ANN_FILE --fix '
        'FIXED.json" and train on the copy.')


def test_examples_are_capped_and_clean_files_are_quiet(tmp_path,
                                                       warnings_logged):
    ann_file = write_coco(tmp_path / 'ann.json', {
        i: [95, 10, 10, 10] for i in range(1, 9)})
    load(VisDroneDataset, ann_file)
    assert len(warnings_logged) == 1
    assert ('8 annotation box(es)' in warnings_logged[0].getMessage()
            and 'annotation ids 1, 2, 3, 4, 5, ...' in
            warnings_logged[0].getMessage())
    warnings_logged.clear()
    load(VisDroneDataset, write_coco(tmp_path / 'ok.json',
                                     {1: [10, 10, 5, 5]}))
    assert warnings_logged == []
