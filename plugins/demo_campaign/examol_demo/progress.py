"""The progress display of ``examol demo``: one bar per strategy, one for simulations, task counts (rich)."""
from __future__ import annotations

from typing import Any

from examol_demo.settings import DemoSettings, acquisition_label

__all__ = ['ProgressDisplay']


class ProgressDisplay:
    """A rich progress display: one bar per strategy (rounds, best found), one for simulations, task counts.

    Use it as a context manager; give :meth:`event` to the thinker as its ``progress`` callback.
    """

    def __init__(self, console: Any, settings: DemoSettings):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.settings = settings
        self.progress = Progress(TextColumn('{task.description:<34}'), BarColumn(bar_width=24), MofNCompleteColumn(),
                                 TextColumn('{task.fields[status]}'), TimeElapsedColumn(), console=console,
                                 transient=False, refresh_per_second=4)
        acq = acquisition_label(settings)
        self.bars = {
            'multi': self.progress.add_task(f'multi-fidelity {acq}', total=settings.rounds, status=''),
            'single': self.progress.add_task(f'single-fidelity {acq}', total=settings.rounds, status=''),
            'random': self.progress.add_task('random', total=settings.rounds, status=''),
        }
        self.sims = self.progress.add_task('xTB simulations (unique molecules)', total=0, status='')
        self.tasks = self.progress.add_task('tasks done', total=None, status='')
        self.counts = {'train': 0, 'score': 0, 'simulate': 0}
        self.best: dict[str, float] = {}
        self.mae: dict[str, float] = {}

    def __enter__(self) -> ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def status(self, text: str) -> None:
        """Show what the campaign is doing (starting the task server, running, stopping)."""
        self.progress.update(self.tasks, status=text)

    def _strategy_status(self, key: str) -> str:
        parts = []
        if key in self.best:
            parts.append(f'best {self.best[key]:.3f} eV')
        if key in self.mae:
            parts.append(f'MAE {self.mae[key]:.3f} eV')
        return ', '.join(parts)

    def event(self, kind: str, details: dict[str, Any]) -> None:
        """Show a campaign event: ``round``, ``mae``, ``finished``, ``simulations`` or ``task``."""
        if kind == 'round':
            key = details['strategy']
            self.best[key] = details['best']
            self.progress.update(self.bars[key], completed=details['round'], status=self._strategy_status(key))
        elif kind == 'mae':
            key = details['strategy']
            self.mae[key] = details['mae']
            self.progress.update(self.bars[key], status=self._strategy_status(key))
        elif kind == 'finished':
            self.progress.update(self.bars[details['strategy']], status=self._strategy_status(details['strategy'])
                                 + ' [green]done[/]')
        elif kind == 'simulations':
            self.progress.update(self.sims, total=details['submitted'])
        elif kind == 'task':
            self.counts[details['topic']] = self.counts.get(details['topic'], 0) + 1
            if details['topic'] == 'simulate':
                self.progress.advance(self.sims)
            self.progress.update(self.tasks, advance=1, status=f'train {self.counts["train"]}, score '
                                 f'{self.counts["score"]}, simulate {self.counts["simulate"]}')
