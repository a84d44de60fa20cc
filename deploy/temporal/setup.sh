#!/bin/sh
# Prepares the running Temporal server for the connector: creates the
# namespace and registers the custom search attributes its workflows upsert.
# Runs in the temporalio/admin-tools image once the server is healthy; safe to
# re-run (an existing namespace is kept, existing attributes are skipped).
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${TEMPORAL_NAMESPACE_RETENTION:=720h}"
export TEMPORAL_ADDRESS

# name type -- one per line. Must equal workflows.SearchAttributes; the test in
# deploy (its Go test) fails when they differ.
SEARCH_ATTRIBUTES='
AccountId Keyword
Channel Keyword
ContactIdentity Keyword
InteractionStatus Keyword
AgentId Keyword
QueueId Keyword
MigrationState Keyword
'

# retry <what> <command...>: runs command until it succeeds, at most 60
# times 2s apart, then fails with its last output.
retry() {
	what=$1
	shift
	tries=0
	until "$@" >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ "$tries" -ge 60 ]; then
			echo "temporal setup: gave up waiting for $what" >&2
			"$@"
			exit 1
		fi
		sleep 2
	done
}

retry "the cluster at $TEMPORAL_ADDRESS" temporal operator cluster health

if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
	echo "temporal setup: namespace $TEMPORAL_NAMESPACE exists"
else
	echo "temporal setup: creating namespace $TEMPORAL_NAMESPACE (retention $TEMPORAL_NAMESPACE_RETENTION)"
	temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$TEMPORAL_NAMESPACE_RETENTION" ||
		temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null
fi
# A new namespace reaches the frontend's namespace cache a few seconds after
# it is created; until then search-attribute calls answer "not found".
retry "namespace $TEMPORAL_NAMESPACE" temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE"

echo "$SEARCH_ATTRIBUTES" | while read -r name type; do
	[ -n "$name" ] || continue
	echo "temporal setup: search attribute $name ($type)"
	retry "search attribute $name" temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "$type"
done

temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE"
echo "temporal setup: done"
