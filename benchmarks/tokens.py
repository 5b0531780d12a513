"""Tokens benchmark: `curate tokens` then `curate mix --format megatron` (2 workers, whole
commands), beside a bare one-process `Tokenizer.encode_batch` loop over the same texts and
datatrove's MegatronDocumentTokenizer with 2 tasks on the same documents; GPT-2's BPE everywhere.

    python benchmarks/tokens.py --sizes 1024 [--datatrove-python /path/to/venv/bin/python]
    python benchmarks/tokens.py --sizes 2048 --curate-only

Texts: the shared real-text JSONL (benchmarks/common.py), ingested first (not timed). The bare
loop on one core is the ceiling of one core: 2 workers at 80% of it each, plus writing, is 1.6x;
the bare loop with the tokenizers library's own threads is given beside. Peak RSS is
given for the `curate` process and for the largest other process (a worker); neither should grow
with the corpus.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from common import HERE, ingested, make_data, measure_processes

from curation import Corpus

DATATROVE = """
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.tokens.megatron_tokenizer import MegatronDocumentTokenizer

if __name__ == "__main__":
    data, tokenizer, work = sys.argv[1], sys.argv[2], sys.argv[3]
    LocalPipelineExecutor([JsonlReader(data, glob_pattern="*.jsonl"),
                           MegatronDocumentTokenizer(f"{work}/out", tokenizer_name_or_path=tokenizer)],
                          tasks=2, workers=2, logging_dir=f"{work}/logs").run()
"""


def bare_loop(corpus_dir: Path, threads: bool) -> tuple[float, int]:
    """Seconds and tokens of encode_batch over every document, batches of 1,024, one process:
    on one core, or with the tokenizers library's own threads (one per core)."""
    from curation.tokens import BATCH, load_tokenizer

    corpus, tokenizer = Corpus.open(str(corpus_dir)), load_tokenizer("gpt2")
    seconds, tokens = 0.0, 0
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    # The library reads this at every call (tokenizers' parallelism setting).
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads else "false"
    for part in corpus.parts("docs"):
        for batch in corpus.iter_batches("docs", part, ["text"], batch_size=BATCH):
            texts = batch.column("text").to_pylist()
            started = time.time()
            tokens += sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))
            seconds += time.time() - started
    os.environ.pop("TOKENIZERS_PARALLELISM")
    if before is not None:
        os.environ["TOKENIZERS_PARALLELISM"] = before
    return seconds, tokens


def gpt2_tokenizer_json(work: Path) -> Path:
    from curation.tokens import load_tokenizer

    path = work / "gpt2-tokenizer.json"
    load_tokenizer("gpt2").save(str(path))
    return path


def curate(*arguments: str):
    return measure_processes([sys.executable, "-m", "curation.cli", "-q", *arguments])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024])
    parser.add_argument("--work", type=Path, default=HERE / "out")
    parser.add_argument("--datatrove-python", default=None)
    parser.add_argument("--curate-only", action="store_true", help="no bare loops or peer: the memory check at a larger size")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        corpus_dir = ingested(args.work, size, "tokens")
        data = make_data(args.work, size)
        text_mb = sum(f.stat().st_size for f in data.glob("*.jsonl")) / 2**20
        Corpus.open(str(corpus_dir)).forget_stages(["tokens"])
        tokens_run = curate("tokens", str(corpus_dir), "--workers", "2")
        record = Corpus.open(str(corpus_dir)).stage("tokens")
        tokens = record.details["tokens"]
        mix_run = curate("mix", "bench", str(corpus_dir), "--format", "megatron", "--domain", "'all'")
        rows.append((size, "`curate tokens --workers 2` (whole command)", tokens_run.seconds, tokens, text_mb,
                     tokens_run.driver_peak, tokens_run.worker_peak))
        rows.append((size, "the tokens stage alone", record.wall_time_s, tokens, text_mb, None, None))
        rows.append((size, "`curate tokens` + `curate mix --format megatron` (whole commands)",
                     tokens_run.seconds + mix_run.seconds, tokens, text_mb,
                     max(tokens_run.driver_peak, mix_run.driver_peak), max(tokens_run.worker_peak, mix_run.worker_peak)))
        if args.curate_only:
            continue
        for threads, what in ((False, "one core"), (True, "its own threads on every core")):
            bare_seconds, bare_tokens = bare_loop(corpus_dir, threads)
            rows.append((size, f"bare `Tokenizer.encode_batch` loop, one process, {what}", bare_seconds, bare_tokens,
                         text_mb, None, None))
        if args.datatrove_python:
            work = args.work / f"datatrove-tokens-{size}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            (work / "run.py").write_text(DATATROVE)
            peer = measure_processes([args.datatrove_python, str(work / "run.py"), str(data),
                                      str(gpt2_tokenizer_json(work)), str(work)])
            rows.append((size, "datatrove MegatronDocumentTokenizer, 2 tasks (whole job)", peer.seconds, tokens,
                         text_mb, peer.driver_peak, peer.worker_peak))
    print("\n| MB | what | s | M tokens/s | MB/s | peak RSS, command (MB) | peak RSS, largest worker (MB) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size, what, seconds, tokens, text_mb, driver, worker in rows:
        peaks = " | ".join("" if peak is None else f"{peak / 2**20:,.0f}" for peak in (driver, worker))
        print(f"| {size:,} | {what} | {seconds:,.1f} | {tokens / seconds / 1e6:.2f} | {text_mb / seconds:.1f} | {peaks} |")


if __name__ == "__main__":
    main()
