"""Named registries (metrics, encoders, suites, methods) with did-you-mean errors."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from msvg_bench.errors import UnknownNameError
from msvg_bench.hashing import canonical_json

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects of one kind, filled with the `register` decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._built: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an object under `name` (names are unique)."""

        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        """Register `obj` under `name`; a second registration of a name is an error."""
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """Return the object registered as `name`, or raise with the closest known names."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

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
        close = difflib.get_close_matches(name, list(self._items), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._items)) or "(none)"
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
