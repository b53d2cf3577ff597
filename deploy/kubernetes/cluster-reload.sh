#!/bin/sh
# Runs the sharded fan-out of cluster-reload-job.yaml in order: every leaf
# shard (an Indexed Job) must complete before the aggregators Job starts
# (child aggregators, then the master). Exit 0 only when both completed.
#
#   deploy/kubernetes/cluster-reload.sh [MANIFEST]
#
# Environment: NAMESPACE (default: kubectl's current), TIMEOUT seconds per
# phase (default 900), KUBECTL (default kubectl).
set -eu

manifest=${1:-$(dirname "$0")/cluster-reload-job.yaml}
kubectl=${KUBECTL:-kubectl}
timeout=${TIMEOUT:-900}
ns=""
[ -n "${NAMESPACE:-}" ] && ns="--namespace=$NAMESPACE"

# k runs kubectl with the namespace, if one was given.
k() {
  # shellcheck disable=SC2086
  "$kubectl" $ns "$@"
}

# phase NAME JOB: start the Job labelled ssld.io/phase=NAME and wait until it
# completes (exit 0) or fails / times out (exit 1).
phase() {
  k apply -f "$manifest" -l "ssld.io/phase=$1" >/dev/null
  waited=0
  while :; do
    state=$(k get job "$2" -o 'jsonpath={range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
    case " $state " in
      *" Complete "*) echo "cluster-reload: $1: complete"; return 0 ;;
      *" Failed "*) echo "cluster-reload: $1: FAILED; see: kubectl logs -l ssld.io/phase=$1" >&2; return 1 ;;
    esac
    if [ "$waited" -ge "$timeout" ]; then
      echo "cluster-reload: $1: not complete after ${timeout}s" >&2
      return 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

# A previous run's Jobs (same names) would make apply a no-op.
k delete job -l app.kubernetes.io/name=ssld-cluster-reload --ignore-not-found --wait=true >/dev/null

phase leaves ssld-cluster-reload-leaves || {
  echo "cluster-reload: the aggregators were not touched" >&2
  exit 1
}
phase aggregators ssld-cluster-reload-aggregators
