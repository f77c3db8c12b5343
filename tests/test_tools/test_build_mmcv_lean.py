"""tools/build_mmcv_lean.py prunes an mmcv source tree to chosen CUDA
kernels: the kept ops' bindings stay whole, the others go, and the CPU side
is untouched (a hand-made tree in mmcv's layout)."""

import pytest

from tests.conftest import load_tool

lean = load_tool('tools/build_mmcv_lean.py')

CUDABIND = '''#include "pytorch_cpp_helper.hpp"
#include "pytorch_device_registry.hpp"

void NmsCUDAKernelLauncher(const Tensor boxes, Tensor out);

Tensor nms_cuda(const Tensor boxes, Tensor out) {
  NmsCUDAKernelLauncher(boxes, out);  // a comment with (parens);
  return out;
}

Tensor nms_impl(const Tensor boxes, Tensor out);
REGISTER_DEVICE_IMPL(nms_impl, CUDA, nms_cuda);

/* block comment: REGISTER_DEVICE_IMPL(x, CUDA, y); */
void RoiPoolForwardCUDAKernelLauncher(Tensor input, Tensor output);

void roi_pool_forward_cuda(Tensor input, Tensor output) {
  RoiPoolForwardCUDAKernelLauncher(input, output);
};

void roi_pool_impl_forward(Tensor input, Tensor output);
REGISTER_DEVICE_IMPL(roi_pool_impl_forward, CUDA, roi_pool_forward_cuda)

Tensor ms_deform_attn_cuda_forward(const Tensor &value, const int step);

Tensor ms_deform_attn_impl_forward(const Tensor &value, const int step);

REGISTER_DEVICE_IMPL(ms_deform_attn_impl_forward, CUDA,
                     ms_deform_attn_cuda_forward);
'''
SOURCES = {
    'nms_cuda.cu': 'void NmsCUDAKernelLauncher(const Tensor boxes, '
                   'Tensor out) {}\n',
    'roi_pool_cuda.cu': 'void RoiPoolForwardCUDAKernelLauncher(Tensor input,'
                        ' Tensor output) {}\n',
    'ms_deform_attn_cuda.cu': 'at::Tensor ms_deform_attn_cuda_forward('
                              'const at::Tensor &value, const int step) {}\n',
}

# a wrapper that calls its kernel directly, as mmcv's nms_rotated.cpp does
WRAPPER = '''#include "pytorch_cpp_helper.hpp"
#ifdef MMCV_WITH_CUDA
void {name}ForwardCUDAKernelLauncher(Tensor input, Tensor output);
#endif
void run(Tensor input, Tensor output) {{
#ifdef MMCV_WITH_CUDA
  {name}ForwardCUDAKernelLauncher(input, output);
#else
  AT_ERROR("Not compiled with GPU support");
#endif
}}
'''
SOURCES['nms_cuda.cu'] += 'void NmsForwardCUDAKernelLauncher(Tensor input,' \
    ' Tensor output) {}\n'


@pytest.fixture
def tree(tmp_path):
    cuda = tmp_path / 'mmcv' / 'ops' / 'csrc' / 'pytorch' / 'cuda'
    cuda.mkdir(parents=True)
    (cuda / 'cudabind.cpp').write_text(CUDABIND)
    for name, text in SOURCES.items():
        (cuda / name).write_text(text)
    (cuda.parent / 'nms.cpp').write_text(WRAPPER.format(name='Nms'))
    (cuda.parent / 'roi_pool.cpp').write_text(WRAPPER.format(name='RoiPool'))
    return tmp_path, cuda


def test_prune_keeps_whole_blocks_of_kept_kernels(tree, capsys):
    root, cuda = tree
    assert lean.main([str(root), '--keep', 'nms_cuda',
                      'ms_deform_attn_cuda']) == 0
    assert sorted(p.name for p in cuda.glob('*.cu')) == [
        'ms_deform_attn_cuda.cu', 'nms_cuda.cu']
    assert [p.name for p in (cuda / 'pruned').glob('*.cu')] == [
        'roi_pool_cuda.cu']
    text = (cuda / 'cudabind.cpp').read_text()
    assert 'RoiPool' not in text and 'roi_pool' not in text
    # the kept blocks, byte for byte, with the includes in front
    nms = CUDABIND[CUDABIND.index('void NmsCUDA'):
                   CUDABIND.index('/* block comment')]
    msda = CUDABIND[CUDABIND.index('Tensor ms_deform_attn_cuda_forward'):]
    assert text.startswith('#include "pytorch_cpp_helper.hpp"\n')
    assert nms.strip() in text and msda.strip() in text
    # a wrapper calling a pruned kernel is compiled without CUDA; one
    # calling a kept kernel is untouched
    assert (cuda.parent / 'nms.cpp').read_text() == WRAPPER.format(name='Nms')
    assert (cuda.parent / 'roi_pool.cpp').read_text() == (
        '#undef MMCV_WITH_CUDA  // build_mmcv_lean: '
        'RoiPoolForwardCUDAKernelLauncher pruned\n'
        + WRAPPER.format(name='RoiPool'))
    out = capsys.readouterr().out
    assert 'removed 1' in out and 'kept: 2, dropped: 1' in out
    assert 'nms_impl, ms_deform_attn_impl_forward' in out
    assert 'wrappers built without CUDA: roi_pool.cpp' in out


def test_prune_is_idempotent_and_works_from_the_original(tree):
    root, cuda = tree
    lean.main([str(root), '--keep', 'nms_cuda', 'ms_deform_attn_cuda'])
    first = (cuda / 'cudabind.cpp').read_text()
    lean.main([str(root), '--keep', 'nms_cuda', 'ms_deform_attn_cuda'])
    assert (cuda / 'cudabind.cpp').read_text() == first
    assert (cuda / 'cudabind.cpp.orig').read_text() == CUDABIND
    lean.main([str(root), '--keep', 'nms_cuda'])  # a subset: from the orig
    assert 'ms_deform' not in (cuda / 'cudabind.cpp').read_text()
    assert (cuda.parent / 'roi_pool.cpp').read_text().count('#undef') == 1
    # a longer list brings pruned kernels back from cuda/pruned/
    lean.main([str(root), '--keep', *(n[:-3] for n in SOURCES)])
    assert sorted(p.name for p in cuda.glob('*.cu')) == sorted(SOURCES)
    assert (cuda / 'cudabind.cpp').read_text() == CUDABIND
    assert (cuda.parent / 'roi_pool.cpp').read_text() == WRAPPER.format(
        name='RoiPool')


def test_unknown_kernel_and_missing_tree_are_named(tree, tmp_path, capsys):
    root, cuda = tree
    with pytest.raises(SystemExit):
        lean.main([str(root), '--keep', 'nms_cuda', 'no_such_cuda'])
    assert "no such CUDA source(s)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        lean.main([str(tmp_path / 'nowhere')])
    assert 'cudabind.cpp not found' in capsys.readouterr().err
