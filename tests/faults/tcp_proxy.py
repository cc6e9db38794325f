"""A TCP proxy in a process of its own, to stall a connection without closing it.

    python -m tests.faults.tcp_proxy LISTEN_PORT TARGET_PORT

Forwards every connection to 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. SIGSTOP it and
every connection through it stalls (nothing is forwarded, nothing is closed, as a lost route
or a hung middlebox would do); SIGCONT and they carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.servers import free_port, wait_for_port

HOST = "127.0.0.1"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()


async def _serve(listen: int, target: int) -> None:
    async def connected(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(HOST, target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    server = await asyncio.start_server(connected, HOST, listen)
    async with server:
        await server.serve_forever()


class Proxy:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def stall(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@contextmanager
def tcp_proxy(target: int) -> Iterator[Proxy]:
    """A proxy to 127.0.0.1:`target` on a free port, stopped (and resumed first) at the end."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.faults.tcp_proxy", str(port), str(target)]
    process = subprocess.Popen(argv)
    proxy = Proxy(process, port)
    try:
        wait_for_port(port)
        yield proxy
    finally:
        proxy.resume()
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), int(sys.argv[2])))
