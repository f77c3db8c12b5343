"""Activation checkpointing for mmdet's transformer encoders, no fairscale.

mmdet's DETR encoders take ``num_cp`` (checkpoint the first ``num_cp``
layers) but implement it with fairscale's ``checkpoint_wrapper`` and raise
``NotImplementedError`` without fairscale. :func:`checkpoint_wrapper` is the
same contract on ``torch.utils.checkpoint``: it wraps a module's forward in
place (state-dict keys unchanged) so that, in training with gradients on,
its activations are recomputed in the backward pass instead of stored.
:func:`install_checkpoint_wrapper` hands it to mmdet's layer modules where
fairscale is missing, so ``encoder=dict(num_cp=6)`` works as mmdet
documents it.
"""
import types

import torch
import torch.utils.checkpoint as cp
from torch import nn


def _checkpointed_forward(self, *args, **kwargs):
    """The class's forward, recomputed in the backward pass when training
    with gradients on (a bound method: a deep copy, e.g. mmengine's EMA
    model, rebinds it to the copy)."""
    forward = type(self).forward
    if self.training and torch.is_grad_enabled():
        return cp.checkpoint(forward, self, *args, use_reentrant=False,
                             **kwargs)
    return forward(self, *args, **kwargs)


def checkpoint_wrapper(module: nn.Module,
                       offload_to_cpu: bool = False) -> nn.Module:
    """Checkpoint ``module``'s forward (in place; returns the module).

    Args:
        module (nn.Module): e.g. an encoder layer.
        offload_to_cpu (bool): fairscale's option; not supported.
    """
    if offload_to_cpu:
        raise NotImplementedError('offload_to_cpu needs fairscale')
    module.forward = types.MethodType(_checkpointed_forward, module)
    return module


def install_checkpoint_wrapper() -> None:
    """Give mmdet's transformer layer modules this wrapper where fairscale
    is not installed (idempotent)."""
    import importlib
    for name in ('detr_layers', 'deformable_detr_layers',
                 'grounding_dino_layers'):
        mod = importlib.import_module(
            f'mmdet.models.layers.transformer.{name}')
        if getattr(mod, 'checkpoint_wrapper', None) is None:
            mod.checkpoint_wrapper = checkpoint_wrapper
