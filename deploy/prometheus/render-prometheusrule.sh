#!/usr/bin/env bash
# Print the PrometheusRule (Prometheus Operator) holding the groups of actionstream-rules.yaml:
#
#   bash deploy/prometheus/render-prometheusrule.sh > deploy/prometheus/actionstream-prometheusrule.yaml
#
# The rules file is the one to edit; tests/deploy/test_observability.py fails when the
# PrometheusRule is not what this prints. Its text is copied indented under `spec:`, comments
# included, so the reasons for each threshold travel with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

cat <<'HEADER'
# GENERATED from actionstream-rules.yaml by render-prometheusrule.sh: edit that file, then run
#   bash deploy/prometheus/render-prometheusrule.sh > deploy/prometheus/actionstream-prometheusrule.yaml
#
# kubectl apply -f deploy/prometheus/actionstream-prometheusrule.yaml
#
# Your Prometheus' ruleSelector decides which PrometheusRules it loads (kube-prometheus-stack's
# default wants the label `release: <its release name>`): add it in your overlay (kustomize
# `labels:`) rather than here, this file is rewritten.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: actionstream
  namespace: actionstream
  labels:
    app.kubernetes.io/name: actionstream
    app.kubernetes.io/component: alerts
    app.kubernetes.io/part-of: actionstream
spec:
HEADER
# Everything from `groups:` on, indented under spec (blank lines stay blank).
sed -n '/^groups:/,$p' actionstream-rules.yaml | sed -e 's/^\(.\)/  \1/'
