"""The HTML report, rendered by headless Chromium (Debian's package; scripts/fetch-browser):
every plot is in the DOM with bars drawn, and the screenshot shows them (not a blank page)."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

from conftest import write_jsonl

from curation.cli import main
from curation.clusters.stage import ClustersConfig
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.embed.stage import EmbedConfig
from curation.exact_dedup import ExactDedupConfig
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from scorers.stage import ScoreConfig

CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is not installed; run scripts/fetch-browser"
    return subprocess.run([binary, *CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}", *arguments],
                          capture_output=True, text=True, timeout=120, check=True)


def test_the_html_report_draws_every_plot(tmp_path):
    from PIL import Image

    root = DEFAULT_DATA_DIR / "root"
    for domain, texts in (("docs", sources.linux_docs(root)), ("literature", sources.fortunes(root))):
        records = [{"id": f"{domain}{i}", "text": t[:3000]} for i, (_, t) in enumerate(itertools.islice(texts, 150))]
        write_jsonl(tmp_path / f"{domain}.jsonl", records + [{"id": f"{domain}-empty", "text": ""}])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / f"{d}.jsonl"), domain=d) for d in ("docs", "literature")]))
    run(corpus_dir, ScoreConfig(scorer="heuristics"))
    assert main(["train-quality", corpus_dir, "--positive", "domain = 'docs'", "--negative", "domain <> 'docs'",
                 "--name", "q"]) == 0
    run(corpus_dir, ScoreConfig(scorer="quality_fasttext", options={"model": f"{corpus_dir}/models/q/model.bin"}, name="quality"))
    run(corpus_dir, ExactDedupConfig())
    run(corpus_dir, EmbedConfig(encoder="hashing"))
    run(corpus_dir, ClustersConfig(k=(8, 2)))
    assert main(["mix", "demo", corpus_dir, "--upsample", "docs=2"]) == 0
    assert main(["report", "html", corpus_dir]) == 0
    page = Path(corpus_dir) / "report.html"
    assert "http://" not in page.read_text() and "https://" not in page.read_text()  # self-contained

    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    figures = re.findall(r'<figure class="plot" data-plot="([^"]+)">(.*?)</figure>', dom, flags=re.S)
    plots = {name: body for name, body in figures}
    expected = {"funnel", "drops", "hist-quality-score", "clusters-level_1", "clusters-level_2", "mixture-demo",
                "budget-demo"}
    assert expected <= set(plots), sorted(plots)
    for name in expected:
        assert plots[name].count("<rect") >= 2, name
    assert "empty_text" in plots["drops"] and "gopher" in plots["drops"]

    _chromium(tmp_path, "--window-size=900,3000", f"--screenshot={tmp_path / 'shot.png'}", page.as_uri())
    image = Image.open(tmp_path / "shot.png").convert("RGB")
    pixels = list(image.getdata())
    bar_blue = sum(1 for p in pixels if p == (78, 121, 167))
    assert bar_blue > 20_000 and len(set(pixels)) > 50
