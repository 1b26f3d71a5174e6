"""Intra-op threads that fit the CPUs a process is really granted.

torch, ONNX Runtime and OpenMP each size their thread pools from the machine's core count, not
from what the process may use: a Ray task granted one CPU on a 2-core machine beside another
still starts two spinning threads per pool. Measured side by side with AutoRAG 0.3.27 on a busy
2-core machine (issue 37): embedding 1,017 questions took 32-38 s with the default threads and
6 s pinned to one; at 2 threads torch's spinning workers cost 34 ms a question against 7 ms on
one thread (8 ms with a passive OpenMP wait policy). So every process that embeds, retrieves or
scores calls `pin_threads()` once, before its first forward pass.
"""

from __future__ import annotations

import os


def granted_cpus() -> int:
    """The CPUs this process may use: the `CPU` resource Ray granted the current task or actor
    when there is one (rounded up, at least 1), else the process's CPU affinity."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import ray

        if ray.is_initialized():
            context = ray.get_runtime_context()
            if context.worker.mode == ray.WORKER_MODE:  # a task or actor, not the driver
                cpus = context.get_assigned_resources().get("CPU", 0.0)
                if cpus:
                    return max(1, min(affinity, -int(-cpus // 1)))
    except ImportError:  # pragma: no cover - ray is a dependency
        pass
    return max(1, affinity)


def pin_threads(threads: int | None = None) -> int:
    """Sizes torch's intra-op pool and the OpenMP/MKL pools of libraries loaded later (ONNX
    Runtime reads `intra_op_threads()`) to `threads` (default: `granted_cpus()`), with a passive
    OpenMP wait policy so idle threads sleep instead of spinning. Returns the thread count.

    The environment variables only reach native libraries that start their pools after this call;
    torch's pool is resized directly (`torch.set_num_threads`)."""
    count = max(1, threads or granted_cpus())
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(count)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["DREAM_INTRA_OP_THREADS"] = str(count)
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def intra_op_threads() -> int:
    """The thread count `pin_threads` set in this process (else `granted_cpus()`): what an ONNX
    Runtime session's `intra_op_num_threads` is set to."""
    value = os.environ.get("DREAM_INTRA_OP_THREADS")
    return int(value) if value else granted_cpus()
