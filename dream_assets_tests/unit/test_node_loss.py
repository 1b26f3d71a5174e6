"""Pure logic of running on a cluster: which trial errors are node losses, where node-local
caches go, and which environment variables Tune may copy to trials."""

from pathlib import Path

import ray.exceptions

from dream_assets.lib.evaluation.outcomes import SECRET_ENV_VARS, is_lost, keep_secrets_on_driver
from dream_assets.lib.node_local import NODE_SCRATCH_ENV, node_local


def test_only_the_loss_of_a_worker_or_node_is_a_lost_trial():
    raised = ray.exceptions.RayTaskError("train", "Traceback ...", ValueError("bad chunk size"))
    assert not is_lost(raised)  # the trial's own error: recorded, never run again
    assert not is_lost(None)
    assert is_lost(ray.exceptions.ActorUnavailableError("socket closed", b"\x00" * 16))  # raylet killed
    assert is_lost(ray.exceptions.NodeDiedError("node gone"))
    assert is_lost(ray.exceptions.ActorDiedError())


def test_node_local_paths_are_re_rooted_under_the_nodes_scratch(monkeypatch, tmp_path):
    monkeypatch.delenv(NODE_SCRATCH_ENV, raising=False)
    assert node_local("/tmp/dream/scratch/llm_cache") == Path("/tmp/dream/scratch/llm_cache")
    monkeypatch.setenv(NODE_SCRATCH_ENV, str(tmp_path / "node-1"))
    assert node_local("/tmp/dream/scratch/llm_cache") == tmp_path / "node-1" / "tmp/dream/scratch/llm_cache"
    already = tmp_path / "node-1" / "indexes"
    assert node_local(already) == already  # not nested twice


def test_tune_copies_no_aws_key_to_trials():
    from ray.tune.execution import class_cache

    keep_secrets_on_driver()
    assert not SECRET_ENV_VARS & set(class_cache.ENV_VARS_TO_PROPAGATE)
    assert class_cache.ENV_VARS_TO_PROPAGATE  # the rest of Tune's list is still sent


def test_the_fatal_signal_a_worker_log_names_is_found():
    from dream_assets.lib.evaluation.worker_crash import describe_signal, fatal_signal

    ray_handler = (
        "[2026-12-06 08:10:43,648 E 5624 5624] logging.cc:474: *** SIGILL received at time=1796544643 on cpu 1 ***"
    )
    assert fatal_signal(f"loading model\n{ray_handler}\nPC: @ 0x7f...\n") == "SIGILL"
    assert fatal_signal("Fatal Python error: Segmentation fault\n\nThread 0x7f (most recent call first):") == "SIGSEGV"
    assert fatal_signal("Fatal Python error: Aborted\n") == "SIGABRT"
    # a worker that was SIGKILLed (the OOM killer, a lost node) writes nothing: not a crash
    assert fatal_signal("INFO worker.py:1 -- Task started\n") == ""
    assert fatal_signal("*** SIGTERM received at time=1 on cpu 0 ***") == ""  # asked to stop, not a crash
    assert describe_signal("SIGILL") == "SIGILL (Illegal instruction)"
