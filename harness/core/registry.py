"""Named registries (metrics, encoders, suites, methods, model families) with did-you-mean errors.

An entry is either an object or a lazy reference `"package.module:attribute"`, imported the first
time the entry is asked for (so listing names imports nothing heavy). A registry given a `base`
checks every entry against it: classes must subclass it, other objects must be instances. In a
registry of `named` entries (metrics, methods, families, recipes: each carries a `name` attribute)
an entry must carry the name it is registered under: settings are looked up by one of the two, so a
mismatch would silently run defaults.

One idiom for every registry: a named entry states its name once, in its `name` attribute, and
registers with `@REGISTRY.register()` (or `REGISTRY.add_lazy(name, "module:ATTR")` where listing must
not import it); a key that differs from the entry's own name is refused with one line, at
registration for objects and at first use for lazy entries (`entries()` resolves them all, which the
shared registry tests do). A registry given a `check` runs it on every entry as well (the metric
contract, say).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from msvg_bench.core.errors import ConfigError, UnknownNameError
from msvg_bench.core.hashing import canonical_json

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects of one kind, filled with the `register` decorator."""

    def __init__(self, kind: str, base: type | None = None, named: bool = False,
                 check: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self.base = base
        self.named = named
        self.check = check
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._built: dict[str, Any] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator that registers an object under `name` (names are unique); in a registry of named
        entries leave `name` out: the entry's own `name` attribute is its key."""

        def decorator(obj: T) -> T:
            self.add(self._own_name(obj) if name is None else name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        """Register `obj` under `name`; a second registration of a name is an error."""
        if (name in self._items and self._items[name] is not obj) or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._check(name, obj)
        self._items[name] = obj

    def add_lazy(self, name: str, target: str) -> None:
        """Register `"package.module:attribute"` under `name`, imported when the entry is first asked for."""
        if name in self._items or (name in self._lazy and self._lazy[name] != target):
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if ":" not in target:
            raise ValueError(f"{self.kind} {name!r}: lazy target {target!r} is not 'module:attribute'")
        self._lazy[name] = target

    def get(self, name: str) -> T:
        """Return the object registered as `name`, or raise with the closest known names."""
        if name in self._lazy:
            module, _, attribute = self._lazy[name].partition(":")
            obj = getattr(importlib.import_module(module), attribute)
            self._check(name, obj)  # refused entries stay lazy: every lookup repeats the same one-line error
            del self._lazy[name]
            self._items.setdefault(name, obj)
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def entries(self) -> dict[str, T]:
        """Every entry by name, lazy ones imported and checked (the shared registry tests run this)."""
        return {name: self.get(name) for name in self.names()}

    def _own_name(self, obj: Any) -> str:
        declared = getattr(obj, "name", None) if self.named else None
        if not isinstance(declared, str):
            raise ValueError(f"{self.kind} {obj!r}: register(name) needs a name here (only named entries carry their own)")
        return declared

    def _check(self, name: str, obj: Any) -> None:
        declared = getattr(obj, "name", None)
        if self.named and declared != name:
            raise ConfigError(f"{self.kind} {name!r} names itself {declared!r}: register it under its own name "
                              "(or make its name attribute match), so settings and results use one name")
        if self.base is not None:
            fits = issubclass(obj, self.base) if isinstance(obj, type) else isinstance(obj, self.base)
            if not fits:
                raise TypeError(f"{self.kind} {name!r}: {obj!r} is not a {self.base.__name__}")
        if self.check is not None:
            self.check(name, obj)

    def build(self, name: str, **options: Any) -> Any:
        """Call the factory registered as `name` with `options` (None values dropped), once per process.

        Later calls with the same name and options return the same object (models load once).
        """
        factory = self.get(name)
        options = {key: value for key, value in options.items() if value is not None}
        cache_key = f"{name}:{canonical_json(options)}"
        if cache_key not in self._built:
            self._built[cache_key] = factory(**options)  # type: ignore[operator]
        return self._built[cache_key]

    def unknown_message(self, name: str) -> str:
        """The one-line error for an unknown name, with suggestions."""
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names()) or "(none)"
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted({*self._items, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
