"""Loading mmengine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it only
unpickles tensors, containers and an allow-list of classes. mmengine 0.10.7
calls ``torch.load`` without ``weights_only``, and its own checkpoints hold a
few objects outside the default allow-list (``HistoryBuffer`` in the message
hub, numpy arrays and scalars in the log buffers and in the RNG state saved by
:class:`crossdino.engine.hooks.RandomStateHook`). Resume, ``load_from`` and
``tools/test.py`` therefore fail with ``Unsupported global``.

Instead of turning the safety off (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` or
``weights_only=False``, which would execute arbitrary pickles), we add exactly
those classes to torch's allow-list. Any other global in a file is still
refused.

The local-file loader is also wrapped so that a truncated or corrupt file,
or one holding a pickled global outside the allow-list, fails with a message
that names the file (and the global) and says what to do.

mmengine's Runner loads ``load_from`` and resume checkpoints with
``strict=False``: a checkpoint of another model (a plain DINO file for an
HMPE config, a COCO model for a 10-class config) loads with a warning buried
in the log and the run goes on with random layers. :class:`StrictLoadRunner`
(what :func:`crossdino.utils.build_runner` builds; any ``runner_type`` gets
the same check) makes missing, unexpected and shape-mismatched keys an error
with a short summary, unless the config asks for a partial load
(``partial_load = True``, ``--partial-load`` in the tools). Resuming is always
strict.
"""
import functools
import os.path as osp
import pickle
import re
import urllib.error
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

_REGISTERED = False


def _numpy_safe_globals() -> list:
    """numpy objects that ``np.save``-free pickling of arrays/scalars uses."""
    core = getattr(np, '_core', None) or np.core  # numpy 2.x / 1.x
    multiarray = core.multiarray
    safe = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    # numpy >= 1.25 pickles dtypes by their concrete class (np.dtypes.Float64DType).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            cls for cls in vars(dtypes).values()
            if isinstance(cls, type) and issubclass(cls, np.dtype)
        ]
    # Scalar types appear as the argument of `multiarray.scalar`.
    safe += sorted({np.dtype(c).type for c in np.typecodes['All'] if c not in 'OSUV'},
                   key=lambda t: t.__name__)
    return safe


def _history_buffer_method(owner, name: str):
    """Stand-in for ``getattr`` that only resolves HistoryBuffer statistics.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'min')`` etc. Allowing the real ``getattr`` would
    let a crafted file reach any attribute of any allowed object; this one
    answers for that single use only.
    """
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint')


def mmengine_safe_globals() -> list:
    """Globals found in checkpoints written by mmengine's Runner."""
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_method, 'builtins.getattr'),
            (_history_buffer_method, '__builtin__.getattr')
            ] + _numpy_safe_globals()


_WITHOUT_IT = ('a pretrained backbone\'s file? The README\'s "Pretrained '
               'weights" says where to obtain each one; `--cfg-options '
               'model.backbone.init_cfg=None` trains without it')


