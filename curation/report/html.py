"""`curate report html DIR`: one self-contained HTML page of what a curator wants to see, built
from the corpus's SQL views: the funnel through the stages, where the time went, rejects and
drops by reason, score histograms, cluster sizes per level, each mixture's domain mix per phase and token budget,
and each ablation's loss curves and final bits per byte with intervals.
Plots are inline SVG (curation.report.svg): the page opens offline, from a file or an artifact.
"""

from __future__ import annotations

import time
from html import escape

import orjson

from curation.catalog import Catalog
from curation.corpus import Corpus, write_bytes_atomic
from curation.duck import identifier, quote
from curation.report import svg

REPORT = "report.html"
BINS = 20
STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:780px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:.4em}svg text{font-size:11px;fill:#333}
.note,.empty{color:#666;font-size:.9em}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}"""


class _Queries:
    """One catalog for the whole page (each Corpus.sql call would build its views anew)."""

    def __init__(self, corpus: Corpus, catalog: Catalog):
        self.corpus, self.catalog = corpus, catalog

    def rows(self, sql: str) -> list[dict]:
        return self.catalog.query(sql).to_pylist()

    def columns(self, table: str) -> list[str]:
        return [r["column_name"] for r in self.rows(f"SELECT column_name FROM (DESCRIBE {identifier(table)})")]


def funnel(q: _Queries) -> str:
    """Bars: what each stage kept of what it read. Line: the documents passing every stage so far,
    in pipeline order (a stage that marks nothing carries the line on)."""
    from curation.registry import pipeline_rank

    rows = sorted(q.rows("SELECT name, stage, rows_in, rows_out FROM stages WHERE stage IS DISTINCT FROM 'ablate'"),
                  key=lambda r: pipeline_rank(r["stage"]))
    passing = {r["stage"]: r["docs"] for r in q.rows("SELECT stage, docs FROM passing")}
    line = []
    for r in rows:
        line.append(passing.get(r["name"], line[-1] if line else r["rows_out"]))
    labels = [f"{r['name']} ({r['rows_in'] - r['rows_out']:,} out)" if r["rows_in"] != r["rows_out"] else r["name"]
              for r in rows]
    return svg.horizontal_bars("funnel", "Documents kept by each stage", labels, [r["rows_out"] for r in rows],
                               note="Bars: what each stage kept of what it read. Line: documents that pass "
                                    "every stage so far, in pipeline order.", line=line)


# A map step's rate over the last half of its tasks this much below the first half's is named.
SLOWDOWN = 0.9


def time_spent(corpus: Corpus) -> str:
    """Bars: each stage's wall seconds, labelled with its documents per second per core; the note
    names any step over the docs parts whose rate fell as the run went on."""
    from curation.registry import pipeline_rank

    records = sorted(corpus.records().values(), key=lambda r: pipeline_rank(r.stage))
    labels = [f"{r.name} ({r.docs_per_core_s:,.0f} docs/s per core)" if r.docs_per_core_s else r.name for r in records]
    fell = [f"{r.name} {step['step']} {step['first_half']:,.0f} -> {step['last_half']:,.0f}" for r in records
            for step in r.part_steps if step["first_half"] and step["last_half"]
            and step["last_half"] < SLOWDOWN * step["first_half"]]
    longest = sorted(((seconds, f"{r.name} {step}") for r in records for step, seconds in r.step_seconds.items()), reverse=True)
    note = (f"Total {sum(r.wall_time_s for r in records):,.1f} s; the longest steps: "
            f"{', '.join(f'{name} {seconds:,.1f} s' for seconds, name in longest[:3])}. Rates are documents over the "
            "seconds of the stage's tasks over the docs parts (one task a core). "
            + (f"Slower in the last half of the tasks than the first (docs/s per core): {'; '.join(fell)}."
               if fell else "No stage's rate fell by more than 10% from the first half of its tasks to the last."))
    return svg.horizontal_bars("time", "Seconds per stage", labels, [r.wall_time_s for r in records], note=note,
                               empty="no stage has run yet")


def drops(q: _Queries) -> str:
    rows = q.rows("SELECT 'ingest: ' || reason AS reason, count(*) AS n FROM rejects GROUP BY ALL")
    for table in q.corpus.attrs_stages():
        if "reason" in q.columns(table):
            rows += q.rows(f"SELECT {table!r} || ': ' || reason AS reason, count(*) AS n FROM {identifier(table)} "
                               "WHERE reason IS NOT NULL GROUP BY ALL")
    rows.sort(key=lambda r: -r["n"])
    rows = rows[:30]
    return svg.horizontal_bars("drops", "Rejects and drops by reason (the 30 largest)", [r["reason"] for r in rows],
                               [r["n"] for r in rows], empty="nothing was rejected or dropped")


def score_histograms(q: _Queries) -> list[str]:
    """A histogram per score: any attrs column named score or loss, and DataMan's overall score."""
    figures = []
    for table in q.corpus.attrs_stages():
        columns = q.columns(table)
        for column in ("score", "loss", "overall_score"):
            if column not in columns:
                continue
            stats = q.rows(f"SELECT min({column})::DOUBLE AS lo, max({column})::DOUBLE AS hi FROM {identifier(table)}")[0]
            if stats["lo"] is None:
                continue
            lo, hi = stats["lo"], stats["hi"] if stats["hi"] > stats["lo"] else stats["lo"] + 1
            width = (hi - lo) / BINS
            counts = dict.fromkeys(range(BINS), 0)
            for r in q.rows(f"SELECT least({BINS - 1}, floor(({column} - {lo!r}) / {width!r}))::INT AS b, count(*) AS n "
                                f"FROM {identifier(table)} WHERE {column} IS NOT NULL GROUP BY ALL"):
                counts[r["b"]] = r["n"]
            labels = [f"{lo + b * width:.3g}" for b in counts]
            figures.append(svg.vertical_bars(f"hist-{table}-{column}", f"{table}.{column}: documents per bin", labels,
                                             list(counts.values())))
    return figures


def cluster_sizes(q: _Queries) -> list[str]:
    if "clusters" not in q.corpus.attrs_stages():
        return [svg.horizontal_bars("clusters", "Cluster sizes", [], [], empty="no clusters yet (curate clusters)")]
    levels = sorted((c for c in q.columns("clusters") if c.startswith("level_")), key=lambda c: int(c[6:]))
    figures = []
    for level in levels:
        sizes = [r["n"] for r in q.rows(f"SELECT count(*) AS n FROM clusters GROUP BY {level} ORDER BY n DESC")]
        shown = sizes[:60]
        figures.append(svg.vertical_bars(f"clusters-{level}", f"Cluster sizes at {level}, largest first",
                                         [str(i + 1) for i in range(len(shown))], shown,
                                         note=f"{len(sizes):,} clusters; largest {sizes[0]:,}, smallest {sizes[-1]:,} documents"))
    return figures


def mixtures(q: _Queries) -> list[str]:
    figures = []
    for name in q.corpus.mixtures():
        manifest = orjson.loads(q.corpus.fs.cat_file(q.corpus.path("mixtures", name, "manifest.json")))
        domains = list(manifest["domains"])
        groups = [f"{p['start']:.2f}-{p['end']:.2f}" for p in manifest["phases"]]
        series = {d: [p["weights"].get(d, 0.0) for p in manifest["phases"]] for d in domains}
        figures.append(svg.stacked_bars(f"mixture-{name}", f"Mixture {name}: token shares per phase of training",
                                        groups, series))
        drawn = [manifest["domains"][d]["tokens_drawn"] for d in domains]
        epochs = ", ".join(f"{d} {manifest['domains'][d]['epochs']:.2f}" for d in domains)
        figures.append(svg.horizontal_bars(f"budget-{name}", f"Mixture {name}: tokens drawn per domain "
                                           f"(budget {manifest['budget_tokens']:,.0f}, {manifest['tokenizer']})",
                                           domains, drawn, note=f"epochs: {epochs}"))
    if not figures:
        figures.append(svg.horizontal_bars("mixture", "Mixtures", [], [], empty="no mixture yet (curate mix)"))
    return figures


def ablations(q: _Queries) -> list[str]:
    """Per ablation: each arm's held-out bits per byte (the mean of the eval sets, the mean of the
    seeds) against tokens trained, and the final bits per byte per eval set with intervals."""
    figures = []
    for name in q.corpus.ablations():
        curves = q.rows(f"SELECT arm, tokens, avg(bits_per_byte) AS bits FROM (SELECT arm, seed, tokens, "
                        f"avg(bits_per_byte) AS bits_per_byte FROM read_parquet({quote(q.corpus.uri('ablations', name, 'curves.parquet'))}) "
                        "GROUP BY ALL) GROUP BY ALL ORDER BY arm, tokens")
        document = orjson.loads(q.corpus.fs.cat_file(q.corpus.path("ablations", name, "ablation.json")))
        series: dict[str, list[tuple[float, float]]] = {arm: [] for arm in document["arms"]}  # the first is the baseline
        for row in curves:
            series.setdefault(row["arm"], []).append((row["tokens"], row["bits"]))
        figures.append(svg.lines(f"ablation-{name}", f"Ablation {name}: held-out bits per byte (mean of the eval sets "
                                 "and of the seeds) as training goes on", series, "tokens"))
        summary = q.rows(f"SELECT * FROM {identifier(f'ablation_{name}_summary')}")
        figures.append(_summary_table(name, summary))
    if not figures:
        figures.append(svg.horizontal_bars("ablation", "Ablations", [], [], empty="no ablation yet (curate ablate)"))
    return figures


def _summary_table(name: str, rows: list[dict]) -> str:
    def value(mean: float | None, low: float | None, high: float | None, sign: str = "") -> str:
        if mean is None:
            return ""
        return f"{mean:{sign}.4f}" + ("" if low is None else f" [{low:{sign}.4f}, {high:{sign}.4f}]")

    cells = "".join(
        f"<tr><td>{escape(r['arm'])}</td><td>{escape(r['eval_set'])}</td><td>{r['seeds']}</td>"
        f"<td>{value(r['bits_per_byte'], r['low'], r['high'])}</td>"
        f"<td>{value(r['difference'], r['difference_low'], r['difference_high'], '+')}</td>"
        f"<td>{'yes' if r['excludes_zero'] else ''}</td></tr>" for r in rows)
    head = ("<tr><th>arm</th><th>eval set</th><th>seeds</th><th>bits per byte [95%]</th>"
            "<th>minus the first arm [95%]</th><th>excludes 0</th></tr>")
    return (f'<figure class="plot" data-plot="ablation-{escape(name)}-summary"><figcaption>Ablation {escape(name)}: '
            f"final bits per byte (lower is better)</figcaption><table>{head}{cells}</table></figure>")


def render(corpus: Corpus) -> str:
    documents = corpus.rows("docs")
    with Catalog(corpus) as catalog:
        q = _Queries(corpus, catalog)
        sections = [("Funnel", [funnel(q)]), ("Time", [time_spent(corpus)]), ("Rejects and drops", [drops(q)]),
                    ("Scores", score_histograms(q) or [svg.horizontal_bars("scores", "Scores", [], [], empty="no scores yet (curate score)")]),
                    ("Clusters", cluster_sizes(q)), ("Mixtures", mixtures(q)), ("Ablations", ablations(q))]
    body = "".join(f"<h2>{escape(title)}</h2>{''.join(figures)}" for title, figures in sections)
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>curation report: {escape(corpus.url)}</title>"
            f"<style>{STYLE}</style></head><body><h1>Corpus report</h1>"
            f"<p>{escape(corpus.url)}: {documents:,} documents. Written {time.strftime('%Y-%m-%d %H:%M %Z')}.</p>"
            f"{body}</body></html>")


def write_report(corpus_url: str, output: str | None = None) -> str:
    """Writes the page (default DIR/report.html) and returns where."""
    corpus = Corpus.open(corpus_url)
    target = output or corpus.path(REPORT)
    page = render(corpus).encode()
    if output:
        with open(output, "wb") as handle:
            handle.write(page)
    else:
        write_bytes_atomic(corpus.fs, target, page)
    return target
