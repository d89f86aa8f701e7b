"""The demo: an active-learning campaign on the project's oxidation-potential data set.

``examol demo`` (and ``nox -s demo``) starts from the multi-fidelity data set with the cheap
level (``gfn1-vertical``) known for every molecule and the expensive levels for a small seed
set only. A Colmena thinker then runs three strategies side by side on one task server —
multi-fidelity ensemble + UCB (or EI), single-fidelity ensemble + UCB, and random selection —
training ensembles and scoring the candidate pool on workers, and running real xTB
simulations (through the ``xtb`` simulator plugin) for the molecules each strategy picks.
It writes a Markdown report with plots.

* :mod:`~examol_core.demo.campaign`: data preparation, strategies and the thinker (steering side),
  and the simulation task (worker side).
* :mod:`~examol_core.demo.report`: the Markdown report and its PNG plots (matplotlib, Agg).

The core never imports a plugin: the scorer and the simulator are found by name in the plugin
registry, with a message naming the package to install when one is missing.
"""
from examol_core.demo.campaign import CampaignResult, DemoSettings, run_campaign

__all__ = ['DemoSettings', 'CampaignResult', 'run_campaign', 'run_demo']


def run_demo(settings: DemoSettings, output_dir, console=None) -> tuple[CampaignResult, dict]:
    """Run the campaign and write its report into ``output_dir``.

    Returns:
        The campaign's result and the paths written (``report``, ``results``, plots).
    """
    from examol_core.demo.campaign import check_plugins
    from examol_core.demo.report import check_plotting, write_report

    settings.check()
    check_plugins(settings)
    check_plotting()
    result = run_campaign(settings, console=console)
    return result, write_report(result, output_dir)