def _load_local_checkpoint(filename, map_location=None):
    """mmengine's local loader with a clear error for unreadable files."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint file "{filename}" does not exist ({_WITHOUT_IT})')
    try:
        # Explicit: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot turn it off.
        return torch.load(filename, map_location=map_location,
                          weights_only=True)
    except pickle.UnpicklingError as err:
        # Raised by the weights-only unpickler *before* anything in the file
        # is called; torch's message neither names the file nor is short.
        found = re.search(r'GLOBAL (\S+)', str(err))
        what = (f'the pickled global `{found.group(1)}`'
                if found else 'a pickled object')
        raise pickle.UnpicklingError(
            f'checkpoint "{filename}" contains {what}, which is outside the '
            'allow-list of tensors, containers and the classes that mmengine '
            'checkpoints hold; it was refused without being executed. Load '
            'only files you trust; to accept this one, add the global with '
            '`torch.serialization.add_safe_globals([...])` before loading.'
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        # torch reports truncation as "PytorchStreamReader failed reading zip
        # archive", which does not say which file or what to do about it.
        raise RuntimeError(
            f'checkpoint "{filename}" is corrupt or truncated and cannot be '
            f'loaded ({type(err).__name__}: {err}). Re-download or re-save '
            'it; an interrupted save leaves a partial file.') from err


_DOWNLOADING_SCHEMES = ('torchvision://', 'http://', 'https://',
                        'open-mmlab://', 'openmmlab://', 'mmcls://',
                        'modelzoo://')


def _cache_path(filename: str) -> str:
    """Where torch's hub cache keeps the download of ``filename`` (its
    folder when the name does not say which URL it is)."""
    folder = osp.join(torch.hub.get_dir(), 'checkpoints')
    url = filename
    if filename.startswith('torchvision://'):
        from mmengine.runner.checkpoint import get_torchvision_models
        url = get_torchvision_models().get(filename[len('torchvision://'):],
                                           filename)
    if not url.startswith(('http://', 'https://')):
        return folder + osp.sep
    return osp.join(folder, osp.basename(url.split('?')[0]))


def _offline_aware(loader):
    """Wrap a downloading loader: a download that fails (no network) is a
    ``FileNotFoundError`` that says where the file must be put. A file
    already in the cache loads without a network, as before."""

    @functools.wraps(loader)  # mmengine logs the loader's name
    def load(filename, map_location=None, *args, **kwargs):
        try:
            return loader(filename, map_location, *args, **kwargs)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            raise FileNotFoundError(
                f'cannot download "{filename}" ({err}). Put the file at '
                f'{_cache_path(filename)} or point the config at a local '
                'copy (e.g. --cfg-options model.backbone.init_cfg.checkpoint'
                f'=PATH) ({_WITHOUT_IT})') from err

    return load


def register_checkpoint_safe_globals() -> None:
    """Make mmengine checkpoints loadable with ``weights_only=True``.

    Idempotent; called when :mod:`crossdino` is imported.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch >= 2.4
        add_safe_globals(mmengine_safe_globals())
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local_checkpoint, force=True)
    for prefix in _DOWNLOADING_SCHEMES:
        CheckpointLoader.register_scheme(
            prefixes=prefix, force=True,
            loader=_offline_aware(CheckpointLoader._schemes[prefix]))
    _REGISTERED = True


# --------------------------------------------------------------------------
# Strict loading of ``load_from`` / resume checkpoints into the Runner's model
# --------------------------------------------------------------------------


