"""tools/train.py --amp [--amp-dtype]: the optimizer wrapper it configures."""

import pytest

from tests.conftest import TINY_CFG, load_tool

train = load_tool('tools/train.py')


def wrapper(*flags):
    args = train.parse_args([TINY_CFG, '--work-dir', '/tmp/unused', *flags])
    return train.build_cfg(args).optim_wrapper


def test_amp_dtype_reaches_the_optimizer_wrapper():
    fp16 = wrapper('--amp')
    assert fp16.type == 'AmpOptimWrapper' and fp16.loss_scale == 'dynamic'
    assert 'dtype' not in fp16  # mmengine's default: float16
    bf16 = wrapper('--amp', '--amp-dtype', 'bfloat16')
    assert bf16.type == 'AmpOptimWrapper' and bf16.dtype == 'bfloat16'
    assert wrapper().type == 'OptimWrapper'


def test_amp_dtype_without_amp_is_an_error():
    with pytest.raises(SystemExit, match='--amp-dtype needs --amp'):
        wrapper('--amp-dtype', 'bfloat16')
