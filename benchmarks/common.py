"""What every benchmark (and the tests) share: real-text JSONL inputs, measuring a command's time and
memory, and the checksums of a corpus's outputs."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil

from curation import checksums

HERE = Path(__file__).resolve().parent
FILES = 8


def make_data(directory: Path, size_mb: int, duplicate_every: int = 0) -> Path:
    """SIZE MB of JSONL in 8 files. With ``duplicate_every`` k, every k-th document repeats the
    text of the one before it (a planted exact duplicate)."""
    target = directory / (f"jsonl-{size_mb}mb" + (f"-dup{duplicate_every}" if duplicate_every else ""))
    if (target / ".done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    texts = list(_real_texts())
    per_file = size_mb * 1024 * 1024 // FILES
    n = 0
    for f in range(FILES):
        written = 0
        with open(target / f"part-{f}.jsonl", "wb") as handle:
            while written < per_file:
                copy = duplicate_every and n % duplicate_every == 0 and n > 0
                body = f"{n - 1}. {texts[(n - 1) % len(texts)]}" if copy else f"{n}. {texts[n % len(texts)]}"
                line = orjson.dumps({"id": f"doc-{n}", "text": body, "url": f"https://example.org/{n}", "lang": "en"}) + b"\n"
                handle.write(line)
                written += len(line)
                n += 1
    (target / ".done").write_text(str(n))
    return target


def ingested(directory: Path, size_mb: int, name: str) -> Path:
    """A corpus of ``make_data(directory, size_mb)`` at directory/<name>-<size>mb, ingested once."""
    from curation.ingest.stage import IngestConfig
    from curation.ingest.units import InputSpec
    from curation.stage import run

    data = make_data(directory, size_mb)
    corpus_dir = directory / f"{name}-{size_mb}mb"
    if not (corpus_dir / "corpus.json").exists():
        run(str(corpus_dir), IngestConfig(inputs=[InputSpec(str(data))]))
    return corpus_dir


def _real_texts():
    raw = HERE.parent / "demo-corpus" / "raw" / "linux-doc"
    files = sorted(raw.rglob("*.txt")) if raw.exists() else sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    for file in files[:3000]:
        text = file.read_text(encoding="utf-8", errors="replace")
        for start in range(0, len(text), 4000):  # documents of a few KB, like web pages
            if len(text[start : start + 4000]) > 200:
                yield text[start : start + 4000]


def measure(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds and peak RSS (bytes) of a command and all its descendants."""
    usage = measure_processes(command)
    return usage.seconds, usage.tree_peak, usage.output


@dataclass
class Usage:
    seconds: float
    output: str
    tree_peak: int  # bytes, the command and every process under it at once
    driver_peak: int  # bytes, the command's own process
    worker_peak: int  # bytes, the largest other process
    driver_cpu: float  # seconds
    total_cpu: float
    timeline: list[tuple[float, int]]  # (unix time, bytes of the whole tree) every 50 ms

    def tree_peak_between(self, start: float, end: float) -> int:
        return max((rss for at, rss in self.timeline if start <= at <= end), default=0)


def measure_processes(command: list[str], others: list[int] = ()) -> Usage:
    """Run ``command``; sample the RSS and CPU time of it, of every process under it, and of
    ``others`` (the pids of an external cluster's workers) every 50 ms."""
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    driver, tree_peak, peaks, cpu, timeline = psutil.Process(process.pid), 0, {}, {}, []
    baseline = {pid: sum(psutil.Process(pid).cpu_times()[:2]) for pid in others}
    done = threading.Event()

    def sample():
        nonlocal tree_peak
        while not done.is_set():
            try:
                tree = [driver, *driver.children(recursive=True), *(psutil.Process(pid) for pid in others)]
            except psutil.Error:
                tree = []
            rss = 0
            for each in tree:
                try:
                    rss += (memory := each.memory_info().rss)
                    peaks[each.pid] = max(peaks.get(each.pid, 0), memory)
                    cpu[each.pid] = sum(each.cpu_times()[:2]) - baseline.get(each.pid, 0.0)
                except psutil.Error:
                    pass
            tree_peak = max(tree_peak, rss)
            timeline.append((time.time(), rss))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{output[-3000:]}")
    return Usage(time.time() - started, output, tree_peak, peaks.pop(process.pid, 0), max(peaks.values(), default=0),
                 cpu.get(process.pid, 0.0), sum(cpu.values()), timeline)


def output_checksums(corpus) -> dict[str, dict]:
    """Every output of the corpus: the recorded parts (verified first) and the files of its
    selections and mixtures. Two runs that made the same corpus give equal maps."""
    problems = checksums.verify(corpus)
    if problems:
        raise ValueError("; ".join(problems))
    outputs = dict(corpus.manifest().get("checksums", {}))
    for folder in ("selections", "mixtures"):
        root = corpus.path(folder)
        if corpus.fs.isdir(root):
            for path in sorted(corpus.fs.find(root)):
                relative = path[len(corpus.path("")) :].lstrip("/")
                if not relative.split("/")[1].startswith("."):
                    outputs[relative] = checksums.file_checksum(corpus.fs, path)
    return outputs
