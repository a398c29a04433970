"""The kbridge demo: the design's three scenarios end to end, outside the runtime package.

``kbridge demo`` (or ``make demo``, or ``python -m kbridge_demo run``) applies
``examples/kbridge.yaml``, starts the gateway, router, sink workers and the Kafka source as
subprocesses, stands in for the IM platforms and a mail server, sends sample events and
prints a summary. Nothing in :mod:`processor` imports this package except the thin
``kbridge demo`` command; it may import :mod:`processor` (it is a kbridge user).

Modules: :mod:`~kbridge_demo.run` (the run and its summary), :mod:`~kbridge_demo.receivers`
(stand-in IM webhooks and SMTP), :mod:`~kbridge_demo.supervisor` (the subprocesses),
:mod:`~kbridge_demo.scenarios` (what is sent), :mod:`~kbridge_demo.observe` (metrics,
topics, tables), :mod:`~kbridge_demo.survey` (the ``survey-aggregate`` function, entry point
group ``kbridge.functions``), :mod:`~kbridge_demo.files` (finding ``kbridge.yaml``).
"""
