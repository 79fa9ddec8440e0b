#!/usr/bin/env bash
# Run one migration phase as a Job and wait for it: exit 0 when it succeeded; otherwise show
# its log and exit 1. Usage: deploy/kubernetes/migrate.sh pre-deploy|post-deploy
set -euo pipefail

phase=${1:-}
if [[ $phase != pre-deploy && $phase != post-deploy ]]; then
    echo "migrate.sh: the phase is '$phase': use pre-deploy or post-deploy" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
job=job/{{ cookiecutter.project_slug | kubernetes_name }}-$phase

# A Job runs once: the previous release's must go before this one's starts.
kubectl delete "$job" --ignore-not-found --wait=true
kubectl apply -k "$here/$phase"
# Waits at most the Job's activeDeadlineSeconds: Kubernetes marks it failed after that. A pod
# that cannot start (a missing secret key, an image that cannot be pulled) would only wait.
pods="job-name=${job#job/}"
while true; do
    status=$(kubectl get "$job" -o 'jsonpath={.status.succeeded}/{.status.failed}')
    case $status in
        1/*) kubectl logs "$job"; exit 0 ;;
        */?*) break ;;
    esac
    waiting=$(kubectl get pods -l "$pods" -o 'jsonpath={..state.waiting.reason}')
    case $waiting in
        *CreateContainerConfigError* | *ErrImagePull* | *ImagePullBackOff* | *InvalidImageName*)
            kubectl delete "$job" --wait=false
            echo "migrate.sh: the $phase Job's pod cannot start ($waiting): \`kubectl describe pods -l $pods\` says why; the database is unchanged" >&2
            exit 1 ;;
    esac
    sleep 5
done
kubectl logs "$job" >&2 || true
echo "migrate.sh: the $phase Job failed (its log is above); see docs/runbook.md" >&2
exit 1
