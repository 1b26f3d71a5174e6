"""`dream serve`: MLflow's model server on a registered version, and on the version an alias
points at, following the alias (the server is restarted on the new version when it moves). Each
server is told the configuration hash the registry recorded for its version
(`configuration_hash`), which the model checks before it loads (`dream_assets.serving.verify`)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger("dream")


def model_uri(client, name: str, version: str) -> tuple[str, str | None]:
    """The model URI of `version` of registered model `name` and the version it resolves to now:
    a number or `latest` as given (version None), an alias (`champion`) as the numbered URI of
    the version it points at now (`models:/<name>/<number>`, so the server loads the version
    whose configuration hash it is given, even if the alias moves meanwhile) with that number;
    an alias that does not exist falls back to `latest` (models registered before aliases).

    Raises:
        mlflow.exceptions.MlflowException: if the model is not registered.
    """
    if version == "latest" or version.isdigit():
        return f"models:/{name}/{version}", None
    if (resolved := _alias_version(client, name, version)) is None:
        logger.info("model %s has no alias %r: serving its latest version", name, version)
        return f"models:/{name}/latest", None
    return f"models:/{name}/{resolved}", resolved


def configuration_hash(client, name: str, version: str) -> str:
    """The `dream.configuration_hash` tag of `version` (a number, `latest`, or an alias) of
    registered model `name`: what DREAM recorded when it registered that winner.

    Raises:
        ValueError: when the version does not exist or has no such tag (not registered by
            DREAM: not served).
    """
    from mlflow.exceptions import MlflowException

    from dream_assets.defs.evaluation.best import TAG_CONFIGURATION

    number = _version_number(client, name, version)
    try:
        tags = client.get_model_version(name, number).tags if number else {}
    except MlflowException:
        tags = {}
    if TAG_CONFIGURATION not in tags:
        raise ValueError(
            f"version {version!r} of {name} has no {TAG_CONFIGURATION} tag (DREAM registers its winners with"
            " one): refusing to serve it"
        )
    return tags[TAG_CONFIGURATION]


def _version_number(client, name: str, version: str) -> str | None:
    """The version number `version` (a number, `latest`, or an alias) stands for now."""
    if version.isdigit():
        return version
    if version == "latest":
        versions = [int(v.version) for v in client.search_model_versions(f"name='{name}'")]
        return str(max(versions)) if versions else None
    return _alias_version(client, name, version) or _version_number(client, name, "latest")


def server_environment(client, name: str, version: str) -> dict[str, str]:
    """The environment a model server of `version` of `name` runs with: this process', this
    environment's bin directory first on PATH (MLflow's server starts `uvicorn` by name), and
    the registry's configuration hash (`configuration_hash`)."""
    from dream_assets.serving import CONFIGURATION_HASH_ENV

    bin_dir = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        CONFIGURATION_HASH_ENV: configuration_hash(client, name, version),
    }


def serve_following(client, name: str, alias: str, server_args: list[str], interval_s: float) -> int:
    """Serves `models:/<name>@<alias>` with `mlflow models serve <server_args>` in a child
    process and looks up the alias every `interval_s` seconds; when it points at another
    version, the server is stopped and started again on it (requests during the restart are
    refused). Returns the server's exit status when it exits by itself; SIGTERM or Ctrl-C stops
    both."""
    uri, version = model_uri(client, name, alias)
    stop = {"now": False}

    def _stop(*_) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    server = _start(uri, version, server_args, server_environment(client, name, version or alias))
    next_look = time.monotonic() + interval_s
    try:
        while not stop["now"]:
            time.sleep(0.5)
            if server.poll() is not None:
                return server.returncode
            if time.monotonic() < next_look:
                continue
            next_look = time.monotonic() + interval_s
            now = _alias_version(client, name, alias)
            if now is not None and now != version:
                logger.info("%s@%s moved from version %s to %s: restarting the server", name, alias, version, now)
                _terminate(server)
                version = now
                env = server_environment(client, name, version)
                server = _start(f"models:/{name}/{version}", version, server_args, env)
    except KeyboardInterrupt:
        pass
    finally:
        _terminate(server)
    return 0


def _alias_version(client, name: str, alias: str) -> str | None:
    """The version `alias` of registered model `name` points at; None when it points nowhere."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _start(uri: str, version: str | None, server_args: list[str], env: dict[str, str]) -> subprocess.Popen:
    bin_dir = Path(sys.executable).parent
    logger.info("serving %s%s", uri, f" (version {version})" if version else "")
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local", *server_args]
    return subprocess.Popen(command, env=env, start_new_session=True)  # its own group: uvicorn's workers too


def _terminate(server: subprocess.Popen) -> None:
    """Stops the server's process group: SIGTERM, then SIGKILL after 30 s."""
    if server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
