"""Config loading and arguments shared by the command-line tools.

Two checks guard what users type on the command line:

* ``--cfg-options`` keys are checked against the loaded config before they
  are merged (:func:`check_cfg_options`): mmengine would create
  ``train_dataloder.batch_size`` as a new, unused key and train with the
  default batch size.
* :func:`build_runner` builds a Runner whose checkpoint loading is strict
  (:class:`crossdino.utils.checkpoint.StrictCheckpointMixin`); a partial
  load has to be asked for with ``--partial-load``.
"""
import difflib
import os.path as osp
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

# The tools' arguments live in the standard-library-only cli.py, which the
# tools load before torch; re-exported here for Python callers.
from .cli import (CFG_OPTIONS_HELP, NEW_KEY_PREFIX,  # noqa: F401
                  add_cfg_options_arg, add_runner_args, parse_runner_args)

#: Top-level keys that mmengine's Runner or the tools read although a config
#: need not define them, so ``--cfg-options`` may add them: the arguments of
#: ``Runner.from_cfg``; the keys ``Runner`` reads from its ``cfg``
#: (``wrap_model``: ``model_wrapper_cfg``, ``find_unused_parameters``,
#: ``sync_bn``; ``train``: ``compile``, ``activation_checkpointing``,
#: ``efficient_conv_bn_eval``); ``runner_type`` (``RUNNERS.build``); mmdet's
#: test-time augmentation keys; crossdino's ``partial_load``
#: (:class:`~crossdino.utils.checkpoint.StrictCheckpointMixin`) and ``vicrop``
#: (a config that has it tests with ``ViCropTTAModel``).
RUNNER_CONFIG_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'model_wrapper_cfg', 'find_unused_parameters', 'sync_bn', 'compile',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'runner_type',
    'tta_model', 'tta_pipeline', 'partial_load', 'vicrop'
})

#: Dicts without a ``type`` that still hold keyword arguments, so new keys
#: inside them are as legitimate as in a registry-built dict: the data
#: loaders (``torch.utils.data.DataLoader(**cfg)`` in
#: ``Runner.build_dataloader``), loops given without a type (kwargs of
#: ``EpochBasedTrainLoop`` / ``ValLoop`` / ``TestLoop``), ``randomness``
#: (``Runner.set_randomness``), ``env_cfg`` and its ``mp_cfg`` / ``dist_cfg``
#: (``Runner.setup_env``, ``init_dist``), ``auto_scale_lr``, ``compile``
#: (``torch.compile``), ``vicrop`` (``ViCropTTAModel``) and
#: ``model_wrapper_cfg``.
KWARGS_DICTS = frozenset({
    'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'randomness', 'env_cfg', 'env_cfg.mp_cfg',
    'env_cfg.dist_cfg', 'auto_scale_lr', 'compile', 'vicrop',
    'model_wrapper_cfg'
})

#: Names of dicts, at any depth, whose keys are open by design, so a new key
#: inside them is legitimate and they may themselves be new inside a dict
#: that takes new keys: ``default_hooks`` (``Runner.register_default_hooks``
#: takes any hook name), a dataset's ``filter_cfg`` and ``metainfo``, an
#: optimizer wrapper's ``paramwise_cfg`` and its ``custom_keys`` (one dict per
#: parameter-name pattern: ``custom_keys.neck.lr_mult=0.1``). A typo in
#: another name (``model.backbon.depth``) is still an error, and so is a new
#: key in a model's ``test_cfg`` (``max_per_imgs``): DETR heads read
#: ``max_per_img`` only, so anything else would be silently ignored.
OPEN_DICT_NAMES = frozenset(
    {'default_hooks', 'filter_cfg', 'metainfo', 'paramwise_cfg', 'custom_keys'})


class CfgOptionsError(KeyError):
    """``--cfg-options`` names keys the config does not have."""

    def __str__(self) -> str:
        # KeyError would print the repr of a multi-line message.
        return str(self.args[0])


def parse_hw(shape: Sequence[int]) -> Tuple[int, int]:
    """``--shape H W`` (or one value for a square) as ``(height, width)``."""
    if len(shape) not in (1, 2):
        raise ValueError(f'--shape takes H W or one size, got {list(shape)}')
    height, width = (shape[0], shape[0]) if len(shape) == 1 else shape
    if height <= 0 or width <= 0:
        raise ValueError(f'--shape must be positive, got {list(shape)}')
    return height, width


