"""mmcv's CUDA kernels without bf16, run in fp32 under autocast.

mmcv 2.1.0 instantiates its CUDA kernels for fp32, fp64 and fp16 only
(``AT_DISPATCH_FLOATING_TYPES_AND_HALF``). Under bf16 autocast two of them
receive bf16 in every DINO-family training step and stop with "not
implemented for 'BFloat16'":

- multi-scale deformable attention: the value projection returns bf16, and
  mmcv casts the sampling locations and attention weights to that dtype;
- the sigmoid focal loss mmdet's ``FocalLoss`` calls on CUDA tensors with
  class-index targets (DINO's classification loss, HMPE's included).

Both also lose what this project measures in fp16/bf16: a sampling location
in [0, 1] is rounded to 2^-11 in fp16 (0.16 px on a 334-wide level) and
2^-8 in bf16 (1.3 px), which moves the bilinear weights of exactly the tiny
objects; the focal term of well-classified background saturates. As detrex
does for deformable attention, both run in fp32: their floating inputs are
cast up and autocast is off inside them, on the CUDA kernels and on the
PyTorch paths the CPU takes. The work is small beside the projections
around it, which stay in low precision; the outputs are fp32. Outside
autocast nothing changes. :func:`install_fp32_ops` (run when ``crossdino``
is imported) swaps them into the modules that look them up at call time:
``mmcv.ops.multi_scale_deform_attn`` and ``mmdet.models.losses.focal_loss``.
"""
import functools

import torch
from mmcv.ops import multi_scale_deform_attn as msda
from mmdet.models.losses import focal_loss

# mmcv's own class, also when this module is imported after the swap
_MMCVFunction = getattr(msda.MultiScaleDeformableAttnFunction,
                        'mmcv_function', msda.MultiScaleDeformableAttnFunction)


class FP32MultiScaleDeformableAttnFunction(_MMCVFunction):
    """mmcv's CUDA/MLU deformable attention with fp32 inputs and autocast
    off under autocast."""
    mmcv_function = _MMCVFunction

    @staticmethod
    @torch.amp.custom_fwd(device_type='cuda', cast_inputs=torch.float32)
    def forward(ctx, *args):
        return _MMCVFunction.forward(ctx, *args)

    @staticmethod
    @torch.amp.custom_bwd(device_type='cuda')
    def backward(ctx, *grads):
        return _MMCVFunction.backward(ctx, *grads)


def fp32_under_autocast(fn):
    """Wrap ``fn(*args, **kwargs)`` to run with its floating tensor
    arguments in fp32 and autocast off when autocast is on for their
    device."""

    def up(a):
        return a.float() if torch.is_tensor(a) and a.is_floating_point() \
            else a

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        device = next(a for a in (*args, *kwargs.values())
                      if torch.is_tensor(a)).device.type
        if not torch.is_autocast_enabled(device):
            return fn(*args, **kwargs)
        with torch.autocast(device, enabled=False):
            return fn(*map(up, args), **{k: up(v) for k, v in kwargs.items()})

    wrapped.fp32_under_autocast = True
    return wrapped


def install_fp32_ops() -> None:
    """Swap the fp32 versions into mmcv and mmdet (idempotent)."""
    msda.MultiScaleDeformableAttnFunction = \
        FP32MultiScaleDeformableAttnFunction
    for module, name in ((msda, 'multi_scale_deformable_attn_pytorch'),
                         (focal_loss, '_sigmoid_focal_loss')):
        fn = getattr(module, name)
        if not getattr(fn, 'fp32_under_autocast', False):
            setattr(module, name, fp32_under_autocast(fn))
