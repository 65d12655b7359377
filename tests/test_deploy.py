"""deploy/ as an operator gets it, validated offline: the compose file against the Compose
Specification, every Kubernetes manifest against the API schemas (strict), the topic script's
plan against the topics the code uses; and each check shown to reject a real mistake."""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.alerts.config import AlertConfig, alert_config
from pipeline.core.campaign import load_campaign
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.stages.app import create_worker
from pipeline.stages.enrich_process import EnrichProcess, EnrichSpec
from tests import deploy_checks as checks

SCRIPT = checks.DEPLOY / "create-topics.sh"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    [doc] = checks.load_yaml(checks.DEPLOY / "docker-compose.yml")
    return doc


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return [doc for _, doc in checks.k8s_manifests()]


# --- compose -----------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert checks.compose_schema_errors(compose) == []


def test_compose_file_is_consistent(compose: dict[str, Any]) -> None:
    assert checks.compose_problems(compose) == []
    roles = {" ".join(s.get("command", [])[3:5]) for s in compose["services"].values()}
    assert {"worker --metrics-port", "collect x", "collect mastodon", "collect bluesky"} <= roles


def _service(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(doc["services"][name])


COMPOSE_MISTAKES: dict[str, Callable[[dict[str, Any]], None]] = {
    "misspelled key": lambda d: d["services"]["worker"].update(comand=["hashwatch", "worker"]),
    "interval not a duration": lambda d: d["services"]["kafka"]["healthcheck"].update(interval=10),
}
COMPOSE_FLAWS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "token in clear": (
        lambda d: d["services"]["collector-x"].update(environment={"X_BEARER_TOKEN": "t"}),
        "secrets written in clear",
    ),
    "misspelled setting": (
        lambda d: d["services"]["worker"].update(environment={"HASHWATCH_METRICS_PROT": "1"}),
        "unknown variables",
    ),
    "no such command": (
        lambda d: d["services"]["worker"].update(command=["hashwatch", "wroker"]),
        "No such command",
    ),
    "no such option": (
        lambda d: d["services"]["worker"].update(command=["hashwatch", "worker", "--port", "1"]),
        "No such option",
    ),
    "two collectors": (
        lambda d: d["services"]["collector-x"].update(deploy={"replicas": 2}),
        "one copy",
    ),
    "more workers than partitions": (
        lambda d: d["services"]["worker"].update(deploy={"replicas": 99}),
        "99 workers for 12 partitions",
    ),
    "env file without an example": (
        lambda d: d["services"]["worker"].update(env_file=["hashwatch.env", "secrets/db.env"]),
        "has no example",
    ),
}


@pytest.mark.parametrize("mistake", COMPOSE_MISTAKES)
def test_the_compose_schema_rejects(compose: dict[str, Any], mistake: str) -> None:
    doc = copy.deepcopy(compose)
    COMPOSE_MISTAKES[mistake](doc)
    assert checks.compose_schema_errors(doc)


@pytest.mark.parametrize("flaw", COMPOSE_FLAWS)
def test_the_compose_checks_reject(compose: dict[str, Any], flaw: str) -> None:
    doc = copy.deepcopy(compose)
    mutate, expected = COMPOSE_FLAWS[flaw]
    mutate(doc)
    problems = checks.compose_problems(doc)
    assert any(expected in p for p in problems), problems


def test_secret_examples_hold_no_secret() -> None:
    examples = {
        f"{path.name} {name}": value
        for path in (checks.DEPLOY / "secrets.example").glob("*.env")
        for name, value in checks.env_file(path).items()
    }
    [secret] = checks.load_yaml(checks.K8S / "secret.example.yaml")
    examples |= {f"Secret {name}": value for name, value in secret["stringData"].items()}
    assert len(examples) >= 2 * len(checks.SECRET_ENV)
    assert {k: v for k, v in examples.items() if v and "CHANGE-ME" not in v} == {}


# --- Kubernetes --------------------------------------------------------------------------


def test_every_manifest_passes_the_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in manifests}
    assert {"Deployment", "ConfigMap", "Secret", "PodDisruptionBudget"} <= kinds
    assert [e for d in manifests for e in checks.k8s_schema_errors(d)] == []


