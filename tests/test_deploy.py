"""Schedules on a real `prefect server` on 127.0.0.1: `curate deploy` registers a cron schedule
that the Prefect client reads back, `curate serve` runs a triggered run to completion, and the run
publishes its artifacts (rows per stage, the report's link)."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess

from conftest import CURATE, prefect_server, wait_until, write_jsonl

from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR

PIPELINE = """
corpus: corpus
inputs: [{path: fortunes.jsonl, source: fortunes, domain: literature}]
stages:
  scores: [{scorer: heuristics}]
  exact_dedup: {scope: global}
selections:
  kept: {where: "exact_dedup.keep"}
"""


async def _deployment_and_run(name: str) -> tuple[object, object]:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"scheduled-pipeline/{name}")
    run = await run_deployment(f"scheduled-pipeline/{name}", timeout=0)
    return deployment, run


async def _state_and_artifacts(run_id) -> tuple[str, list]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:  # this server has seen no other run: the pipeline subflow's artifacts
        run = await client.read_flow_run(run_id)
        artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["stages", "report"])))
    return run.state.type.value, artifacts


def test_deploy_serve_and_a_completed_run_with_artifacts(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    root = DEFAULT_DATA_DIR / "root"
    write_jsonl(tmp_path / "fortunes.jsonl", [{"id": f"f{i}", "text": t} for i, (_, t) in enumerate(itertools.islice(sources.fortunes(root), 300))])
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    with prefect_server(tmp_path / "prefect") as (api, env):
        bad = subprocess.run([*CURATE, "deploy", str(tmp_path / "pipeline.yaml"), "--cron", "every day", "--name", "x"],
                             env=env, capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "not a cron expression" in bad.stderr
        deployed = subprocess.run([*CURATE, "deploy", str(tmp_path / "pipeline.yaml"), "--cron", "0 3 * * *",
                                   "--name", "nightly"], env=env, capture_output=True, text=True, timeout=120)
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        # A setting, not the environment: another test's Prefect server may be the active setting here.
        with temporary_settings(updates={PREFECT_API_URL: api}):
            deployment, run = asyncio.run(_deployment_and_run("nightly"))
            assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
            assert deployment.parameters == {"pipeline": str(tmp_path / "pipeline.yaml")}
            server = subprocess.Popen([*CURATE, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True, start_new_session=True)
            try:
                wait_until(lambda: asyncio.run(_state_and_artifacts(run.id))[0] in ("COMPLETED", "FAILED", "CRASHED"),
                           "the triggered run", timeout=300)
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
            state, artifacts = asyncio.run(_state_and_artifacts(run.id))
        assert state == "COMPLETED"
        kinds = {a.key: a for a in artifacts}
        assert {"stages", "report"} <= set(kinds)
        assert "exact_dedup" in str(kinds["stages"].data) and "report.html" in str(kinds["report"].data)
    assert (tmp_path / "corpus" / "report.html").exists()
    assert not subprocess.run([*CURATE, "deploy", str(tmp_path / "pipeline.yaml"), "--cron", "0 3 * * *", "--name", "y"],
                              env={k: v for k, v in env.items() if k != "PREFECT_API_URL"}, capture_output=True).returncode == 0