def _closest(name: str, candidates, listed=None) -> str:
    """``"; did you mean 'x'?"`` (difflib), else a short list of ``listed``
    (default: the candidates)."""
    candidates = sorted(str(c) for c in candidates)
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if match:
        return f"; did you mean '{match[0]}'?"
    listed = candidates if listed is None else sorted(map(str, listed))
    if not listed:
        return ' (it has no keys)'
    shown = ', '.join(listed[:12])
    more = ', ...' if len(listed) > 12 else ''
    return f' (keys: {shown}{more})'


def _takes_new_keys(node: Mapping, path: List[str]) -> bool:
    """Whether a new leaf key is a plausible keyword argument of ``node``
    (the dict at ``path``)."""
    return ('type' in node or '.'.join(path) in KWARGS_DICTS
            or (bool(path) and path[-1] in OPEN_DICT_NAMES)
            or (len(path) > 1 and path[-2] == 'custom_keys'))


def _check_key(root: Mapping, key: str) -> Optional[Tuple[str, bool]]:
    """Why ``key`` may not be set in ``root``, or None when it may.

    Returns ``(reason, missing)``; ``missing`` is True when the key is only
    absent (so ``+key`` would add it) rather than impossible to merge.

    Rules: every intermediate key must exist (a list is indexed by position,
    within its length), except a dict of :data:`OPEN_DICT_NAMES` (or a
    ``custom_keys`` entry) inside a dict that takes new keys; the last key
    may be new only inside a dict with a ``type``, in :data:`KWARGS_DICTS`
    or in an open dict; at the top level, the keys of
    :data:`RUNNER_CONFIG_KEYS` may be new (and count as empty dicts when a
    longer key goes through them).
    """
    parts = key.split('.')
    node: Any = root
    path: List[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = '.'.join(path)
        if isinstance(node, list):
            if not part.isdigit():
                return (f"'{where}' is a list: index its items by position "
                        f"('{where}.0...'), not by '{part}'", False)
            if int(part) >= len(node):
                return (f"index {part} is out of range: '{where}' has "
                        f'{len(node)} items', False)
            node = node[int(part)]
        elif not isinstance(node, Mapping):
            what = ('None' if node is None else
                    f'a {type(node).__name__} ({node!r:.40})')
            return (f"'{where}' is {what}, not a dict: replace it as a "
                    'whole', False)
        elif part in node:
            node = node[part]
        elif i == 0 and part in RUNNER_CONFIG_KEYS:
            node = {}  # a Runner argument the config leaves at its default
        elif last and i > 0 and _takes_new_keys(node, path):
            return None  # a new keyword argument
        elif i > 0 and _takes_new_keys(node, path) and (
                part in OPEN_DICT_NAMES or path[-1] == 'custom_keys'):
            node = {}  # a new open dict (metainfo, custom_keys.<name>, ...)
        else:
            if i == 0:
                return (f"no top-level key '{part}'" + _closest(
                    part, set(node) | RUNNER_CONFIG_KEYS, listed=node), True)
            kind = 'key' if last else 'intermediate key'
            return (f"'{where}' has no {kind} '{part}'" +
                    _closest(part, node), True)
        path.append(part)
    return None


def _lookup(root: Mapping, key: str) -> Any:
    """The value at the dotted ``key`` (list items by position), or None."""
    node: Any = root
    for part in key.split('.'):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


def check_cfg_options(cfg: Config, cfg_options: Mapping[str, Any],
                      source: str = '--cfg-options') -> dict:
    """Check ``--cfg-options`` keys against ``cfg``; return them to merge.

    mmengine's ``merge_from_dict`` creates any key it is given, so a typo
    (``train_dataloder.batch_size=1``) is silently ignored. Here a key must
    exist, with two exceptions that keep legitimate uses working:

    * a new last key inside a dict with a ``type`` (a registry-built object:
      ``model.backbone.with_cp=True`` is a new constructor argument) or
      inside a dict of keyword arguments without a type
      (:data:`KWARGS_DICTS`, e.g. ``test_dataloader.persistent_workers``);
    * a top-level key that mmengine's Runner reads (:data:`RUNNER_CONFIG_KEYS`:
      ``work_dir``, ``load_from``, ``resume``, ``randomness``, ...).

    List items are addressed by position (``train_pipeline.2.scale``), as
    mmengine allows. A dict value (Python callers) is checked key by key
    unless it carries ``_delete_``. A key prefixed with ``+``
    (:data:`NEW_KEY_PREFIX`) is taken as it is, the prefix removed.

    Args:
        cfg (Config): The loaded config.
        cfg_options (Mapping[str, Any]): ``{dotted key: value}``, as parsed
            by :class:`mmengine.config.DictAction`.
        source (str): Named in the error. Defaults to '--cfg-options'.

    Returns:
        dict: The options for ``cfg.merge_from_dict``, ``+`` removed.

    Raises:
        CfgOptionsError: Listing every rejected key, with the closest valid
            key of its level.
    """
    root = dict(cfg.items())
    options, problems, missing = {}, [], []

    def check(key: str, value: Any) -> None:
        found = _check_key(root, key)
        if found is not None:
            problems.append(f'  {key}: {found[0]}')
            if found[1]:
                missing.append(key)
            return
        if (isinstance(value, Mapping) and not value.get('_delete_', False)
                and isinstance(_lookup(root, key), Mapping)):
            # Merged into the existing dict: its keys follow the same rules.
            for sub_key, sub_value in value.items():
                check(f'{key}.{sub_key}', sub_value)

    for key, value in cfg_options.items():
        if key.startswith(NEW_KEY_PREFIX):
            options[key[len(NEW_KEY_PREFIX):]] = value
            continue
        check(key, value)
        options[key] = value
    if problems:
        name = getattr(cfg, 'filename', None) or 'the config'
        message = (f'{source}: {len(problems)} key(s) do not fit {name}:\n' +
                   '\n'.join(problems))
        if missing:
            message += (
                '\nA key must exist, unless it is a new argument of a dict '
                'with a `type` (model.backbone.with_cp=True) or a Runner '
                'argument (work_dir, load_from, randomness, ...). Prefix a '
                f'key with "{NEW_KEY_PREFIX}" to add it anyway, e.g. '
                f'{NEW_KEY_PREFIX}{missing[0]}=...')
        raise CfgOptionsError(message)
    return options


def load_tool_config(config: str,
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None,
                     launcher: str = 'none') -> Config:
    """Load ``config`` the way mmdetection's tools do.

    ``--cfg-options`` are checked (:func:`check_cfg_options`) and merged
    first; the work dir is, in order of priority, ``work_dir``, the config's
    own ``work_dir``, ``./work_dirs/<config name>``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file "{config}" does not exist')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(check_cfg_options(cfg, cfg_options))
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def build_runner(cfg: Config, launcher: str = 'none'):
    """The Runner of ``cfg``, loading checkpoints strictly, ready on CPU hosts.

    The class is the config's ``runner_type`` (mmengine's ``Runner`` by
    default) with :class:`~crossdino.utils.checkpoint.StrictCheckpointMixin`
    mixed in (:func:`~crossdino.utils.checkpoint.strict_runner_class`), so
    ``load_from``, the checkpoint of ``tools/test.py`` and resume fail on a
    key or shape mismatch unless ``partial_load`` is set. Multi-process runs
    without a GPU get a gloo process group first
    (:func:`crossdino.utils.setup_cpu_distributed`).
    """
    from mmengine.registry import RUNNERS

    from .checkpoint import strict_runner_class
    from .dist import setup_cpu_distributed
    setup_cpu_distributed(cfg, launcher)
    runner_type = cfg.get('runner_type', 'Runner')
    # As mmengine's build_runner_from_cfg looks the type up.
    with RUNNERS.switch_scope_and_registry(cfg.get('_scope_')) as registry:
        runner_cls = (registry.get(runner_type)
                      if isinstance(runner_type, str) else runner_type)
    if runner_cls is None:
        raise KeyError(f'runner_type {runner_type!r} is not in the '
                       f'{RUNNERS.name} registry')
    return strict_runner_class(runner_cls).from_cfg(cfg)
