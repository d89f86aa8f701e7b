"""A complete small Colmena thinker built on examol's helpers (see docs/colmena.md).

It trains a bootstrap ensemble of RDKit KNN models on the shipped oxidation potentials, scores a
search space in chunks across workers (resubmitting a failed chunk once), and prints the best
candidates with the ensemble's spread::

    python examples/colmena_thinker.py                 # Parsl, 2 local workers
    python examples/colmena_thinker.py --local         # threads, no Parsl start-up
    python examples/colmena_thinker.py --parsl-config examples/parsl_slurm.py --redis-url redis://head:6379
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from colmena.thinker import BaseThinker, agent, result_processor

import examol_core
from examol_core.colmena import ScorerClient, make_methods, start_task_server
from examol_core.plugins import load_scorer, make_model
from examol_core.recipes import PropertyRecipe
from examol_core.records import read_records

DATA = Path(examol_core.__file__).parent / 'data'


class ScreeningThinker(BaseThinker):
    """Train an ensemble, then score every candidate: one agent, top to bottom; result processors route."""

    def __init__(self, queues, client: ScorerClient, models: list, train_inputs, train_outputs, candidates,
                 chunk_size: int = 250, retries: int = 1):
        super().__init__(queues)
        self.client, self.models, self.candidates = client, models, candidates
        self.train_inputs, self.train_outputs = train_inputs, train_outputs
        self.chunk_size, self.retries = chunk_size, retries
        self.scores = None  # examol_core.colmena.Scores once inference is complete

    @result_processor(topic='train')
    def route_training(self, result):
        self.client.add_result(result)  # to the job that sent the task

    @result_processor(topic='score')
    def route_scores(self, result):
        self.client.add_result(result)

    @agent  # the thinker stops when this agent returns
    def screen(self):
        training = self.client.submit_retrain(self.models, self.train_inputs, self.train_outputs)  # one task per member
        if not training.wait():
            self.logger.warning('Training failed: %s', '; '.join(map(str, training.failures.values())))
            return
        self.models = training.update(self.models)  # scorer.update for each member, in order
        scoring = self.client.submit_score(self.models, self.candidates, chunk_size=self.chunk_size,
                                           retries=self.retries)  # a failed chunk is resubmitted automatically
        scoring.wait()
        # Chunks that failed every attempt come back as NaN and are flagged, never shifted
        self.scores = scoring.collect(allow_missing=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--records', type=Path, default=DATA / 'redoxmers-oxidation.jsonl.gz')
    parser.add_argument('--smiles', type=Path, default=DATA / 'search-space.smi')
    parser.add_argument('--recipe', default='oxidation_potential/gfn2-adiabatic')
    parser.add_argument('--ensemble', type=int, default=4)
    parser.add_argument('--chunk-size', type=int, default=250)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--parsl-config', type=Path, help='File defining `config`, a parsl.config.Config')
    parser.add_argument('--redis-url', help='Redis queues and ProxyStore, e.g. redis://127.0.0.1:6379')
    parser.add_argument('--local', action='store_true', help='Colmena LocalTaskServer instead of Parsl')
    parser.add_argument('--top', type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    # Steering side: data, scorer, models
    recipe = PropertyRecipe.from_spec(args.recipe)
    scorer = load_scorer('rdkit')
    records = [r for r in read_records(args.records) if recipe.lookup(r) is not None]
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, recipe)
    candidates = [line.split()[0] for line in args.smiles.read_text().splitlines() if line.strip()]
    models = [make_model('rdkit', 'knn', n_neighbors=4) for _ in range(args.ensemble)]

    # Task server: the scorer's methods, on local workers or the cluster of --parsl-config
    methods = make_methods(scorer, 'rdkit')
    with start_task_server(methods, workers=args.workers, parsl_config=args.parsl_config,
                           redis_url=args.redis_url, local=args.local) as server:
        client = ScorerClient(server.queues, scorer, methods, routed=True)  # results come through add_result
        thinker = ScreeningThinker(server.queues, client, models, inputs, outputs, candidates,
                                   chunk_size=args.chunk_size)
        thinker.start()
        thinker.join()
    if thinker.scores is None:
        raise SystemExit('The campaign did not finish: see the warnings above')

    scores = thinker.scores
    print(f'Trained {args.ensemble} models on {len(records)} records; scored {len(candidates)} candidates '
          f'({int(scores.missing.sum())} missing)')
    for i in np.argsort(-np.nan_to_num(scores.mean, nan=-np.inf))[:args.top]:
        print(f'{candidates[i]:30s} {scores.mean[i]:7.3f} ± {scores.std[i]:.3f}')


if __name__ == '__main__':
    main()
