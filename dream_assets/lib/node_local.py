"""Node-local paths: the caches each Ray node keeps on its own disk.

DREAM assumes no disk shared between Ray nodes. What a node keeps locally is only a cache, filled
from the object store or by asking the LLM again on a miss: downloaded indexes and reranker
weights (`download_once`), the LLM answer cache of the trials
(`dream_assets.lib.evaluation.trial`) and the LLM response cache of the synthetic test-set generator and
the judge (`dream_assets.lib.llm.ragas_llm`). Each of these is per node: a question answered on one node is
a cache miss on another, which asks the LLM (the trials' `llm_cache_hits` count the hits).

A node whose local disk is not where the configured path points (several nodes on one machine,
as in the test cluster, or a pod whose scratch volume is mounted elsewhere) sets
`DREAM_NODE_SCRATCH` in its environment (`ray start`'s, which its workers inherit): every
node-local path is then re-rooted under it.
"""

import os
import tempfile
from pathlib import Path

NODE_SCRATCH_ENV = "DREAM_NODE_SCRATCH"


def node_local(path: str | os.PathLike) -> Path:
    """`path` on this node's own disk: unchanged, or when `DREAM_NODE_SCRATCH` is set, the
    same path under that directory (`/tmp/dream/scratch` -> `$DREAM_NODE_SCRATCH/tmp/dream/scratch`;
    a relative path is taken from the current directory first)."""
    root = os.environ.get(NODE_SCRATCH_ENV)
    absolute = Path(path).absolute()
    if not root or absolute.is_relative_to(root):
        return absolute
    return Path(root) / absolute.relative_to(absolute.anchor)


def download_once(store, prefix: str, scratch_dir: str, marker: str) -> Path:
    """Downloads an object-store folder to `<scratch_dir>/<prefix>` once per node: a partial
    copy is renamed into place, so concurrent processes never see half a folder; `marker` is a
    file the complete folder has (`scratch_dir` is node-local: `dream_assets.lib.node_local`)."""
    target = node_local(Path(scratch_dir or tempfile.gettempdir()) / prefix)
    if not (target / marker).exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        store.download_dir(prefix, partial)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(partial, target)
        except OSError:  # another process on this node placed it first
            pass
    return target
