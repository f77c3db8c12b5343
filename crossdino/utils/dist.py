"""Multi-process training and testing on machines without a GPU.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` before
``init_process_group`` and wraps the model in DDP with
``device_ids=[LOCAL_RANK]``; both fail on a CPU-only host. On such hosts we
initialise the process group with the ``gloo`` backend ourselves (mmengine then
skips its own ``init_dist``) and ask for DDP without device ids. With a GPU,
nothing changes.
"""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare ``cfg`` for multi-process CPU training/testing when needed.

    Args:
        cfg: The config that the Runner will be built from; edited in place.
        launcher: ``'none'``, ``'pytorch'`` or ``'slurm'`` (``tools/train.py
            --launcher``).

    Returns:
        True if a gloo process group was set up for a CPU run.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher == 'slurm':
        # SLURM's environment names the tasks; torchrun's does the rest.
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            raise RuntimeError(
                'CPU runs under SLURM need MASTER_ADDR, the host name of the '
                'first node of the allocation (e.g. export MASTER_ADDR=$(scontrol '
                'show hostnames $SLURM_JOB_NODELIST | head -n1)).')
    elif launcher != 'pytorch':
        raise ValueError(f'launcher "{launcher}" is not supported on a host '
                         'without CUDA; use --launcher pytorch (torchrun)')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper['device_ids'] = None  # a CPU module must not name devices
    cfg.model_wrapper_cfg = wrapper
    return True
