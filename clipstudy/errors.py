"""Errors that say what was expected, where, and how to get it."""
from __future__ import annotations


class ClipstudyError(Exception):
    """Base class: every error clipstudy raises on purpose."""


class MissingDataError(ClipstudyError, FileNotFoundError):
    """A dataset or record folder is absent or has the wrong layout."""

    def __init__(self, what: str, where: object, layout: str = "", fetch: str | None = None):
        msg = f"{what} not found at {where}."
        if layout:
            msg += f"\nExpected layout:\n{layout}"
        if fetch:
            msg += f"\nGet it with: {fetch}"
        super().__init__(msg)
        self.what, self.where, self.layout, self.fetch = what, where, layout, fetch


class UnknownNameError(ClipstudyError, KeyError):
    """An unknown model, recipe, dataset or factor name; lists close or valid choices."""

    def __init__(self, kind: str, name: str, choices: list[str] | tuple[str, ...] = (), hint: str = ""):
        import difflib

        # compared without case (`vit-b-32/openai` finds `ViT-B-32/openai`), each choice once
        by_lower: dict[str, list[str]] = {}
        for c in dict.fromkeys(choices):
            by_lower.setdefault(str(c).lower(), []).append(c)
        matches = difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.5)
        close = [c for m in matches for c in by_lower[m]][:5]
        msg = f"unknown {kind} {name!r}."
        if close:
            msg += f" Did you mean: {', '.join(close)}?"
        elif choices and len(choices) <= 40:
            msg += f" Valid: {', '.join(sorted(set(choices)))}."
        if hint:
            msg += f" {hint}"
        super().__init__(msg)
        self.kind, self.name, self.close = kind, name, close

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class CheckpointError(ClipstudyError):
    """A checkpoint file could not be read or does not match its model."""


class ChecksumError(ClipstudyError):
    """A downloaded file does not match its recorded SHA-256."""


class FetchError(ClipstudyError):
    """A download failed (offline, HTTP error, truncated)."""


class SchemaError(ClipstudyError, ValueError):
    """A table has a missing or renamed column, or a malformed row."""
