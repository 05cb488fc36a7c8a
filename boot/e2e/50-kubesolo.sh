#!/bin/sh
# The test OS's stand-in for KubeSolo OS's stage that starts the KubeSolo service
# (Kubernetes). The e2e releases run no Kubernetes: their health checks use
# disk_writable and probe_url, and the `hang` release waits for an API server that
# never comes (its kubeconfig never appears), as on a device whose Kubernetes is broken.
echo "KSOLO-E2E: stage kubesolo: no Kubernetes in the test OS (mode $(cat /etc/kubesolo-e2e/mode))"
