"""Hook specifications: what a plugin can contribute to examol.

A plugin is a module named by an entry point in the ``examol`` group that defines functions
marked with :data:`examol_core.plugins.hookimpl` and named after these specifications.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from examol_core.plugins import ScorerSpec, SimulatorSpec

hookspec = pluggy.HookspecMarker('examol')


@hookspec
def examol_scorers() -> list['ScorerSpec']:
    """Called once when plugins are loaded: return the scorers this plugin provides.

    Each :class:`~examol_core.plugins.ScorerSpec` names a scorer class and the model factories
    that go with it. Keep heavy imports (TensorFlow, scikit-learn) out of the module that
    holds this hook: the spec may point at classes lazily through ``"module:attribute"`` strings.
    """


@hookspec
def examol_simulators() -> list['SimulatorSpec']:
    """Called once when plugins are loaded: return the simulators this plugin provides."""


@hookspec
def examol_register_commands(app: 'typer.Typer') -> None:
    """Called once when the ``examol`` command line is built: add this plugin's commands to ``app``.

    ``app`` is the core's :class:`typer.Typer`; register commands with ``@app.command()``, as
    datasette's ``register_commands(cli)`` does. Import heavy dependencies inside the command
    functions, not in the module holding this hook, so that ``examol --help`` stays fast. The
    return value is ignored (return ``None``). A hook that raises is reported by ``examol plugins``
    and does not stop the other commands from working.
    """
