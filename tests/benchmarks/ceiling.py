"""Scenario 1, the ceiling: a bare aiokafka consume→produce loop, as fast as Python goes here.

Batch fetch with ``getmany``, no decoding, one same-size result per request produced with the
request's key (so it lands on the same partition number) without awaiting each delivery, and a
flush when told to stop (SIGTERM). It connects as every client of ours does, from the
``ACTIONSTREAM_KAFKA__*`` settings (TLS and SASL included). Run as its own process::

    python -m benchmarks.ceiling --requests T1 --results T2 --group G --result-size 230
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from processors.settings import Settings
from topics.connection import client_options

READY = "ceiling: ready"


async def relay(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    connection = client_options(Settings().kafka)
    consumer = AIOKafkaConsumer(
        args.requests,
        **connection,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    producer = AIOKafkaProducer(**connection, acks="all")
    await producer.start()
    await consumer.start()
    result = bytes(args.result_size)  # a result's size; its content does not matter here
    relayed = 0
    ready = False
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            if not ready and consumer.assignment():
                print(READY, flush=True)
                ready = True
            for records in batch.values():
                for record in records:
                    await producer.send(args.results, value=result, key=record.key)
                relayed += len(records)
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()
    print(f"ceiling: relayed {relayed} records", flush=True)
    return relayed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--result-size", type=int, required=True)
    asyncio.run(relay(parser.parse_args()))


if __name__ == "__main__":
    main()
