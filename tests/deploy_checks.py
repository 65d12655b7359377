"""Checks of deploy/ that run offline: each returns the problems it finds as sentences.

The schemas catch misspelled or mistyped fields: the Compose Specification's JSON Schema
(vendored in ``fixtures/compose-spec``) and the Kubernetes API schemas bundled in
``kubernetes-validate`` (strict: unknown fields are errors). The rest is what no schema knows:
the commands exist in our CLI, the variables are settings we read, secrets are never written in
clear, a collector runs as one copy, and the names one file refers to exist in another.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import warnings
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import click
import jsonschema
import kubernetes_validate
import yaml
from pydantic import AliasChoices

from pipeline.cli import main
from pipeline.core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_SCHEMA = Path(__file__).parent / "fixtures" / "compose-spec" / "compose-spec.json"
# The oldest Kubernetes we support and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())

Doc = dict[str, Any]

# Values that must come from a Secret (k8s) or a secrets/*.env file (compose), never in clear.
SECRET_ENV = frozenset(
    {
        "HASHWATCH_STORE",  # carries the database password
        "X_BEARER_TOKEN",
        "MASTODON_TOKEN",
        "BLUESKY_APP_PASSWORD",
        "HASHWATCH_DASHBOARD_TOKEN",
        "HASHWATCH_WEBHOOK_SECRET",
    }
)
# Read by the Mastodon and Bluesky collectors, built alongside this (issue 11).
COLLECTOR_ENV = frozenset(
    {
        "MASTODON_TOKEN",
        "BLUESKY_JETSTREAM_URL",
        "BLUESKY_API_URL",
        "BLUESKY_HANDLE",
        "BLUESKY_APP_PASSWORD",
    }
)
COMING_COLLECTORS = frozenset({"mastodon", "bluesky"})  # accepted while not yet in the CLI


def settings_env() -> frozenset[str]:
    """Every environment variable ``Settings`` reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return frozenset(names)


def known_env() -> frozenset[str]:
    return settings_env() | COLLECTOR_ENV


# --- loading -----------------------------------------------------------------------------


def load_yaml(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_manifests() -> list[tuple[str, Doc]]:
    """(file name, resource) for every manifest in deploy/k8s except the kustomization."""
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load_yaml(path)
    ]


def env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of a compose env file (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {p[0].strip(): p[1] for p in pairs if len(p) == 2 and not p[0].startswith("#")}


# --- the CLI -----------------------------------------------------------------------------


def cli_problem(argv: Sequence[str]) -> str | None:
    """None when ``argv`` is ``hashwatch …`` naming a real command with options it accepts.

    Parses as click does, group by group, without running anything.
    """
    if not argv or argv[0] != "hashwatch":
        return f"{list(argv)}: not a hashwatch command"
    command: click.Command = main
    args, ctx = list(argv[1:]), None
    try:
        while True:
            ctx = command.make_context(command.name or "hashwatch", args, parent=ctx)
            if not isinstance(command, click.Group):
                return None
            with warnings.catch_warnings():  # deprecated in click 8.2, still the way to ask
                warnings.simplefilter("ignore", DeprecationWarning)
                rest = [*ctx.protected_args, *ctx.args]
            if not rest:
                return f"{list(argv)}: no command given to {command.name}"
            if command.name == "collect" and rest[0] in COMING_COLLECTORS - set(command.commands):
                return None
            name, sub, args = command.resolve_command(ctx, rest)
            if sub is None:
                return f"{list(argv)}: no command {name}"
            command = sub
    except click.UsageError as exc:
        return f"{list(argv)}: {exc.format_message()}"


# --- compose -----------------------------------------------------------------------------


@cache
def _compose_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(COMPOSE_SCHEMA.read_text()))


def compose_schema_errors(doc: Doc) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in _compose_validator().iter_errors(doc)]


def _env_file_paths(service: Doc) -> list[str]:
    files = service.get("env_file", [])
    files = [files] if isinstance(files, str) else files
    return [f["path"] if isinstance(f, dict) else f for f in files]


def example_of(env_path: str) -> Path:
    """The committed example of an env file compose reads (the real one is never committed)."""
    if env_path.startswith("secrets/"):
        return DEPLOY / "secrets.example" / env_path.removeprefix("secrets/")
    return DEPLOY / f"{env_path}.example"


