"""Soak test: `curate run` killed with SIGKILL at random moments (every stage gets hit), rerun,
and the outputs compared byte for byte with an uninterrupted run: every recorded part (checksums
in corpus.json, verified) and every selection and mixture file.

    python benchmarks/soak.py [--trials 20] [--docs 600]

Prints, per trial, when it was killed, which stages had finished by then, and whether the rerun
matched; then how many stages were hit and the total of mismatches (the target is 0).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from common import HERE, output_checksums

from curation import Corpus
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR

PIPELINE = (Path(__file__).resolve().parent / "soak_pipeline.yaml").read_text()


def make_inputs(work: Path, docs: int) -> None:
    root = DEFAULT_DATA_DIR / "root"
    for name, texts in (("docs", sources.linux_docs(root)), ("fortunes", sources.fortunes(root))):
        with open(work / f"{name}.jsonl", "wb") as handle:
            for i, (_, text) in enumerate(itertools.islice(texts, docs)):
                handle.write(orjson.dumps({"id": f"{name}{i}", "text": text[:3000]}) + b"\n")
    (work / "pipeline.yaml").write_text(PIPELINE)


def run(work: Path, kill_after: float | None = None) -> float:
    command = [sys.executable, "-m", "curation.cli", "-q", "run", str(work / "pipeline.yaml"), "--workers", "2"]
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return time.time() - started
    if process.returncode != 0:
        raise RuntimeError(process.stderr.read().decode()[-3000:])
    return time.time() - started


def finished_stages(work: Path) -> list[str]:
    manifest = work / "corpus" / "corpus.json"
    return [s["name"] for s in orjson.loads(manifest.read_bytes())["stages"]] if manifest.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--work", type=Path, default=HERE / "out" / "soak")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    make_inputs(args.work, args.docs)
    seconds = run(args.work)
    reference = output_checksums(Corpus.open(str(args.work / "corpus")))
    print(f"uninterrupted run: {seconds:.1f} s, {len(reference)} output files\n")
    print("| trial | killed after (s) | stages finished when killed | outputs equal |")
    print("|---:|---:|---|---|")
    rng = random.Random(args.seed)
    mismatches, hit = 0, set()
    for trial in range(1, args.trials + 1):
        shutil.rmtree(args.work / "corpus")
        delay = rng.uniform(3, seconds)
        run(args.work, kill_after=delay)
        done = finished_stages(args.work)
        hit.add(len(done))
        run(args.work)
        outputs = output_checksums(Corpus.open(str(args.work / "corpus")))
        differ = sorted(p for p in outputs.keys() | reference.keys() if outputs.get(p) != reference.get(p))
        mismatches += len(differ)
        print(f"| {trial} | {delay:.1f} | {len(done)}: {', '.join(done[-2:]) or '-'} | {'yes' if not differ else 'NO: ' + ', '.join(differ[:3])} |",
              flush=True)
    print(f"\n{args.trials} trials, killed with {len(hit)} different numbers of finished stages; {mismatches} files differed")


if __name__ == "__main__":
    main()
