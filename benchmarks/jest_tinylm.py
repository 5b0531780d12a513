"""JEST on a tiny language model (torch, CPU): train the same byte-level LM with uniform batches
and with JEST learnability selection, and compare held-out loss against steps and against compute.

    python benchmarks/jest_tinylm.py [--steps 400] [--super-batch 160] [--batch 32]

Data is the demo's real text (Debian packages, scripts/fetch-demo-data). The higher-quality subset
is documentation (the Linux and Python docs): 40% of it trains the reference model, 40% joins the
training pool with as much other text (fortunes, FOLDOC, Metamath, Python source, sqlite.org),
and 20% is the held-out set. Reference losses on the pool are computed once and cached, as the
`reference_loss` scorer does. Compute counts 6 x parameters per trained token and 2 x parameters
per scored token (the learner scores every super-batch); the reference's one-off cost is listed
apart. Target (issue 6): JEST reaches uniform's final held-out loss in at most half the steps.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from curation import trainer
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.mixture.jest import JestSelector

EVERY = 25


def load_texts(per_source: int) -> tuple[list[str], list[str]]:
    root = DEFAULT_DATA_DIR / "root"

    def take(texts, count):
        return [t[:4000] for _, t, *_ in itertools.islice(texts, count) if len(t) > 300]

    documentation = take(sources.linux_docs(root), 2 * per_source) + take(sources.python_docs(root), per_source)
    other = (take(sources.fortunes(root), 4 * per_source) + take(sources.foldoc(root), per_source)
             + take(sources.metamath(root), per_source) + take(sources.python_stdlib(), per_source)
             + take(sources.sqlite_site(root), per_source))
    return documentation, other


def run(name: str, pool: list[str], held_out: list[str], reference: np.ndarray | None, args, selector) -> dict:
    model, optimizer = trainer.new_model(seed=0)
    rng = np.random.default_rng(1)
    curve, started = [], time.time()
    for step in range(1, args.steps + 1):
        if selector is None:
            chosen = rng.integers(0, len(pool), args.batch)
        else:
            candidates = rng.choice(len(pool), args.super_batch, replace=False)
            learner = trainer.sequence_losses(model, [pool[i] for i in candidates])
            chosen = candidates[selector.select(learner, reference[candidates])]
        trainer.train_step(model, optimizer, [pool[i] for i in chosen], rng)
        if step % EVERY == 0:
            curve.append((step, float(trainer.sequence_losses(model, held_out).mean())))
    scored = 0 if selector is None else args.super_batch
    flops_per_step = model.flops_per_token() * model.context * (3 * args.batch + scored)
    return {"name": name, "curve": curve, "seconds": time.time() - started, "flops_per_step": flops_per_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--reference-steps", type=int, default=400)
    parser.add_argument("--super-batch", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--per-source", type=int, default=600)
    args = parser.parse_args()
    torch.set_num_threads(2)
    documentation, other = load_texts(args.per_source)
    order = np.random.default_rng(0).permutation(len(documentation))
    cut1, cut2 = int(0.4 * len(order)), int(0.8 * len(order))
    reference_texts = [documentation[i] for i in order[:cut1]]
    pool = [documentation[i] for i in order[cut1:cut2]] + other
    held_out = [documentation[i] for i in order[cut2:]][:300]
    started = time.time()
    reference_model = trainer.train_lm(reference_texts, steps=args.reference_steps, batch_size=args.batch, seed=2)
    reference = trainer.sequence_losses(reference_model, pool)
    reference_seconds = time.time() - started
    filter_ratio = 1 - args.batch / args.super_batch
    runs = [run("uniform", pool, held_out, None, args, None),
            run("JEST learnability, sampled (T=1)", pool, held_out, reference, args,
                JestSelector(filter_ratio=filter_ratio, mode="sample", temperature=1.0, seed=0)),
            run("JEST learnability, top-k", pool, held_out, reference, args,
                JestSelector(filter_ratio=filter_ratio, mode="topk", seed=0))]
    uniform_final = runs[0]["curve"][-1][1]
    print(f"\npool {len(pool):,} texts ({len(pool) - len(other):,} documentation), held out {len(held_out)}, "
          f"reference trained on {len(reference_texts):,} for {args.reference_steps} steps ({reference_seconds:.0f} s "
          f"with caching its pool losses); batch {args.batch}, super-batch {args.super_batch}\n")
    print("| run | held-out loss at " + " | ".join(str(s) for s, _ in runs[0]["curve"][1::2]) + " steps | "
          "steps to uniform's final loss | compute to it (uniform = 1) | seconds |")
    print("|---|" + "---:|" * (len(runs[0]["curve"][1::2]) + 3))
    for result in runs:
        reached = next((step for step, loss in result["curve"] if loss <= uniform_final), None)
        compute = (f"{reached * result['flops_per_step'] / (args.steps * runs[0]['flops_per_step']):.2f}"
                   if reached else "not reached")
        losses = " | ".join(f"{loss:.3f}" for _, loss in result["curve"][1::2])
        print(f"| {result['name']} | {losses} | {reached or 'not reached'} | {compute} | {result['seconds']:.0f} |")


if __name__ == "__main__":
    main()
