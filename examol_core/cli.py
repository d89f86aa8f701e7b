"""The ``examol`` command (also ``python -m examol_core``).

``examol plugins`` lists what is installed; ``examol train`` trains a model on a worker of a
Colmena task server and saves it (:mod:`examol_core.modelfile`); ``examol score`` scores a
SMILES file of any size in chunks across workers; ``examol model-info`` shows a model's manifest;
plugins add commands of their own through the ``examol_register_commands`` hook (the
``examol-demo`` package adds ``examol demo``). Heavy imports (Colmena, Parsl, plugins) happen inside the commands.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help='examol: train and run molecular scorers on remote workers.', no_args_is_help=True,
                  add_completion=False)
console = Console()


@app.callback()
def _root() -> None:
    """examol: train and run molecular scorers on remote workers."""


@app.command()
def plugins(as_json: bool = typer.Option(False, '--json', help='Print machine-readable JSON.')) -> None:
    """List installed scorers and simulators, their models and versions, and plugins that failed to load."""
    from examol_core.plugins import available_scorers, available_simulators, plugin_errors

    scorers, simulators, errors = available_scorers(), available_simulators(), plugin_errors()
    if as_json:
        print(json.dumps({
            'scorers': {n: {'models': sorted(s.models), 'distribution': s.distribution, 'version': s.version,
                            'description': s.description} for n, s in scorers.items()},
            'simulators': {n: {'config_names': list(s.config_names), 'distribution': s.distribution,
                               'version': s.version, 'description': s.description} for n, s in simulators.items()},
            'errors': [e.__dict__ for e in errors]}, indent=2))
        raise typer.Exit(1 if errors else 0)
    table = Table(title='Scorers')
    for column in ('name', 'models', 'package', 'version', 'description'):
        table.add_column(column)
    for name, spec in sorted(scorers.items()):
        table.add_row(name, ', '.join(sorted(spec.models)), spec.distribution, spec.version, spec.description)
    console.print(table if scorers else '[yellow]No scorer plugin is installed[/] (scorers come from plugins registered in the `examol` entry-point group; the README lists them)')
    if simulators:
        table = Table(title='Simulators')
        for column in ('name', 'methods', 'package', 'version', 'description'):
            table.add_column(column)
        for name, spec in sorted(simulators.items()):
            table.add_row(name, ', '.join(spec.config_names), spec.distribution, spec.version, spec.description)
        console.print(table)
    for error in errors:
        console.print(f'[red]{error}[/]')
    if errors:
        raise typer.Exit(1)


class _Abort(ValueError):
    """An error to report in one line, without a traceback."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f'[red]Error:[/] {message}', highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_settings(settings: list[str], default: str, allowed: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--set`` options: ``key=value`` goes to ``default``, ``group.key=value`` to ``group``.

    Values are read as JSON when they parse (``3``, ``0.5``, ``true``, ``[1, 2]``), as strings otherwise.
    """
    out: dict[str, dict[str, Any]] = {group: {} for group in allowed}
    for item in settings:
        key, sep, value = item.partition('=')
        key = key.strip()
        if not sep or not key:
            raise _Abort(f'--set {item!r} is not of the form key=value')
        group, dot, name = key.partition('.')
        if not dot:
            group, name = default, key
        if group not in out:
            raise _Abort(f'--set {item!r}: unknown group {group!r}; use {", ".join(g + ".KEY" for g in allowed)} '
                         f'or a bare KEY (a {default} option)')
        out[group][name] = _parse_value(value)
    return out


def _setup_logging() -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False)
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)
    logging.getLogger('parsl').setLevel(logging.WARNING)


def _server_options(workers: int, parsl_config: Path | None, redis_url: str | None, local: bool) -> dict[str, Any]:
    if workers < 1:
        raise _Abort(f'--workers must be at least 1; got {workers}')
    if parsl_config is not None and local:
        raise _Abort('--parsl-config and --local exclude each other')
    # --local: threads of this process (no second interpreter importing the scorer's libraries again)
    options: dict[str, Any] = {'workers': workers, 'redis_url': redis_url, 'local': local, 'in_process': local}
    if parsl_config is not None:
        from examol_core.colmena import load_parsl_config

        options['parsl_config'] = load_parsl_config(parsl_config)
    return options


_WORKERS = typer.Option(1, '--workers', help='Local worker processes (ignored with --parsl-config).')
_PARSL = typer.Option(None, '--parsl-config', help='Python file defining `config`, a parsl.config.Config '
                      '(e.g. for Slurm or PBS; see examples/parsl_slurm.py). Default: local workers.')
_REDIS = typer.Option(None, '--redis-url', help='Use Redis queues and ProxyStore on this server '
                      '(redis://host:port) for multi-node runs. Default: in-process pipes and a temporary directory.')
_LOCAL = typer.Option(False, '--local', help='Run tasks in threads of this process (a local Colmena task server) '
                      'instead of Parsl workers (no start-up cost; for quick runs).')


@app.command()
def train(
    records: Path = typer.Option(..., '--records', help='Molecule records, JSON lines (.jsonl or .jsonl.gz).'),
    recipe: str = typer.Option(..., '--recipe', help='Property to learn, NAME/LEVEL '
                               '(e.g. oxidation_potential/gfn2-adiabatic).'),
    lower: list[str] = typer.Option([], '--lower', help='A lower fidelity level, NAME/LEVEL; repeat, lowest first, '
                                    'for multi-fidelity (delta) learning.'),
    scorer_name: str = typer.Option(..., '--scorer', help='Scorer plugin (see `examol plugins`).'),
    model_name: str = typer.Option(..., '--model', help='Model of that scorer (e.g. knn).'),
    settings: list[str] = typer.Option([], '--set', help='Option KEY=VALUE for the model factory; '
                                       'scorer.KEY=VALUE for the scorer, train.KEY=VALUE for retrain. Repeat.'),
    output: Path = typer.Option(..., '--output', '-o', help='Model file to write (a zip archive); an existing '
                                'file is replaced once training succeeds (never the --records file).'),
    ensemble: int = typer.Option(1, '--ensemble', help='Train a bootstrap ensemble of N models (scores then '
                                 'get a standard deviation).'),
    seed: int = typer.Option(0, '--seed', help='Seed of the bootstrap samples.'),
    workers: int = _WORKERS,
    parsl_config: Path | None = _PARSL,
    redis_url: str | None = _REDIS,
    local: bool = _LOCAL,
) -> None:
    """Train a model on records, on a worker of a task server, and save it to a model file."""
    from examol_core.colmena import TrainingFailed, train_model_file
    from examol_core.errors import ExamolError

    _setup_logging()
    status = None

    def progress(stage: str, message: str) -> None:
        nonlocal status
        if stage in ('loaded', 'saved'):
            console.print(message, highlight=False, soft_wrap=True)
        elif status is None:
            status = console.status(message)
            status.start()
        else:
            status.update(message)

    try:
        options = parse_settings(settings, 'model', ('model', 'scorer', 'train'))
        train_model_file(records, recipe, output, scorer_name=scorer_name, model_name=model_name, lower=lower,
                         model_options=options['model'], scorer_options=options['scorer'],
                         train_options=options['train'], ensemble=ensemble, seed=seed, progress=progress,
                         **_server_options(workers, parsl_config, redis_url, local))
    except TrainingFailed as exc:
        for failure in exc.failures:
            console.print(f'[red]Training task {failure.index} failed:[/] {failure.summary}', highlight=False,
                          soft_wrap=True)
            if failure.traceback:
                console.print(failure.traceback, highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except _Abort as exc:
        raise _fail(str(exc)) from None
    except (ExamolError, ValueError, TypeError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if status is not None:
            status.stop()


@app.command()
def score(
    model: Path = typer.Option(..., '--model', help='Model file written by `examol train`.'),
    smiles: Path = typer.Option(..., '--smiles', help='Molecules to score: one SMILES per line (the first field, '
                                'before a space or a comma; blank lines and # comments are skipped).'),
    output: Path = typer.Option(..., '--output', '-o', help='CSV to write: line,smiles,score[,std] in input order. '
                                'An existing file is replaced when the run ends (never the --smiles or --model file).'),
    rejects: Path | None = typer.Option(None, '--rejects', help='CSV of molecules that could not be scored '
                                        '(line,smiles,reason). Default: OUTPUT with suffix .rejects.csv.'),
    chunk_size: int = typer.Option(1000, '--chunk-size', help='Molecules per task.'),
    settings: list[str] = typer.Option([], '--set', help='Option KEY=VALUE passed to the scorer\'s score. Repeat.'),
    retries: int = typer.Option(1, '--retries', help='Times a failed chunk is resubmitted before giving up.'),
    resume: bool = typer.Option(False, '--resume', help='Continue the interrupted run of this output (same model, '
                                'SMILES file and options; the task server may differ) without rescoring what it '
                                'finished.'),
    workers: int = _WORKERS,
    parsl_config: Path | None = _PARSL,
    redis_url: str | None = _REDIS,
    local: bool = _LOCAL,
) -> None:
    """Score a SMILES file with a saved model, in chunks across workers; write the scores in input order.

    Molecules that cannot be parsed or featurised go to the rejects file with their line number
    and the reason. If a chunk still fails after --retries, its molecules go there too (with the
    error) and the command exits with status 1. Progress is recorded beside the output after each
    chunk: an interrupted run (Ctrl-C, killed, out of walltime) continues with the same command
    plus --resume, and ends with the files an uninterrupted run would have written.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from examol_core.colmena import score_smiles_file
    from examol_core.errors import ExamolError

    _setup_logging()
    columns = (TextColumn('[progress.description]{task.description}'), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    try:
        options = parse_settings(settings, 'score', ('score',))
        server_options = _server_options(workers, parsl_config, redis_url, local)
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task('Starting the task server', total=None)
            summary = score_smiles_file(
                model, smiles, output, rejects=rejects, chunk_size=chunk_size, retries=retries,
                score_options=options['score'], on_start=lambda: bar.update(task, description='Scoring'),
                progress=lambda p: bar.update(task, completed=p.done, total=p.total), resume=resume,
                **server_options)
    except KeyboardInterrupt:
        from examol_core.colmena.resume import progress_path

        kept = progress_path(output).is_file()
        console.print('[red]Interrupted.[/] ' + ('The finished chunks are kept: run the same command with --resume '
                                                  'to continue.' if kept else 'Nothing was finished.'),
                      highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except _Abort as exc:
        raise _fail(str(exc)) from None
    except (ExamolError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    console.print(f'Scored {summary.scored} molecules into {summary.output}; {summary.rejected} rejected '
                  f'(unparsable or unusable) and {summary.failed} in failed chunks, listed in {summary.rejects}',
                  highlight=False, soft_wrap=True)
    for chunk in summary.failed_chunks:
        console.print(f'[red]Chunk {chunk.index} (lines {chunk.first_line}-{chunk.last_line} of {smiles}) failed:[/] '
                      f'{chunk.failure.summary}', highlight=False, soft_wrap=True)
    if summary.stopped:
        console.print(f'[red]Scoring {summary.stopped}.[/]', highlight=False, soft_wrap=True)
    if not summary.ok:
        raise typer.Exit(1)


def _plain_row(table: Table, name: str, value: str) -> None:
    """A table row whose value is shown as is: text from a model file is never read as Rich markup."""
    from rich.text import Text

    table.add_row(name, Text(value))


@app.command('model-info')
def model_info(model: Path = typer.Argument(..., help='Model file written by `examol train`.'),
               as_json: bool = typer.Option(False, '--json', help='Print the manifest as JSON.')) -> None:
    """Show what a model file holds (its manifest), without loading the model."""
    from examol_core.errors import ExamolError
    from examol_core.modelfile import read_manifest

    try:
        manifest = read_manifest(model)
    except (ExamolError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(manifest.model_dump_json(indent=2))
        return
    table = Table(title=str(model), show_header=False)
    _plain_row(table, 'scorer', f'{manifest.scorer.name} {manifest.scorer.options or ""}')
    _plain_row(table, 'plugin', f'{manifest.plugin.distribution} {manifest.plugin.version}')
    _plain_row(table, 'model', f'{manifest.model.name} {manifest.model.options or ""}')
    _plain_row(table, 'recipe', str(manifest.recipe))
    _plain_row(table, 'lower recipes', ', '.join(manifest.lower_recipes) or '-')
    _plain_row(table, 'ensemble', f'{manifest.ensemble.size} member(s)' + (', bootstrap' if manifest.ensemble.bootstrap
                                                                       else ''))
    _plain_row(table, 'created', f'{manifest.created} by examol-core {manifest.examol_core_version} '
                  f'(format {manifest.format} v{manifest.format_version})')
    _plain_row(table, 'training', json.dumps(manifest.training))
    console.print(table)


PLUGIN_COMMANDS = {'demo': 'examol-demo (pip install examol-demo; from a source checkout: '
                          'pip install ./plugins/demo_campaign)'}
"""Commands that plugins add, and the package that provides each: used only to say what to install
when the command is missing (the command itself comes from the plugin, see :func:`add_plugin_commands`)."""


def _command_name(info: Any) -> str:
    return info.name or info.callback.__name__.replace('_', '-')


def _missing_command(name: str, package: str) -> Any:
    def missing(ctx: typer.Context) -> None:
        raise _fail(f'`examol {name}` comes from a plugin that is not installed: install {package}.')

    missing.__name__ = name.replace('-', '_')
    missing.__doc__ = f'Not installed: install {package}.'
    return missing


def add_plugin_commands(app: typer.Typer) -> None:
    """Add the commands of installed plugins (hook ``examol_register_commands``) to ``app``.

    A known plugin command that no installed plugin provides still answers, with the package to
    install and exit status 2, whatever options it is given.
    """
    from examol_core.plugins import register_commands

    register_commands(app)
    present = {_command_name(c) for c in app.registered_commands}
    for name, package in PLUGIN_COMMANDS.items():
        if name not in present:
            app.command(name, context_settings={'allow_extra_args': True, 'ignore_unknown_options': True,
                                                'help_option_names': []})(_missing_command(name, package))


add_plugin_commands(app)


def main() -> None:
    """Entry point of the ``examol`` script."""
    app()
