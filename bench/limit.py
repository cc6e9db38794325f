"""The limit: the fastest this machine hands mail to the sink.

Messages are personalised and turned into bytes before the clock starts; then each client
process sends its share with smtplib over one persistent connection. Holding 100,000 messages of
27 KB would take 2.7 GB, so the N transactions cycle through a pool of pre-rendered messages
(each one a real member's, sent to that member's address).
"""

from __future__ import annotations

import multiprocessing
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from multiprocessing.synchronize import Barrier

from bench import data
from bench.sink import HOST
from newsletter.config import get_settings
from newsletter.rendering import OutgoingMessage

POOL_SIZE = 5000


@dataclass(frozen=True)
class LimitRun:
    clients: int
    members: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.members / self.seconds


def prerender(count: int, now: datetime) -> list[OutgoingMessage]:
    """Members 1..count's digests, as bytes ready for smtplib."""
    prepared = data.prepared_digests(now)
    return [
        prepared[data.member_topics(i)].personalise(data.recipient(i)) for i in range(1, count + 1)
    ]


def _client(
    pool: list[OutgoingMessage], share: range, port: int, start: Barrier, done: Barrier
) -> None:
    sender = parseaddr(get_settings().FROM_ADDRESS)[1]
    client = smtplib.SMTP(HOST, port, local_hostname="bench.localhost", timeout=30)
    client.ehlo()
    start.wait(timeout=60)
    for index in share:
        message = pool[index % len(pool)]
        refused = client.sendmail(sender, [message.to], message.data)
        if refused:
            raise RuntimeError(f"the sink refused {message.to}: {refused}")
    done.wait(timeout=600)
    client.quit()


def run_limit(pool: list[OutgoingMessage], members: int, clients: int, port: int) -> LimitRun:
    """Send `members` messages from `clients` processes; the clock runs from the first message
    of any client to the last message of all of them."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(clients + 1)
    done = context.Barrier(clients + 1)
    processes = [
        context.Process(target=_client, args=(pool, range(k, members, clients), port, start, done))
        for k in range(clients)
    ]
    for process in processes:
        process.start()
    try:
        start.wait(timeout=60)
        began = time.perf_counter()
        done.wait(timeout=max(120.0, members / 100))
        seconds = time.perf_counter() - began
        for process in processes:
            process.join(timeout=30)
        if any(process.exitcode != 0 for process in processes):
            raise RuntimeError("a limit client failed; see its traceback above")
        return LimitRun(clients, members, seconds)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
