"""Building detectors from configs for the analysis tools, without downloads."""
import logging
from typing import Optional

import torch
import torch.nn as nn
from mmengine.config import Config


def drop_pretrained(cfg_model: dict) -> None:
    """Remove pretrained-weight loading (``init_cfg``) from a model config."""
    cfg_model.pop('init_cfg', None)
    for key in ('backbone', 'neck'):
        sub = cfg_model.get(key)
        if isinstance(sub, dict) and 'init_cfg' in sub:
            sub['init_cfg'] = None


def limit_queries(cfg_model: dict, num_queries: int) -> None:
    """Set a DETR config's ``num_queries`` (fewer: faster benchmarks), and
    cap its ``test_cfg.max_per_img`` (model's or head's) to it: the top-k
    over the queries cannot return more."""
    cfg_model['num_queries'] = num_queries
    test_cfg = cfg_model.get('test_cfg') or cfg_model.get(
        'bbox_head', {}).get('test_cfg')
    if test_cfg is not None and 'max_per_img' in test_cfg:
        test_cfg['max_per_img'] = min(test_cfg['max_per_img'], num_queries)


def init_weights_quietly(model: nn.Module) -> None:
    """``model.init_weights()`` without mmengine's per-parameter report."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


def build_detector_offline(cfg: Config,
                           checkpoint: Optional[str] = None,
                           device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in eval mode with random or checkpoint weights.

    Pretrained ``init_cfg`` entries are dropped so nothing is fetched; a
    checkpoint must match the model exactly (its ``meta.dataset_meta``, the
    class names, becomes ``model.dataset_meta``); with no checkpoint the
    model is initialised (some parameters, e.g. DINO's ``level_embed``, are
    allocated uninitialised until ``init_weights``).
    """
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if 'model' not in cfg:
        raise KeyError(f'{cfg.filename}: no "model" in the config')
    drop_pretrained(cfg.model)
    model = MODELS.build(cfg.model)
    if checkpoint is None:
        init_weights_quietly(model)
    else:
        # strict: a checkpoint of another model is an error, not a warning
        # (as in tools/test.py without --partial-load).
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu',
                               strict=True)
        meta = (ckpt.get('meta') or {}).get('dataset_meta')
        if meta:  # class names, as mmdet's init_detector keeps them
            model.dataset_meta = meta
    return model.to(device).eval()


def random_test_batch(batch_size: int, height: int, width: int,
                      seed: int = 0) -> dict:
    """Random uint8 images with the metainfo a test pipeline would give.

    Returns ``dict(inputs=[(3, H, W) uint8] * B, data_samples=[...])``, the
    input of ``model.data_preprocessor`` / ``model.test_step``.
    """
    from mmdet.structures import DetDataSample
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randint(
        0, 256, (batch_size, 3, height, width), dtype=torch.uint8,
        generator=gen)
    samples = [
        DetDataSample(metainfo=dict(
            img_id=i, img_path=f'random_{i}.jpg', ori_shape=(height, width),
            img_shape=(height, width), scale_factor=(1.0, 1.0)))
        for i in range(batch_size)
    ]
    return dict(inputs=list(inputs), data_samples=samples)


def build_test_split(cfg: Config, split: str = 'test',
                     num_images: Optional[int] = None):
    """The config's test dataloader and evaluator config, optionally on its
    training images.

    ``split='train'`` keeps the test pipeline, batch settings and metric
    but reads the training set's annotations and images (a split held out
    from the one results are reported on, to choose settings); the
    evaluator's ``ann_file`` follows. ``num_images`` takes the first N.

    Returns:
        tuple: (DataLoader, evaluator config).
    """
    import copy
    import os.path as osp

    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    loader = copy.deepcopy(cfg.test_dataloader)
    evaluator = copy.deepcopy(cfg.test_evaluator)
    if split == 'train':
        train = cfg.train_dataloader.dataset
        for key in ('ann_file', 'data_prefix', 'data_root'):
            if key in train:
                loader.dataset[key] = copy.deepcopy(train[key])
        ann = osp.join(train.get('data_root', '') or '', train.ann_file)
        for ev in evaluator if isinstance(evaluator, list) else [evaluator]:
            if 'ann_file' in ev:
                ev['ann_file'] = ann
    elif split != 'test':
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    if num_images is not None:
        loader.dataset['indices'] = num_images
    return Runner.build_dataloader(loader), evaluator