def test_manifests_are_consistent(manifests: list[dict[str, Any]]) -> None:
    assert checks.k8s_problems(manifests) == []
    assert checks.kustomization_problems() == []


def test_the_campaign_in_the_configmap_loads(
    manifests: list[dict[str, Any]], tmp_path: Path
) -> None:
    [cm] = [d for d in manifests if d["metadata"]["name"] == "hashwatch-campaign"]
    path = tmp_path / "campaign.toml"
    path.write_text(cm["data"]["campaign.toml"])
    assert load_campaign(path).hashtags
    assert alert_config(path).webhooks  # the webhook deliverer's targets


def _deployment(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def _container(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return _deployment(docs, name)["spec"]["template"]["spec"]["containers"][0]


K8S_MISTAKES: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "misspelled container field": lambda d: _container(d, "hashwatch-worker").update(
        imagePullPolcy="Always"
    ),
    "replicas as text": lambda d: _deployment(d, "hashwatch-worker")["spec"].update(replicas="3"),
    "probe without a handler field": lambda d: _container(d, "hashwatch-dashboard")[
        "livenessProbe"
    ].update(httpGett={"path": "/"}),
}
K8S_FLAWS: dict[str, tuple[Callable[[list[dict[str, Any]]], None], str]] = {
    "store URL in clear": (
        lambda d: _container(d, "hashwatch-worker")["env"].append(
            {"name": "HASHWATCH_STORE", "value": "postgresql://u:p@db/h"}
        ),
        "written in clear",
    ),
    "missing secret key": (
        lambda d: _container(d, "hashwatch-collector-x")["env"][1]["valueFrom"][
            "secretKeyRef"
        ].update(key="X_TOKEN"),
        "missing Secret key",
    ),
    "two collectors": (
        lambda d: _deployment(d, "hashwatch-collector-x")["spec"].update(replicas=2),
        "replicas 1 and strategy Recreate",
    ),
    "rolling collector": (
        lambda d: _deployment(d, "hashwatch-collector-mastodon")["spec"].update(
            strategy={"type": "RollingUpdate"}
        ),
        "replicas 1 and strategy Recreate",
    ),
    "more workers than partitions": (
        lambda d: _deployment(d, "hashwatch-worker")["spec"].update(replicas=13),
        "13 workers for 12 partitions",
    ),
    "selector off the pods": (
        lambda d: _deployment(d, "hashwatch-dashboard")["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/component": "web"}
        ),
        "selector does not match",
    ),
    "probe on an unnamed port": (
        lambda d: _container(d, "hashwatch-worker")["livenessProbe"]["httpGet"].update(
            port="prometheus"
        ),
        "unknown port",
    ),
    "no such option": (
        lambda d: _container(d, "hashwatch-alerts-webhook").update(
            command=["hashwatch", "alerts", "webhook", "--secret", "s"]
        ),
        "No such option",
    ),
}


@pytest.mark.parametrize("mistake", K8S_MISTAKES)
def test_the_kubernetes_schemas_reject(manifests: list[dict[str, Any]], mistake: str) -> None:
    docs = copy.deepcopy(manifests)
    K8S_MISTAKES[mistake](docs)
    assert [e for d in docs for e in checks.k8s_schema_errors(d)]


@pytest.mark.parametrize("flaw", K8S_FLAWS)
def test_the_kubernetes_checks_reject(manifests: list[dict[str, Any]], flaw: str) -> None:
    docs = copy.deepcopy(manifests)
    mutate, expected = K8S_FLAWS[flaw]
    mutate(docs)
    problems = checks.k8s_problems(docs)
    assert any(expected in p for p in problems), problems


# --- topics ------------------------------------------------------------------------------


