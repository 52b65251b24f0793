"""Extensions loaded by name: `CLIPSTUDY_PLUGINS=pkg.module[,other.module]`.

A plugin is an importable module that registers something at import, e.g. an OOD score
(`@clipstudy.metrics.ood.register_score("name", "logits")`). `chapter.start` and the CLI import the
listed modules, so a book build (whose notebook kernels inherit the environment) scores with them too.
"""
from __future__ import annotations

import importlib

from .errors import ClipstudyError

ENV = "CLIPSTUDY_PLUGINS"


def load() -> list[str]:
    """Import every module named in CLIPSTUDY_PLUGINS (comma-separated); returns their names."""
    from .environment import plugins

    names = plugins()
    for n in names:
        try:
            importlib.import_module(n)
        except ImportError as e:
            raise ClipstudyError(f"{ENV} names the module {n!r}, which cannot be imported ({e}); put it on "
                                 "PYTHONPATH or remove it from the variable") from e
        except ClipstudyError as e:
            raise ClipstudyError(f"{ENV}: importing the plugin {n!r} failed: {e}") from e
        except (Exception, SystemExit) as e:  # noqa: BLE001: a plugin's own bug, named with the variable that loads it
            first = (str(e).splitlines() or [""])[0][:200]
            raise ClipstudyError(f"{ENV}: importing the plugin {n!r} raised {type(e).__name__}: {first}. Fix the "
                                 "plugin, or remove it from the variable") from e
    return names
