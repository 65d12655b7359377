"""The Faust app of one worker process, with every stage installed."""

from __future__ import annotations

from pipeline.alerts.config import AlertConfig
from pipeline.core.counters import StageCounters
from pipeline.core.kafka import BatchSender
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.stages import enrich_agent, ledger_agent
from pipeline.stages.enrich_process import EnrichProcess
from pipeline.stages.transport import App
from pipeline.stages.worker import Worker


def create_worker(
    settings: Settings,
    broker_url: str,
    enrich: EnrichProcess,
    config: AlertConfig,
    *,
    counters: StageCounters | None = None,
) -> Worker:
    """Build the app with its stream processors; the storage sink runs beside it."""
    app = App(
        f"{settings.topic_prefix}-worker",
        broker=broker_url,
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        # Tansu: with Faust's default timeouts a new worker waits ~30 s to join its group.
        broker_rebalance_timeout=3,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        # A worker killed with -9 redoes what it did since its last commit: keep that short.
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=10,
        producer_max_batch_size=256 * 1024,
        web_enabled=False,
        autodiscover=False,
        stream_wait_empty=False,
        datadir=str(settings.data_dir / "faust"),
    )
    worker = Worker(
        app,
        settings,
        Topics(settings.topic_prefix),
        counters or StageCounters(),
        BatchSender(broker_url.removeprefix("kafka://")),
    )
    enrich_agent.install(worker, enrich)
    ledger_agent.install(worker, config)
    return worker
