"""mmcv's bf16-less kernels run in fp32 under autocast (issue 18)."""
import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmcv.ops import multi_scale_deform_attn as msda

import crossdino  # noqa: F401
from crossdino.models.layers import FP32MultiScaleDeformableAttnFunction
from crossdino.models.layers.fp32_ops import (_MMCVFunction,
                                              fp32_under_autocast,
                                              install_fp32_ops)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor([[6, 9], [3, 5]])
    value = torch.randn(2, int(shapes.prod(1).sum()), 2, 4, generator=g)
    loc = torch.rand(2, 7, 2, 2, 3, 2, generator=g)
    weights = torch.rand(2, 7, 2, 2, 3, generator=g).softmax(-1)
    return value, shapes, loc, weights


def test_pytorch_path_samples_in_fp32_under_autocast():
    value, shapes, loc, weights = _inputs()
    low = value.bfloat16()  # what the value projection gives under autocast
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = msda.multi_scale_deformable_attn_pytorch(low, shapes, loc,
                                                       weights)
    assert got.dtype == torch.float32
    # exactly the fp32 sampling of the bf16 value: the locations and weights
    # were not rounded to bf16 (they would move the result by ~1e-2)
    ref = msda.multi_scale_deformable_attn_pytorch(low.float(), shapes, loc,
                                                   weights)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    rounded = msda.multi_scale_deformable_attn_pytorch.__wrapped__(
        low, shapes, loc.bfloat16(), weights.bfloat16())
    assert (rounded.float() - ref).abs().max() > 1e-3


def test_no_change_outside_autocast_and_module_output_dtype():
    value, shapes, loc, weights = _inputs(1)
    plain = msda.multi_scale_deformable_attn_pytorch.__wrapped__(
        value, shapes, loc, weights)
    torch.testing.assert_close(
        msda.multi_scale_deformable_attn_pytorch(value, shapes, loc, weights),
        plain, rtol=0, atol=0)
    attn = MultiScaleDeformableAttention(embed_dims=16, num_heads=2,
                                         num_levels=2, num_points=3,
                                         batch_first=True).eval()
    query = torch.randn(2, 7, 16)
    feats = torch.randn(2, int(shapes.prod(1).sum()), 16)
    ref_pts = torch.rand(2, 7, 2, 2)
    start = torch.tensor([0, 54])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = attn(query, value=feats, reference_points=ref_pts,
                   spatial_shapes=shapes, level_start_index=start)
    out32 = attn(query, value=feats, reference_points=ref_pts,
                 spatial_shapes=shapes, level_start_index=start)
    torch.testing.assert_close(out.float(), out32, rtol=0.05, atol=0.02)


def test_install_is_idempotent_and_keeps_mmcv_op():
    from mmdet.models.losses import focal_loss
    install_fp32_ops()
    install_fp32_ops()
    assert focal_loss._sigmoid_focal_loss.fp32_under_autocast
    assert not hasattr(focal_loss._sigmoid_focal_loss.__wrapped__,
                       'fp32_under_autocast')
    assert msda.MultiScaleDeformableAttnFunction is \
        FP32MultiScaleDeformableAttnFunction
    fn = msda.multi_scale_deformable_attn_pytorch
    assert fn.fp32_under_autocast and not hasattr(
        fn.__wrapped__, 'fp32_under_autocast')  # wrapped once
    # the CUDA op underneath is mmcv's own, not the subclass (no recursion)
    assert _MMCVFunction.__module__ == 'mmcv.ops.multi_scale_deform_attn'
    assert FP32MultiScaleDeformableAttnFunction.__bases__ == (_MMCVFunction, )


def test_wrapper_casts_floating_args_and_turns_autocast_off():
    seen = []

    def probe(x, labels, gamma):
        seen.append((x.dtype, labels.dtype, gamma,
                     torch.is_autocast_enabled('cpu')))
        return x * 2

    fn = fp32_under_autocast(probe)
    x = torch.ones(3, dtype=torch.bfloat16)
    labels = torch.zeros(3, dtype=torch.long)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fn(x, labels, 2.0)
    assert out.dtype == torch.float32
    fn(x, labels, 2.0)  # outside autocast: untouched
    assert seen == [(torch.float32, torch.long, 2.0, False),
                    (torch.bfloat16, torch.long, 2.0, False)]
