#!/usr/bin/env bash
# Create every topic hashwatch uses on an Apache Kafka cluster, with the partition count,
# replication and retention or compaction chosen for each; on topics that already exist, set
# the same configs and check the partition count. Safe to run again at any time.
#
# Run it before the first worker starts. hashwatch creates any topic still missing itself, but
# with replication factor 1 and the broker's default retention: right for the embedded broker,
# wrong for a cluster that keeps evidence.
#
#   HASHWATCH_BROKER=kafka://kafka-1:9092,kafka-2:9092 HASHWATCH_PARTITIONS=12 \
#       deploy/create-topics.sh [--dry-run]
#
# Environment (the HASHWATCH_* ones are the workers' own settings: give the same values):
#   HASHWATCH_BROKER        kafka://host:port[,host:port] or host:port[,...]     (required)
#   HASHWATCH_PARTITIONS    partitions of the keyed topics = most workers that do work (required)
#   HASHWATCH_TOPIC_PREFIX  prefix of every topic                           (default hashwatch)
#   REPLICATION_FACTOR      replicas of every topic                                 (default 3)
#   MIN_INSYNC_REPLICAS     min.insync.replicas          (default 2; 1 if REPLICATION_FACTOR < 3)
#   EVIDENCE_RETENTION_MS   posts, dead letters, alerts, metrics    (default -1: keep forever)
#   KAFKA_BIN               folder of kafka-topics.sh and kafka-configs.sh
#                           (default: the one on PATH, else /opt/kafka/bin)
#   KAFKA_COMMAND_CONFIG    client properties file (TLS, SASL) passed as --command-config
#
# --dry-run prints the commands an empty cluster would get, and calls nothing.
# The retention and compaction of each topic are explained in deploy/README.md.
set -euo pipefail

dry_run=false
case "${1:-}" in
    --dry-run) dry_run=true ;;
    "") ;;
    *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

: "${HASHWATCH_BROKER:?set HASHWATCH_BROKER=kafka://host:port (the value the workers use)}"
: "${HASHWATCH_PARTITIONS:?set HASHWATCH_PARTITIONS (the value the workers use; it cannot shrink later)}"
prefix="${HASHWATCH_TOPIC_PREFIX:-hashwatch}"
partitions="$HASHWATCH_PARTITIONS"
replication="${REPLICATION_FACTOR:-3}"
if [ "$replication" -ge 3 ]; then min_isr_default=2; else min_isr_default=1; fi
min_isr="${MIN_INSYNC_REPLICAS:-$min_isr_default}"
evidence_ms="${EVIDENCE_RETENTION_MS:--1}"
bootstrap="${HASHWATCH_BROKER#kafka://}"

if [ -z "${KAFKA_BIN:-}" ]; then
    if command -v kafka-topics.sh >/dev/null 2>&1; then
        KAFKA_BIN="$(dirname "$(command -v kafka-topics.sh)")"
    else
        KAFKA_BIN=/opt/kafka/bin
    fi
fi
client=(--bootstrap-server "$bootstrap")
if [ -n "${KAFKA_COMMAND_CONFIG:-}" ]; then
    client+=(--command-config "$KAFKA_COMMAND_CONFIG")
fi

# One line per topic: name, partitions, configs. Keep in step with pipeline/core/topics.py and
# the worker's tables (tests/test_deploy.py fails when a topic of the code is missing here).
plan() {
    local p="$partitions" worker="$prefix-worker"
    local evidence="cleanup.policy=delete retention.ms=$evidence_ms retention.bytes=-1"
    local latest="cleanup.policy=compact"  # keyed by id, the latest value wins
    # The public contract: what was collected and what the pipeline made of it is evidence.
    echo "$prefix.posts.raw $p $evidence"
    echo "$prefix.posts.enriched $p $evidence"
    echo "$prefix.deadletter $p $evidence"
    echo "$prefix.alerts $p $evidence"
    echo "$prefix.metrics $p $evidence"
    echo "$prefix.gaps $p $latest"
    echo "$prefix.collections $p $latest"
    # The ledger's input, one partition: it rebuilds its state by reading this log from the
    # start after a restart, so it is kept as long as the campaign's state matters (forever).
    echo "$prefix.internal.facts 1 $evidence"
    # Faust's leader topic.
    echo "$worker-__assignor-__leader 1 cleanup.policy=delete"
}

run() {
    if $dry_run; then
        printf '%q ' "$@"
        echo
    else
        "$@"
    fi
}

create() {  # name partitions config...
    local name="$1" parts="$2"
    shift 2
    local flags=()
    for c in "$@" "min.insync.replicas=$min_isr"; do flags+=(--config "$c"); done
    run "$KAFKA_BIN/kafka-topics.sh" "${client[@]}" --create --if-not-exists --topic "$name" \
        --partitions "$parts" --replication-factor "$replication" "${flags[@]}"
}

update() {  # name partitions config...: an existing topic gets the configs; partitions must match
    local name="$1" parts="$2" have
    shift 2
    local configs
    configs="$(IFS=,; echo "$*,min.insync.replicas=$min_isr")"
    "$KAFKA_BIN/kafka-configs.sh" "${client[@]}" --alter --entity-type topics \
        --entity-name "$name" --add-config "$configs"
    have="$("$KAFKA_BIN/kafka-topics.sh" "${client[@]}" --describe --topic "$name" |
        awk '{ for (i = 1; i < NF; i++) if ($i == "PartitionCount:") { print $(i + 1); exit } }')"
    if [ "$have" != "$parts" ]; then
        echo "MISMATCH $name has $have partitions, hashwatch expects $parts" >&2
        return 1
    fi
}

existing=""
if ! $dry_run; then
    existing="$("$KAFKA_BIN/kafka-topics.sh" "${client[@]}" --list)"
fi

status=0
while read -r name parts configs; do
    # shellcheck disable=SC2086  # configs is a space-separated list on purpose
    if grep -qxF "$name" <<<"$existing"; then
        echo "exists: $name (setting configs)" >&2
        update "$name" "$parts" $configs || status=1
    else
        $dry_run || echo "create: $name ($parts partitions, replication $replication)" >&2
        create "$name" "$parts" $configs
    fi
done < <(plan)

if [ "$status" -ne 0 ]; then
    echo "Partition counts differ from HASHWATCH_PARTITIONS: Faust's tables need the count" \
        "their changelogs were created with. Use the topics' count, or a new topic prefix." >&2
fi
exit "$status"
