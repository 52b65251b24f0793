"""Prompt templates and class-name sets (the test-time prompt factor)."""
from __future__ import annotations

from typing import Callable, Sequence

from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

from .registry import Registry

Template = Callable[[str], str] | str  # a function of the class name, or a string with `{}` for it

TEMPLATES: Registry[Sequence[Template]] = Registry("prompt set")
TEMPLATES.register("single", (lambda c: f"a photo of a {c}.",))
TEMPLATES.register("openai80", tuple(OPENAI_IMAGENET_TEMPLATES))
TEMPLATES.register("simple7", tuple(SIMPLE_IMAGENET_TEMPLATES))


def templates(name: str) -> list[Template]:
    """`single` (one template) or `openai80` (OpenAI's 80-template ensemble), among others."""
    return list(TEMPLATES.get(name))


def register_templates(name: str, items: Sequence[str | Template]) -> None:
    """Add (or replace) a template set; plain strings use `{}` for the class name."""
    TEMPLATES.register(name, tuple(t if callable(t) else (lambda c, t=t: t.format(c)) for t in items), replace=True)


# The lab's prompt sets are part of the vocabulary from the start (never dependent on what was imported first);
# their templates (`{}` strings) are the lab's captions', read on first use, so this module imports no lab code.
TEMPLATES.register_lazy("lab-single", "clipstudy.lab.captions:SINGLE_TEMPLATE")
TEMPLATES.register_lazy("lab-ensemble", "clipstudy.lab.captions:ZS_TEMPLATES")


def imagenet_classnames() -> list[str]:
    return list(IMAGENET_CLASSNAMES)
