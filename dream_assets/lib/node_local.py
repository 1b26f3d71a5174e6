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

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from dream_assets.settings import settings

logger = logging.getLogger(__name__)

NODE_SCRATCH_ENV = "DREAM_NODE_SCRATCH"


def node_local(path: str | os.PathLike) -> Path:
    """`path` on this node's own disk: unchanged, or when `DREAM_NODE_SCRATCH` is set, the
    same path under that directory (`/tmp/dream/scratch` -> `$DREAM_NODE_SCRATCH/tmp/dream/scratch`;
    a relative path is taken from the current directory first)."""
    root = settings().node_scratch
    absolute = Path(path).absolute()
    if not root or absolute.is_relative_to(root):
        return absolute
    return Path(root) / absolute.relative_to(absolute.anchor)


def download_once(store, prefix: str, scratch_dir: str, marker: str, refresh: bool = False) -> Path:
    """Downloads an object-store folder to `<scratch_dir>/<prefix>` once per node: a partial
    copy is renamed into place, so concurrent processes never see half a folder; `marker` is a
    file the complete folder has (`scratch_dir` is node-local: `dream_assets.lib.node_local`).

    A copy already there is checked against the object store's listing (every object present
    with its size, `intact`); a damaged one (a file truncated, deleted, or left by a killed
    copy), or any copy with `refresh` (its reader failed on it), is set aside and downloaded
    again.
    """
    target = node_local(Path(scratch_dir or tempfile.gettempdir()) / prefix)
    if (target / marker).exists() and (refresh or not intact(store, prefix, target)):
        aside = target.with_name(f"{target.name}.{os.getpid()}.damaged")
        logger.warning("node-local copy %s %s: downloading it again", target, "refreshed" if refresh else "damaged")
        with contextlib.suppress(OSError):  # another process on this node set it aside first
            os.replace(target, aside)
        shutil.rmtree(aside, ignore_errors=True)
    if not (target / marker).exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        store.download_dir(prefix, partial)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(partial, target)
        except OSError:  # another process on this node placed it first
            shutil.rmtree(partial, ignore_errors=True)
    return target


def intact(store, prefix: str, local: Path) -> bool:
    """Whether the local copy `local` of object-store folder `prefix` holds every object of it
    with the object's size."""
    base = len(prefix.strip("/")) + 1
    for info in store.list(prefix):
        path = local / info.key[base:]
        if not path.is_file() or path.stat().st_size != info.size:
            return False
    return True
