"""Helpers shared by the tests: a worker in a subprocess, topic readers, test integrations."""
