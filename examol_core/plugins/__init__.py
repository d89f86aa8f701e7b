"""The plugin registry: find scorers and simulators installed through the ``examol`` entry points.

Built-in plugins register exactly as a third party would; nothing in the core knows their names.
Set ``EXAMOL_DISABLE_PLUGINS`` to a comma-separated list of entry-point names to skip them.
"""
from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from examol_core.errors import UnknownPluginError
from examol_core.plugins import hookspecs

GROUP = 'examol'
hookimpl = pluggy.HookimplMarker(GROUP)
"""Marker for hook implementations in plugin modules."""

__all__ = ['hookimpl', 'ScorerSpec', 'SimulatorSpec', 'PluginError', 'available_scorers', 'available_simulators',
           'load_scorer', 'make_model', 'load_simulator', 'plugin_errors', 'load_errors_note', 'get_plugin_manager',
           'reset_plugins', 'register_commands']


def _resolve(target: Any) -> Any:
    """Import ``"module:attribute"`` strings; return anything else unchanged."""
    if isinstance(target, str):
        module, _, attr = target.partition(':')
        obj = importlib.import_module(module)
        for part in attr.split('.') if attr else []:
            obj = getattr(obj, part)
        return obj
    return target


@dataclass(frozen=True)
class ScorerSpec:
    """A scorer a plugin provides.

    Attributes:
        name: Name users give to :func:`load_scorer` (e.g. ``rdkit``).
        scorer: The scorer class, or ``"module:Class"`` to import it only when used.
        models: Model name → factory (or ``"module:function"``) building a fresh model.
        description: One line shown by ``examol plugins``.
        distribution: Filled in by the registry: the package that provides it and its version.
    """

    name: str
    scorer: type | str
    models: Mapping[str, Callable[..., Any] | str] = field(default_factory=dict)
    description: str = ''
    distribution: str = ''
    version: str = ''

    def load_class(self) -> type:
        return _resolve(self.scorer)

    def load_model_factory(self, model_name: str) -> Callable[..., Any]:
        if model_name not in self.models:
            raise UnknownPluginError(f'Scorer {self.name!r} has no model {model_name!r}; '
                                     f'it provides: {", ".join(sorted(self.models)) or "none"}')
        return _resolve(self.models[model_name])


@dataclass(frozen=True)
class SimulatorSpec:
    """A simulator a plugin provides (``simulator`` may be ``"module:Class"``)."""

    name: str
    simulator: type | str
    config_names: tuple[str, ...] = ()
    description: str = ''
    distribution: str = ''
    version: str = ''

    def load_class(self) -> type:
        return _resolve(self.simulator)


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not be loaded, and why."""

    entry_point: str
    distribution: str
    version: str
    error: str

    def __str__(self) -> str:
        return (f'Failed to load plugin {self.entry_point!r} from {self.distribution} {self.version}: {self.error}. '
                'Check that the package is compatible with this examol-core.')


class _Registry:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.errors: list[PluginError] = []
        self.sources: dict[str, tuple[str, str]] = {}
        disabled = {x.strip() for x in os.environ.get('EXAMOL_DISABLE_PLUGINS', '').split(',') if x.strip()}
        for ep in metadata.entry_points(group=GROUP):
            if ep.name in disabled or self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist.name if ep.dist else '?'
            version = ep.dist.version if ep.dist else '?'
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
                self.pm.check_pending()
            except Exception as exc:  # a broken plugin must not hide the others
                if self.pm.has_plugin(ep.name):
                    self.pm.unregister(name=ep.name)
                self.errors.append(PluginError(ep.name, dist, version, f'{type(exc).__name__}: {exc}'))
                continue
            self.sources[ep.name] = (dist, version)

    def _collect(self, hook_name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or '?'
            dist, version = self.sources.get(plugin_name, (plugin_name, ''))
            try:
                specs = impl.function()
            except Exception as exc:
                self.errors.append(PluginError(plugin_name, dist, version, f'{hook_name} raised {type(exc).__name__}: {exc}'))
                continue
            for spec in specs or []:
                out[spec.name] = type(spec)(**{**spec.__dict__, 'distribution': spec.distribution or dist,
                                               'version': spec.version or version})
        return out

    def register_commands(self, app: Any) -> list[str]:
        names = []
        for impl in self.pm.hook.examol_register_commands.get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or '?'
            dist, version = self.sources.get(plugin_name, (plugin_name, ''))
            try:
                impl.function(app=app)
            except Exception as exc:
                self.errors.append(PluginError(plugin_name, dist, version,
                                               f'examol_register_commands raised {type(exc).__name__}: {exc}'))
                continue
            names.append(plugin_name)
        return names


_lock = threading.Lock()
_registry: _Registry | None = None


def _get() -> _Registry:
    global _registry
    with _lock:
        if _registry is None:
            _registry = _Registry()
        return _registry


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager, with every installed plugin loaded (tests may register more)."""
    return _get().pm


def reset_plugins() -> None:
    """Forget loaded plugins so the next call rediscovers entry points (after an install)."""
    global _registry
    with _lock:
        _registry = None


def plugin_errors() -> list[PluginError]:
    """Plugins that failed to load, with their errors."""
    registry = _get()
    registry._collect('examol_scorers')
    registry._collect('examol_simulators')
    return list(dict.fromkeys(registry.errors))


def register_commands(app: Any) -> list[str]:
    """Let every installed plugin add its commands to the ``examol`` command line (``app``, a ``typer.Typer``).

    Each plugin's hook runs on its own: one that raises is recorded in :func:`plugin_errors`
    and the others still register.

    Returns:
        Names of the plugins whose hook ran without error.
    """
    return _get().register_commands(app)


def available_scorers() -> dict[str, ScorerSpec]:
    """Every installed scorer, by name."""
    return _get()._collect('examol_scorers')


def available_simulators() -> dict[str, SimulatorSpec]:
    """Every installed simulator, by name."""
    return _get()._collect('examol_simulators')


def load_errors_note() -> str:
    """``' Plugins that failed to load: ...'`` to append to a "not installed" message, or ``''``.

    A plugin that is missing may be installed but broken: every such message says so the same way.
    """
    errors = [str(e) for e in plugin_errors()]
    return ' Plugins that failed to load: ' + '; '.join(errors) if errors else ''


def _unknown(kind: str, name: str, known: Mapping[str, Any]) -> UnknownPluginError:
    return UnknownPluginError(f'No {kind} named {name!r} is installed; available: {", ".join(sorted(known)) or "none"}.'
                              + load_errors_note())


def get_scorer_spec(name: str) -> ScorerSpec:
    """The spec of one installed scorer, or an error listing what is installed."""
    scorers = available_scorers()
    if name not in scorers:
        raise _unknown('scorer', name, scorers)
    return scorers[name]


def load_scorer(name: str, **options: Any) -> Any:
    """Build the scorer called ``name`` with ``options`` passed to its constructor."""
    return get_scorer_spec(name).load_class()(**options)


def make_model(scorer_name: str, model_name: str, **options: Any) -> Any:
    """Build a fresh model ``model_name`` of scorer ``scorer_name`` with ``options``."""
    return get_scorer_spec(scorer_name).load_model_factory(model_name)(**options)


def load_simulator(name: str, **options: Any) -> Any:
    """Build the simulator called ``name`` with ``options`` passed to its constructor."""
    simulators = available_simulators()
    if name not in simulators:
        raise _unknown('simulator', name, simulators)
    return simulators[name].load_class()(**options)
