"""Benchmarks (issue #7): ``make bench`` runs them all; see :mod:`benchmarks.run`.

Not a test package: nothing here is named ``test_*``, so pytest never collects it. Every module
runs against the real local stack (Kafka 127.0.0.1:9092, Redis 6379) with ``tests/`` on
``PYTHONPATH``.
"""