@dataclass
class StateDictMismatch:
    """How a checkpoint's state dict differs from a model's.

    Attributes:
        missing_keys (list[str]): Model keys the checkpoint lacks (BN
            ``num_batches_tracked`` counters excluded, as in mmengine).
        unexpected_keys (list[str]): Checkpoint keys the model lacks.
        shape_mismatches (list[tuple[str, tuple, tuple]]): ``(key,
            checkpoint shape, model shape)``; these tensors are not loaded.
        errors (list[str]): Other messages of ``_load_from_state_dict``
            (e.g. a failed copy).
    """
    missing_keys: List[str] = field(default_factory=list)
    unexpected_keys: List[str] = field(default_factory=list)
    shape_mismatches: List[Tuple[str, tuple, tuple]] = field(
        default_factory=list)
    errors: List[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when the state dict does not match the model exactly."""
        return bool(self.missing_keys or self.unexpected_keys
                    or self.shape_mismatches or self.errors)

    def summary(self, max_groups: int = 4, max_keys: int = 3) -> str:
        """A few lines: counts, then keys grouped by their top-level module.

        A DINO checkpoint loaded into an HMPE model lacks the keys of three
        modules (``heatmap_head``, ``mohfe``, ``hidq_proj``); a backbone of
        another depth differs in hundreds of keys of one module. Grouping
        says which parts would stay random without printing every key.
        """
        lines = []
        for title, keys in (
            ('missing in the checkpoint', self.missing_keys),
            ('unexpected (not in the model)', self.unexpected_keys)):
            if keys:
                lines.append(f'  {len(keys)} key(s) {title}:')
                lines += _grouped_keys(keys, max_groups, max_keys)
        if self.shape_mismatches:
            lines.append(f'  {len(self.shape_mismatches)} shape '
                         'mismatch(es) (checkpoint vs model):')
            for key, ckpt, model in self.shape_mismatches[:max_groups]:
                lines.append(f'    {key}: {tuple(ckpt)} vs {tuple(model)}')
            if len(self.shape_mismatches) > max_groups:
                lines.append(
                    f'    ... {len(self.shape_mismatches) - max_groups} more')
        for msg in self.errors[:max_groups]:
            lines.append(f'  {msg.strip()}')
        return '\n'.join(lines)


def _grouped_keys(keys: Sequence[str], max_groups: int,
                  max_keys: int) -> List[str]:
    """``'    neck (12): neck.a, neck.b, ...'`` lines, largest group first."""
    groups: Dict[str, List[str]] = OrderedDict()
    for key in keys:
        groups.setdefault(key.split('.', 1)[0], []).append(key)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    lines = []
    for prefix, members in ordered[:max_groups]:
        shown = ', '.join(members[:max_keys])
        more = ', ...' if len(members) > max_keys else ''
        lines.append(f'    {prefix} ({len(members)}): {shown}{more}')
    if len(ordered) > max_groups:
        rest = sum(len(m) for _, m in ordered[max_groups:])
        lines.append(f'    ... {rest} more in {len(ordered) - max_groups} '
                     'other module(s)')
    return lines


def _direct_tensors(module: nn.Module):
    """The parameters and persistent buffers a module saves itself."""
    for name, param in module._parameters.items():
        if param is not None:
            yield name, param
    for name, buf in module._buffers.items():
        if buf is not None and name not in module._non_persistent_buffers_set:
            yield name, buf


def load_state_dict_checked(module: nn.Module,
                            state_dict: dict) -> StateDictMismatch:
    """Load ``state_dict`` into ``module`` and report what did not match.

    The same loading as :func:`mmengine.runner.load_state_dict` (model
    wrappers and ``BaseTTAModel`` unwrapped at every level, each module's
    ``_load_from_state_dict`` called so that key-renaming hooks apply,
    load-state-dict post hooks run, ``num_batches_tracked`` never counted as
    missing), but the mismatch is returned instead of logged, so that the
    caller decides whether it is an error. Matching tensors are copied;
    tensors of another shape are not.

    Args:
        module (nn.Module): The model (unwrapped or not).
        state_dict (dict): Keys already revised (``module.`` stripped).

    Returns:
        StateDictMismatch: Empty (falsy) when everything matched.
    """
    report = StateDictMismatch()
    err_msgs: List[str] = []
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = metadata

    def load(mod: nn.Module, local_state_dict: dict, prefix: str = ''):
        if is_model_wrapper(mod) or isinstance(mod, BaseTTAModel):
            mod = mod.module
        local_metadata = ({} if metadata is None else metadata.get(
            prefix[:-1], {}))
        mod._load_from_state_dict(local_state_dict, prefix, local_metadata,
                                  True, report.missing_keys,
                                  report.unexpected_keys, err_msgs)
        # After the call: a version hook may have renamed keys in place.
        for name, tensor in _direct_tensors(mod):
            key = prefix + name
            src = local_state_dict.get(key)
            if (not isinstance(src, torch.Tensor) or isinstance(
                    tensor, nn.parameter.UninitializedTensorMixin)):
                continue  # lazy modules take any shape
            if tensor.dim() == 0 and src.dim() == 1 and src.numel() == 1:
                continue  # torch's own backward-compatible case
            if src.shape != tensor.shape:
                report.shape_mismatches.append(
                    (key, tuple(src.shape), tuple(tensor.shape)))
        for name, child in mod._modules.items():
            if child is not None:
                child_prefix = prefix + name + '.'
                load(child, {
                    k: v
                    for k, v in local_state_dict.items()
                    if k.startswith(child_prefix)
                }, child_prefix)
        incompatible = torch.nn.modules.module._IncompatibleKeys(
            report.missing_keys, report.unexpected_keys)
        for hook in getattr(mod, '_load_state_dict_post_hooks', {}).values():
            hook(mod, incompatible)

    load(module, state_dict)
    report.missing_keys[:] = [
        k for k in report.missing_keys if 'num_batches_tracked' not in k
    ]
    report.errors = [
        m for m in err_msgs if not m.startswith('size mismatch for ')
    ]
    return report


class StrictCheckpointMixin:
    """Runner mixin: ``load_checkpoint`` fails on a model/checkpoint mismatch.

    mmengine's ``Runner.load_or_resume`` calls ``self.load_checkpoint(
    load_from)`` and ``Runner.resume`` calls ``self.load_checkpoint(filename,
    map_location=...)``, both with mmengine's ``strict=False`` default, so a
    checkpoint of another model only logs a warning. This override keeps
    mmengine's steps (``after_load_checkpoint`` hooks, ``revise_keys``, model
    wrappers) and raises :class:`CheckpointMismatchError` with a short
    summary instead, unless the config sets ``partial_load = True``
    (``--partial-load``), in which case the summary is logged as a warning
    and the matching tensors are loaded. Resuming is always strict: a
    resumed run must continue the same model.
    """

    _resuming: bool = False

    @property
    def partial_load(self) -> bool:
        """Whether the config allows loading a checkpoint partially."""
        return bool(self.cfg.get('partial_load', False))

    def resume(self, filename: str, *args, **kwargs) -> None:
        """mmengine's resume, with the model weights loaded strictly."""
        self._resuming = True
        try:
            return super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: Optional[bool] = None,
                        revise_keys: list = [(r'^module.', '')]):
        """Load ``filename`` into the model; see the class docstring.

        Args:
            filename (str): Local path or URL, as in mmengine.
            map_location (str | Callable): As in mmengine. Defaults to 'cpu'.
            strict (bool, optional): None (what mmengine's callers pass):
                strict unless the config sets ``partial_load`` (always strict
                when resuming). True / False force it either way.
            revise_keys (list): ``(pattern, replacement)`` pairs applied to
                the checkpoint keys. Defaults to stripping ``module.``.

        Returns:
            dict: The loaded checkpoint.

        Raises:
            CheckpointMismatchError: When strict and the keys or shapes of
                the checkpoint differ from the model's.
        """
        if strict is None:
            strict = self._resuming or not self.partial_load
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        state_dict = checkpoint.get('state_dict', checkpoint)
        metadata = getattr(state_dict, '_metadata', OrderedDict())
        for pattern, repl in revise_keys:
            state_dict = OrderedDict(
                (re.sub(pattern, repl, k), v) for k, v in state_dict.items())
        state_dict._metadata = metadata
        mismatch = load_state_dict_checked(model, state_dict)
        if mismatch:
            config = getattr(self.cfg, 'filename', None) or '<no file>'
            head = (f'checkpoint "{filename}" does not match the model of '
                    f'config "{config}" ({type(model).__name__}):\n'
                    f'{mismatch.summary()}')
            if strict:
                if self._resuming:
                    hint = ('Resuming is always strict: resume from a '
                            'checkpoint of this config.')
                else:
                    hint = ('If that is intended (e.g. fine-tuning a COCO '
                            'model with another class count), pass '
                            '--partial-load to tools/train.py / tools/test.py '
                            'or set `partial_load = True` in the config: the '
                            'matching tensors are loaded and the others keep '
                            'their initialisation.')
                raise CheckpointMismatchError(f'{head}\n{hint}')
            self.logger.warning(
                f'{head}\nPartial load requested: tensors not listed were '
                'loaded, the listed ones keep their initialisation.')
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's keys or shapes differ from the model's."""


@RUNNERS.register_module()
class StrictLoadRunner(StrictCheckpointMixin, Runner):
    """mmengine's :class:`~mmengine.runner.Runner` with strict checkpoint
    loading (:class:`StrictCheckpointMixin`).

    :func:`crossdino.utils.build_runner` builds it (or a strict subclass of
    the config's ``runner_type``); scripts that build runners themselves get
    it with ``runner_type = 'StrictLoadRunner'``.
    """


_STRICT_CLASSES: Dict[type, type] = {Runner: StrictLoadRunner}


def strict_runner_class(runner_cls: type) -> type:
    """``runner_cls`` with :class:`StrictCheckpointMixin` mixed in.

    A ``runner_type`` of the config (a Runner subclass) keeps its behaviour
    and gains the strict loading; classes that already have it are returned
    unchanged.
    """
    if issubclass(runner_cls, StrictCheckpointMixin):
        return runner_cls
    if not issubclass(runner_cls, Runner):
        raise TypeError(
            f'runner_type {runner_cls.__name__} is not a subclass of '
            'mmengine.runner.Runner; strict checkpoint loading (and the '
            'crossdino tools) support Runner subclasses only.')
    if runner_cls not in _STRICT_CLASSES:
        _STRICT_CLASSES[runner_cls] = type(
            f'Strict{runner_cls.__name__}',
            (StrictCheckpointMixin, runner_cls),
            dict(__module__=__name__,
                 __doc__=f'{runner_cls.__name__} with strict checkpoint '
                 'loading (StrictCheckpointMixin).'))
    return _STRICT_CLASSES[runner_cls]