def _run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _code_topics(prefix: str, partitions: int) -> dict[str, int]:
    """Every topic the code creates or Faust declares, with its partition count."""
    topics = Topics(prefix)
    wanted = {name: topics.partitions(name, partitions) for name in topics.all()}
    settings = Settings(broker="kafka://127.0.0.1:1", topic_prefix=prefix, partitions=partitions)
    config = AlertConfig()
    enrich = EnrichProcess(EnrichSpec.of(settings, config))  # never started
    worker = create_worker(settings, "kafka://127.0.0.1:1", enrich, config)
    for table in worker.app.tables.values():
        wanted[table.changelog_topic.get_topic_name()] = table.changelog_topic.partitions
    wanted[f"{worker.app.conf.id}-__assignor-__leader"] = 1
    await worker.sender.stop()  # never started: this only releases it
    return wanted


async def test_the_topic_script_creates_every_topic_with_its_retention() -> None:
    proc = _run_script("--dry-run", HASHWATCH_BROKER="kafka://k1:9092", HASHWATCH_PARTITIONS="12")
    assert proc.returncode == 0, proc.stderr
    plan = checks.parse_topic_plan(proc.stdout)
    code = await _code_topics("hashwatch", 12)
    t = Topics("hashwatch")
    evidence = [t.raw, t.enriched, t.deadletter, t.facts]  # facts: the ledger rebuilds from it
    compacted = [t.gaps, t.collections]
    assert checks.topic_plan_problems(plan, code, evidence, compacted) == []
    assert "--bootstrap-server k1:9092" in proc.stdout.replace("\\", "")
    # and the check notices a topic left out or created with the wrong partition count
    del plan[t.raw]
    plan[t.facts] = (12, plan[t.facts][1])
    problems = checks.topic_plan_problems(plan, code, evidence, compacted)
    assert any(t.raw in p for p in problems) and any("12 partitions" in p for p in problems)


def test_the_topic_script_needs_the_workers_partition_count() -> None:
    proc = _run_script("--dry-run", HASHWATCH_BROKER="kafka://k1:9092")
    assert proc.returncode != 0 and "HASHWATCH_PARTITIONS" in proc.stderr


FAKE_KAFKA = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$FAKE_LOG"
case " $* " in
  *" --list "*) printf '%s\\n' $FAKE_EXISTING ;;
  *" --describe "*) printf 'Topic: t\\tTopicId: x\\tPartitionCount: %s\\tReplicationFactor: 3\\n' \\
      "$FAKE_PARTITIONS" ;;
esac
"""


@pytest.mark.parametrize(("have", "rc"), [("12", 0), ("4", 1)])
def test_the_topic_script_updates_existing_topics(tmp_path: Path, have: str, rc: int) -> None:
    """Against stand-ins for kafka-topics.sh / kafka-configs.sh: existing topics get the
    configs, missing ones are created, and a partition count that differs fails the run."""
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        (tmp_path / tool).write_text(FAKE_KAFKA)
        (tmp_path / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    proc = _run_script(
        HASHWATCH_BROKER="kafka://k1:9092",
        HASHWATCH_PARTITIONS="12",
        KAFKA_BIN=str(tmp_path),
        FAKE_LOG=str(log),
        FAKE_EXISTING="hashwatch.posts.raw",
        FAKE_PARTITIONS=have,
    )
    assert proc.returncode == rc, proc.stderr
    calls = log.read_text().splitlines()
    assert any(
        c.startswith("kafka-configs.sh")
        and "--entity-name hashwatch.posts.raw" in c
        and "retention.ms=-1" in c
        for c in calls
    )
    assert not any("--create" in c and "--topic hashwatch.posts.raw " in c for c in calls)
    assert any("--create" in c and "--topic hashwatch.posts.enriched " in c for c in calls)
    assert ("MISMATCH hashwatch.posts.raw has 4 partitions" in proc.stderr) == (rc == 1)


# --- Prometheus rules --------------------------------------------------------------------


def test_the_alert_rules_use_metrics_the_worker_exports() -> None:
    [rules] = checks.load_yaml(checks.DEPLOY / "prometheus-rules.yml")
    assert checks.rules_problems(rules) == []
    assert "hashwatch_store_outage" in checks.exported_metrics()
    rules["groups"][0]["rules"][0]["expr"] = "max(hashwatch_store_outages) == 1"
    assert checks.rules_problems(rules) == [
        "HashwatchStoreOutage: no such metric ['hashwatch_store_outages']"
    ]
