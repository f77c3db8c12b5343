"""``LoadImageFromFile`` that names the file it cannot decode.

mmcv's :class:`mmcv.transforms.LoadImageFromFile` lets the decoder's error
through unchanged: an empty file stops training with ``cv2.error ...
(-215:Assertion failed) !buf.empty() in function 'imdecode_'`` and no file
name; a file cv2 cannot parse gives ``AssertionError: failed to load
image``, or, with ``imdecode_backend='pillow'``, PIL's error. Among the
100 000 images of a drone dataset, one bad download is then hard to find.

The subclass below is registered in mmdet's ``TRANSFORMS`` under mmcv's name
(``force=True``). mmcv registers its transforms in mmengine's root
``TRANSFORMS``, the parent of mmdet's. Configs set ``default_scope =
'mmdet'``, and mmengine builds every pipeline (mmengine's and mmcv's
``Compose`` alike) through the registry of the default scope, which looks a
name up in its own table before its parent's. So every config's
``dict(type='LoadImageFromFile')`` gets this class once crossdino is
imported, without editing a pipeline; ``type='mmcv.LoadImageFromFile'``, or
a build without the mmdet scope, still gets mmcv's.
"""
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine import fileio

__all__ = ['LoadImageFromFile']

_HINT = ('Replace the file (download or copy it again) or remove the image '
         'from the annotation file. "python tools/dataset_converters/'
         'check_coco.py ANN_FILE --img-dir IMG_DIR --decode" lists every '
         'such file of a COCO JSON.')


@TRANSFORMS.register_module(force=True)
class LoadImageFromFile(_MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile``, with decoding failures naming the file.

    Arguments and outputs are mmcv's. An image that does not decode (empty
    file, truncated or garbage bytes, the decoder returning None) raises a
    ``ValueError`` that names ``img_path``, says why and what to do; the
    decoder's own error is chained. A file that cannot be read (missing,
    no permission) raises the backend's ``OSError``, which names the path.
    With ``ignore_empty=True`` both return None, as in mmcv (mmengine's
    dataset then draws another image), now also when the decoder returns
    None, where mmcv asserts.
    """

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            if self.file_client_args is not None:
                img_bytes = fileio.FileClient.infer_client(
                    self.file_client_args, filename).get(filename)
            else:
                img_bytes = fileio.get(
                    filename, backend_args=self.backend_args)
        except Exception:
            if self.ignore_empty:
                return None
            raise
        try:
            img = mmcv.imfrombytes(
                img_bytes, flag=self.color_type, backend=self.imdecode_backend)
            reason = ('' if img is not None else
                      f'the {self.imdecode_backend} decoder returned no image '
                      f'from its {len(img_bytes)} bytes (truncated or not an '
                      'image)')
            error = None
        except Exception as e:  # noqa: BLE001 - any decoder error
            reason = ('the file is empty (0 bytes)' if not img_bytes else
                      f'{type(e).__name__}: {str(e).strip()}')
            error = e
        if reason:
            if self.ignore_empty:
                return None
            raise ValueError(f'{filename}: cannot decode the image: {reason}. '
                             f'{_HINT}') from error
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
