"""One registry type for every vocabulary of names (OOD scores, recipes, prompt sets, datasets, ...).

    >>> SCORES = Registry("OOD score")
    >>> @SCORES.register("msp")
    ... def msp(z): ...
    >>> SCORES.register("energy", energy_fn)
    >>> SCORES.register_lazy("mahalanobis", "my_pkg.scores:mahalanobis")   # imported on first get
    >>> SCORES.get("mps")          # UnknownNameError: unknown OOD score 'mps'. Did you mean: msp?

Names keep their registration order. A repeated name raises unless `replace=True` (item assignment,
`reg[name] = obj`, replaces, as a dict does). A lazy entry is a `"module.path:attr"` string or a callable
of no arguments, resolved once, on the first `get` (or `values()` / `items()`). A registry may have a
`loader`: a callable run once, before the first lookup or listing (e.g. one that imports every module of
a package and the plugins of CLIPSTUDY_PLUGINS, whose imports register into it); `load()` runs it ahead.

A Registry reads like a dict (`name in reg`, `reg[name]`, `list(reg)`, `len(reg)`, `dict(reg)`,
`reg.get(name, default)`), so code written against the old dicts keeps working. This module imports only
`clipstudy.errors` and the standard library.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")
_MISSING: Any = object()


class _Lazy:
    """A registered entry not yet built: a `module:attr` path or a callable of no arguments."""

    __slots__ = ("target",)

    def __init__(self, target: str | Callable[[], Any]) -> None:
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"a lazy entry is 'module.path:attr' or a callable, got {target!r}")
        self.target = target

    def resolve(self) -> Any:
        if callable(self.target):
            return self.target()
        module, _, attr = self.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    def __repr__(self) -> str:
        return f"<lazy {self.target!r}>"


class Registry(Generic[T]):
    """Named objects of one kind, in registration order; `kind` is the word errors use ("OOD score")."""

    def __init__(self, kind: str, *, loader: Callable[[], Any] | None = None, hint: str = "") -> None:
        self.kind, self.hint = kind, hint
        self._loader = loader
        self._loaded = loader is None
        self._entries: dict[str, Any] = {}

    # ------------------------------------------------------------------ registering
    def register(self, name: str, obj: Any = _MISSING, *, replace: bool = False) -> Any:
        """Register `obj` as `name` and return it; without `obj`, a decorator that registers what it wraps."""
        if obj is _MISSING:
            def wrap(o: T) -> T:
                self.register(name, o, replace=replace)
                return o
            return wrap
        if not replace and name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True to replace it)")
        self._entries[name] = obj
        return obj

    def register_lazy(self, name: str, target: str | Callable[[], T], *, replace: bool = False) -> None:
        """Register `name` as `"module.path:attr"` (or a callable of no arguments), resolved on first `get`."""
        self.register(name, _Lazy(target), replace=replace)

    def unregister(self, name: str) -> None:
        """Remove `name` (unknown names raise UnknownNameError)."""
        if name not in self:
            self._unknown(name)
        del self._entries[name]

    # ------------------------------------------------------------------ the loader
    def load(self) -> None:
        """Run the loader if it has not run yet (lookups and listings call this first). Registrations the loader
        makes come before any made earlier only if it runs first; a loader that raises runs again next time."""
        if not self._loaded:
            self._loaded = True  # first: the loader's own imports register into (and may look up) this registry
            try:
                self._loader()  # type: ignore[misc]
            except BaseException:
                self._loaded = False
                raise

    @property
    def loaded(self) -> bool:
        return self._loaded

    # ------------------------------------------------------------------ looking up
    def _unknown(self, name: str) -> None:
        raise UnknownNameError(self.kind, name, list(self._entries), hint=self.hint)

    def get(self, name: str, default: Any = _MISSING) -> T:
        """The object registered as `name` (a lazy one is resolved, once); an unknown name raises
        UnknownNameError with close names, or returns `default` when one is given (as dict.get)."""
        self.load()
        if name not in self._entries:
            if default is not _MISSING:
                return default
            self._unknown(name)
        obj = self._entries[name]
        if isinstance(obj, _Lazy):
            obj = self._entries[name] = obj.resolve()
        return obj

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        self.load()
        return list(self._entries)

    def registered(self) -> list[T]:
        """The entries registered so far, as stored (lazy ones unresolved), without running the loader (for a
        check made while the loader's own imports are still registering)."""
        return list(self._entries.values())

    def keys(self) -> list[str]:
        return self.names()

    def values(self) -> list[T]:
        return [self.get(n) for n in self.names()]

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} names)"

    # ------------------------------------------------------------------ dict-like writes
    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj, replace=True)

    def __delitem__(self, name: str) -> None:
        self.unregister(name)

    def pop(self, name: str, default: Any = _MISSING) -> T:
        """Remove `name` and return its object (or `default` when it is not registered)."""
        if name not in self and default is not _MISSING:
            return default
        obj = self.get(name)
        del self._entries[name]
        return obj

    def update(self, other: Mapping[str, T] | Iterable[tuple[str, T]] = (), *, replace: bool = True) -> None:
        """Register several (`replace` as in `register`; True by default, as dict.update)."""
        for name, obj in (other.items() if isinstance(other, Mapping) or hasattr(other, "items") else other):
            self.register(name, obj, replace=replace)

    def clear(self) -> None:
        """Remove every entry (the loader does not run again)."""
        self.load()
        self._entries.clear()


def import_modules(package: str, *, skip: Iterable[str] = (), then: Callable[[], Any] | None = None
                   ) -> Callable[[], list[str]]:
    """A loader that imports every module of `package` (in name order, `skip` left out), then calls `then`
    (e.g. `clipstudy.plugins.load`, which imports the modules of CLIPSTUDY_PLUGINS); it returns their names.
    For a registry whose entries register themselves at import, as the axes do:
    `Registry("axis", loader=import_modules("clipstudy.axes", skip=["core"], then=plugins.load))`."""
    def load() -> list[str]:
        import pkgutil

        pkg = importlib.import_module(package)
        names = [f"{package}.{m.name}" for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name)
                 if m.name not in set(skip)]
        for n in names:
            importlib.import_module(n)
        if then is not None:
            then()
        return names
    return load


__all__ = ["Registry", "import_modules"]
