"""Running a gateway app for integration tests: uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from confluent_kafka import Message

from processor.gateway.protocol import GatewayProtocol

ReadBack = Callable[[str, int], list[Message]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: Any, http: Any = GatewayProtocol, **options: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port (lifespan on); yields its base URL.

    ``http``: the protocol, kbridge's as ``kbridge gateway`` serves (or ``"httptools"``);
    ``options``: more ``uvicorn.Config`` settings (``timeout_keep_alive``)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            http=http,
            **options,
        )
    )
    thread = threading.Thread(target=server.run, name="gateway-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