def compose_problems(doc: Doc) -> list[str]:
    problems: list[str] = []
    services: dict[str, Doc] = doc.get("services", {})
    partitions = int(env_file(example_of("hashwatch.env"))["HASHWATCH_PARTITIONS"])
    for name, service in services.items():
        command = service.get("command", [])
        ours = bool(command) and command[0] == "hashwatch"
        for dep in service.get("depends_on", {}):
            if dep not in services:
                problems.append(f"{name}: depends on {dep}, which is not a service")
        for path in _env_file_paths(service):
            example = example_of(path)
            if not example.is_file():
                problems.append(f"{name}: env file {path} has no example {example.name}")
                continue
            names = set(env_file(example))
            if ours and (unknown := names - known_env()):
                problems.append(f"{name}: {path} sets unknown variables {sorted(unknown)}")
            if not path.startswith("secrets/") and (leaked := names & SECRET_ENV):
                problems.append(f"{name}: {path} holds secrets {sorted(leaked)}")
        if not ours:
            continue
        environment = set(service.get("environment", {}))
        if unknown := environment - known_env():
            problems.append(f"{name}: unknown variables {sorted(unknown)}")
        if leaked := environment & SECRET_ENV:
            problems.append(f"{name}: secrets written in clear {sorted(leaked)}")
        if problem := cli_problem(command):
            problems.append(f"{name}: {problem}")
        replicas = int(service.get("deploy", {}).get("replicas", service.get("scale", 1)))
        if "collect" in command and replicas != 1:
            problems.append(f"{name}: a collector runs as one copy, not {replicas}")
        if "worker" in command and replicas > partitions:
            problems.append(f"{name}: {replicas} workers for {partitions} partitions")
    for name in ("kafka", "postgres", "worker", "dashboard"):
        if "healthcheck" not in services.get(name, {}):
            problems.append(f"{name}: no healthcheck")
    return problems


# --- Kubernetes --------------------------------------------------------------------------


def k8s_schema_errors(doc: Doc) -> list[str]:
    errors = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            errors.append(f"{_name(doc)} (k8s {version}): {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{_name(doc)}: {e.message}")
    return errors


