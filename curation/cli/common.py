"""The `curate` group and what its commands share: quiet orchestration, the runtime options,
printing a finished stage."""

from __future__ import annotations

import os

import click

runtime_options = [
    click.option("--workers", type=click.IntRange(min=1), default=None, help="Dask worker processes (default: one per core)."),
    click.option("--dask-address", default=None, help="Run on an existing Dask cluster, e.g. tcp://host:8786."),
]


def with_runtime_options(command):
    for option in reversed(runtime_options):
        command = option(command)
    return command


def _quiet_orchestration() -> None:
    # Environment, not logging calls: Dask worker processes inherit it. Their warnings are for
    # whoever runs them, not for the user of a command: only -v shows them.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Offline by rule: datasets must never try a hub, and its progress bars are noise here.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def _verbose(context: click.Context, parameter: click.Parameter, given: bool) -> None:
    if given:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        os.environ["DASK_LOGGING__DISTRIBUTED"] = "info"


def _quiet(context: click.Context, parameter: click.Parameter, given: bool) -> None:
    if given:
        os.environ["CURATION_PROGRESS"] = "0"


def output_options() -> list[click.Option]:
    """-v and -q, taken before the subcommand or after it (`curate ingest ... -q`)."""
    return [click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, callback=_verbose,
                         help="Show Prefect and Dask logs."),
            click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_quiet,
                         help="No progress bars (for scripts).")]


class CurateGroup(click.Group):
    """Every subcommand takes the group's output options too."""

    def add_command(self, command: click.Command, name: str | None = None) -> None:
        command.params.extend(output_options())
        super().add_command(command, name)


@click.group(cls=CurateGroup, params=output_options(), context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Curate pretraining corpora: ingest, dedup, score, select, mix. Query everything with SQL."""
    _quiet_orchestration()


def echo_lines(lines) -> None:
    for line in lines:
        click.echo(line)


def record_lines(record) -> list[str]:
    """A finished stage (curation.corpus.StageRecord) as the lines the commands print."""
    if record.skipped:
        head = f"{record.name}: already done with these inputs and settings (skipped)"
    else:
        rate = f", {record.docs_per_core_s:,.0f} docs/s per core" if record.docs_per_core_s else ""
        head = f"{record.name}: {record.rows_in:,} in, {record.rows_out:,} out ({record.wall_time_s:.1f} s{rate})"
    details = record.details
    if record.stage == "ablate":
        from curation.ablate.summary import summary_lines

        seeds = record.config["seeds"]
        return [f"{record.name}: {record.rows_out} runs ({len(record.config['arms'])} arms x {seeds} "
                f"seed{'s' if seeds > 1 else ''} of {record.config['tokens']:,} tokens, {record.wall_time_s:.1f} s); bits per byte on the "
                "mean of the eval sets:", *summary_lines(details["summary"]),
                f"  per eval set: the view ablation_{record.name}_summary (`curate sql DIR \"SELECT * FROM ablation_{record.name}_summary\"`)"]
    if record.stage == "ingest":
        rejects, batches = details["rejects"], details.get("batches", [])
        lines = [head, f"  files {details['files']:,}  records {record.rows_in:,}  docs {record.rows_out:,}  "
                       f"rejects {sum(rejects.values()):,}",
                 *(f"  rejected {count:,}: {reason}" for reason, count in rejects.items())]
        if len(batches) > 1 and not record.skipped:  # an append: the totals above are the corpus's
            added = batches[-1]
            lines.append(f"  this append: records {added['records']:,}  docs {added['docs']:,}  "
                         f"rejects {sum(added['rejects'].values()):,}")
        return lines
    dropped = record.rows_in - record.rows_out
    lines = [head, f"  {dropped:,} marked to drop, {record.rows_out:,} kept"] if dropped else [head]
    if "dim" in details:
        lines.append(f"  {details['dim']}-d vectors")
    if record.stage == "tokens":
        lines.append(f"  {details['tokens']:,} {record.config['tokenizer']} tokens as {details['dtype']} "
                     f"(a vocabulary of {details['vocabulary']:,})")
    if "ks" in details:
        lines.append(f"  clusters per level: {' > '.join(str(k) for k in details['ks'])}")
    lines += [f"  eps {value}: keeps {fraction:.1%}" for value, fraction in details.get("kept_fraction_by_eps", {}).items()]
    return lines
