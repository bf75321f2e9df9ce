"""The Redis clients the worker hands around: one server (or a Sentinel's master), or a cluster.

Both offer the commands, scripts and pipelines actionstream uses; code that takes a client takes
:data:`RedisClient` and never asks which it got. Every multi-key call keeps its keys on one hash
tag, so the cluster client can route it to one slot.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis, RedisCluster

RedisClient: TypeAlias = Redis | RedisCluster

__all__ = ["RedisClient"]