def _name(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def _of_kind(docs: Sequence[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _containers(deployment: Doc) -> Iterator[Doc]:
    yield from deployment["spec"]["template"]["spec"].get("containers", [])


def k8s_problems(docs: Sequence[Doc]) -> list[str]:
    problems: list[str] = []
    deployments = _of_kind(docs, "Deployment")
    configmaps = _of_kind(docs, "ConfigMap")
    secret_keys = {
        (name, key)
        for name, secret in _of_kind(docs, "Secret").items()
        for key in {**secret.get("data", {}), **secret.get("stringData", {})}
    }
    claims = set(_of_kind(docs, "PersistentVolumeClaim"))
    settings = configmaps.get("hashwatch-settings", {}).get("data", {})
    if unknown := set(settings) - known_env():
        problems.append(f"ConfigMap hashwatch-settings: unknown variables {sorted(unknown)}")
    if leaked := set(settings) & SECRET_ENV:
        problems.append(f"ConfigMap hashwatch-settings: secrets in clear {sorted(leaked)}")
    partitions = int(settings.get("HASHWATCH_PARTITIONS", 0))

    for name, d in deployments.items():
        spec, pod = d["spec"], d["spec"]["template"]["spec"]
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        if not _selects(spec["selector"].get("matchLabels", {}), labels):
            problems.append(f"{name}: the selector does not match the pod's labels")
        for volume in pod.get("volumes", []):
            if (cm := volume.get("configMap")) and cm["name"] not in configmaps:
                problems.append(f"{name}: volume from missing ConfigMap {cm['name']}")
            pvc = volume.get("persistentVolumeClaim")
            if pvc and pvc["claimName"] not in claims:
                problems.append(f"{name}: volume from missing claim {pvc['claimName']}")
        for c in _containers(d):
            problems += [f"{name}: {p}" for p in _container_problems(c, configmaps, secret_keys)]
            command = c.get("command", [])
            if "collect" in command and (
                spec.get("replicas", 1) != 1 or spec.get("strategy", {}).get("type") != "Recreate"
            ):
                problems.append(f"{name}: a collector needs replicas 1 and strategy Recreate")
            if "worker" in command and spec.get("replicas", 1) > partitions:
                problems.append(f"{name}: {spec['replicas']} workers for {partitions} partitions")

    workers = [d for d in deployments.values() if d["metadata"]["name"].endswith("-worker")]
    pdbs = _of_kind(docs, "PodDisruptionBudget").values()
    for w in workers:
        labels = w["spec"]["template"]["metadata"]["labels"]
        if not any(_selects(p["spec"]["selector"]["matchLabels"], labels) for p in pdbs):
            problems.append(f"{w['metadata']['name']}: no PodDisruptionBudget selects it")
    for name, svc in _of_kind(docs, "Service").items():
        pods = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
        if not any(_selects(svc["spec"].get("selector", {}), labels) for labels in pods):
            problems.append(f"Service {name}: selects no Deployment's pods")
    return problems


def _container_problems(
    c: Doc, configmaps: Mapping[str, Doc], secret_keys: set[tuple[str, str]]
) -> Iterator[str]:
    name = c["name"]
    if problem := cli_problem(c.get("command", [])):
        yield f"{name}: {problem}"
    for source in c.get("envFrom", []):
        if (ref := source.get("configMapRef")) and ref["name"] not in configmaps:
            yield f"{name}: env from missing ConfigMap {ref['name']}"
        if "secretRef" in source:
            yield f"{name}: takes a whole Secret; name the keys it needs (secretKeyRef)"
    for var in c.get("env", []):
        if var["name"] not in known_env():
            yield f"{name}: unknown variable {var['name']}"
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if var["name"] in SECRET_ENV and ref is None:
            yield f"{name}: {var['name']} written in clear (use a secretKeyRef)"
        if ref and (ref["name"], ref["key"]) not in secret_keys:
            yield f"{name}: {var['name']} from missing Secret key {ref['name']}/{ref['key']}"
    ports = {p.get("name") for p in c.get("ports", [])}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = c.get(probe, {}).get("httpGet", {}).get("port")
        if isinstance(port, str) and port not in ports:
            yield f"{name}: {probe} on unknown port {port}"
    resources = c.get("resources", {})
    if "requests" not in resources or "memory" not in resources.get("limits", {}):
        yield f"{name}: needs resource requests and a memory limit"


def kustomization_problems() -> list[str]:
    listed = set(load_yaml(K8S / "kustomization.yaml")[0]["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    return [f"kustomization.yaml lists missing {f}" for f in sorted(listed - files)] + [
        f"kustomization.yaml leaves out {f}" for f in sorted(files - listed)
    ]


# --- topics ------------------------------------------------------------------------------


def parse_topic_plan(output: str) -> dict[str, tuple[int, dict[str, str]]]:
    """topic -> (partitions, configs) from ``create-topics.sh --dry-run``."""
    plan = {}
    for line in output.splitlines():
        argv = shlex.split(line)
        if "--create" not in argv:
            continue
        topic = argv[argv.index("--topic") + 1]
        partitions = int(argv[argv.index("--partitions") + 1])
        configs = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "--config")
        plan[topic] = (partitions, configs)
    return plan


def topic_plan_problems(
    plan: Mapping[str, tuple[int, Mapping[str, str]]],
    code: Mapping[str, int],
    evidence: Sequence[str],
    compacted: Sequence[str],
) -> list[str]:
    """Every topic the code uses is planned with its partition count; evidence is kept
    forever and state topics are compacted."""
    problems = []
    for topic, partitions in code.items():
        if topic not in plan:
            problems.append(f"create-topics.sh does not create {topic}")
        elif plan[topic][0] != partitions:
            problems.append(f"{topic}: {plan[topic][0]} partitions, the code uses {partitions}")
    for topic in evidence:
        configs = plan.get(topic, (0, {}))[1]
        if configs.get("retention.ms") != "-1" or configs.get("cleanup.policy") != "delete":
            problems.append(f"{topic}: evidence must be kept (retention.ms=-1, delete)")
    for topic in compacted:
        if plan.get(topic, (0, {}))[1].get("cleanup.policy") != "compact":
            problems.append(f"{topic}: must be compacted")
    return problems


# --- Prometheus rules --------------------------------------------------------------------

METRIC_NAME = re.compile(r"\bhashwatch_[a-z_]+")


def exported_metrics() -> frozenset[str]:
    """Every series name a worker's /metrics can show: hashwatch's and Faust's sensor's."""
    from faust.sensors.prometheus import FaustMetrics
    from prometheus_client import CollectorRegistry

    from pipeline.core.counters import LatencyHistogram, StageCounters
    from pipeline.ops.prometheus import HashwatchCollector

    registry = CollectorRegistry()
    registry.register(
        HashwatchCollector(
            StageCounters(), sink_healthy=asyncio.Event(), sink_latency=LatencyHistogram()
        )
    )
    FaustMetrics.create(registry, "hashwatch_faust")
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    return frozenset(
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    )


def rules_problems(doc: Doc) -> list[str]:
    problems = []
    exported = exported_metrics()
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert", "?")
            if unknown := set(METRIC_NAME.findall(rule["expr"])) - exported:
                problems.append(f"{name}: no such metric {sorted(unknown)}")
            if "severity" not in rule.get("labels", {}) or "summary" not in rule.get(
                "annotations", {}
            ):
                problems.append(f"{name}: needs a severity label and a summary")
    return problems
