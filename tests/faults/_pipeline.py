"""The four services as processes on one NATS (server or cluster), with replicas when asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.processes import ServiceProcess

STAGES = ("enricher", "analyst", "notifier")

# Fast enough for a test to see recovery in seconds, slow enough that a busy 2-core machine
# does not redeliver messages that are still being handled (the runtime sends in_progress).
FAST_STAGE_ENV = {
    "ACK_WAIT_SECONDS": "5",
    "RETRY_BACKOFF_SECONDS": "0.2,0.5,1",
    "SHUTDOWN_GRACE_SECONDS": "5",
}


class Pipeline:
    def __init__(
        self, nats_url: str, log_dir: Path, env: dict[str, str] | None = None, *, replicas: int = 1,
        stage_env: dict[str, dict[str, str]] | None = None,
    ) -> None:  # fmt: skip
        common = {"NATS_URL": nats_url, **(env or {})}
        per_stage = stage_env or {}
        self.ingests = [
            ServiceProcess("ingest", common, log_dir, name=_name("ingest", i, replicas))
            for i in range(replicas)
        ]
        self.stages: dict[str, list[ServiceProcess]] = {
            stage: [
                ServiceProcess(
                    stage,
                    {**FAST_STAGE_ENV, **common, **per_stage.get(stage, {})},
                    log_dir,
                    name=_name(stage, i, replicas),
                )
                for i in range(replicas)
            ]
            for stage in STAGES
        }

    @property
    def processes(self) -> list[ServiceProcess]:
        return [*self.ingests, *(p for replicas in self.stages.values() for p in replicas)]

    @property
    def ingest_urls(self) -> list[str]:
        return [p.url for p in self.ingests]

    def __getitem__(self, stage: str) -> ServiceProcess:
        return self.stages[stage][0]

    async def __aenter__(self) -> Pipeline:
        for process in self.processes:
            process.start()
        try:
            await asyncio.gather(*(p.wait_ready() for p in self.processes))
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        for process in self.processes:
            if process.alive():
                assert process.process is not None
                process.process.terminate()
        for process in self.processes:
            process.stop()

    async def restart(self, process: ServiceProcess) -> None:
        process.start()
        await process.wait_ready()

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.processes)


def _name(service: str, index: int, replicas: int) -> str:
    return service if replicas == 1 else f"{service}-{index + 1}"
