"""Registries of DREAM's pluggable roles: one per role, each mapping a name to a component.

A role's component is found, in this order, by

1. a registered name: the built-ins (listed here as import paths, imported on first use) and
   anything registered at run time with `Registry.register`;
2. a Python entry point of the role's group (`dream.methods`, `dream.retrievers`,
   `dream.rerankers`, `dream.metrics`, `dream.vector_stores`, `dream.llm_providers`), declared
   by an installed package in its `pyproject.toml`:

       [project.entry-points."dream.metrics"]
       answer_length_ratio = "dream_metric_example:answer_length_ratio"

3. an import path `package.module:attribute`, written where the name goes (in the search space:
   `method: my_pkg.chunkers:MyChunker`).

Every component is checked against its role's contract (`Registry.check`) when it is found, so
a wrong plug-in fails where it is named, with the name, not inside a trial.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from pydantic import AfterValidator


class UnknownComponentError(ValueError):
    """A name that no registry entry, entry point or import path resolves; the message names the
    role, the name and the names known."""


def load_path(path: str) -> Any:
    """The attribute an import path `package.module:attribute` names.

    Raises:
        UnknownComponentError: if the path has no `:`, the module cannot be imported, or it has
            no such attribute.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise UnknownComponentError(f"{path!r} is not an import path of the form package.module:attribute")
    try:
        value = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownComponentError(f"{path!r}: cannot import {module_name}: {error}") from error
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise UnknownComponentError(f"{path!r}: {module_name} has no attribute {attribute}")
        value = getattr(value, part)
    return value


class Registry:
    """The components of one role by name (thread-safe; entry points read once per process).

    Args:
        role: what the components are, for messages (`retrieval method`).
        group: the entry-point group plug-ins register under (`dream.methods`).
        builtins: built-in names and their import paths, imported on first use.
        check: raises `TypeError` (or `ValueError`) for a component that does not fit the
            role's contract; None accepts anything.
    """

    def __init__(
        self,
        role: str,
        group: str,
        builtins: dict[str, str],
        check: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.role, self.group = role, group
        self._paths = dict(builtins)
        self._loaded: dict[str, Any] = {}
        self._check = check
        self._entry_points_read = False
        self._lock = threading.RLock()

    def register(self, name: str, component: Any = None):
        """Registers `component` under `name` (or, called with the name only, decorates it).

        Raises:
            ValueError: if `name` is taken by another component.
        """
        if component is None:
            return lambda value: self.register(name, value) or value
        with self._lock:
            known = self._loaded.get(name)
            if known is not None and known is not component:
                raise ValueError(f"{self.role} {name!r} is already registered ({known!r})")
            self._checked(name, component)
            self._loaded[name] = component
        return None

    def _checked(self, name: str, component: Any) -> Any:
        if self._check is not None:
            try:
                self._check(name, component)
            except (TypeError, ValueError) as error:
                raise UnknownComponentError(f"{self.role} {name!r} does not fit: {error}") from error
        return component

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        for point in entry_points(group=self.group):
            self._paths.setdefault(point.name, point.value)
        self._entry_points_read = True

    def names(self) -> list[str]:
        """Every name known: built-ins first, then entry points and run-time registrations."""
        with self._lock:
            self._read_entry_points()
            return list(dict.fromkeys([*self._paths, *self._loaded]))

    def get(self, name: str) -> Any:
        """The component called `name` (see the module docstring for the lookup order).

        Raises:
            UnknownComponentError: naming the role, `name` and the names known, if nothing
                resolves it, or if what it resolves to does not fit the role.
        """
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            self._read_entry_points()
            path = self._paths.get(name)
            if path is None and ":" not in name:
                known = [repr(known) for known in self.names() if ":" not in known]
                listed = f"{', '.join(known[:-1])} or {known[-1]}" if len(known) > 1 else "".join(known)
                raise UnknownComponentError(
                    f"unknown {self.role} {name!r} (a plug-in is named by its import path package.module:attribute"
                    f" or registered under the entry-point group {self.group!r}): {self.role} must be {listed}"
                )
            component = self._checked(name, load_path(path or name))
            self._loaded[name] = component
            return component

    def all(self) -> dict[str, Any]:
        """Every component known by name (built-ins and entry points loaded)."""
        return {name: self.get(name) for name in self.names()}


def registered(registry: Registry) -> AfterValidator:
    """A pydantic validator accepting a name `registry` resolves (its error, naming the known
    names, becomes the field's validation error): `Annotated[str, registered(REGISTRY)]`."""

    def check(name: str) -> str:
        registry.get(name)
        return name

    return AfterValidator(check)


def subclass_of(base: type) -> Callable[[str, Any], None]:
    """A registry check accepting subclasses of `base` (raises `TypeError` for anything else)."""

    def check(name: str, component: Any) -> None:
        if not (isinstance(component, type) and issubclass(component, base)):
            raise TypeError(f"{component!r} is not a subclass of {base.__module__}.{base.__qualname__}")

    return check
