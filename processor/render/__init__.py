"""Deployments generated from kbridge.yaml: ``kbridge render k8s|compose``.

A hand-written manifest per target drifts from the configuration it runs; here one process
plan (``plan.py``) is read from kbridge.yaml and written out as Kubernetes manifests
(``k8s.py``, with KEDA and Prometheus alert rules in ``alerts.py``) or a docker-compose file
(``compose.py``). Nothing here talks to Kafka: rendering is offline and deterministic, so the
checked-in ``deploy/k8s`` and ``docker-compose.yml`` are kept equal to the output by a test.
"""
