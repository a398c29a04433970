"""The webhook sink's HTTP/1.1 client (processor/sinks/http/wire.py) against real loopback
HTTP servers: keep-alive, chunked and close-delimited bodies, Connection: close, interim 1xx,
timeouts, the pool limit, stale connections, header injection, the SSRF guard and TLS.

The servers are raw asyncio servers in this process that write exact response bytes, so
each framing case of RFC 9112 is exercised as a server would really send it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from processor.config.connections import OAuthClientCredentialsConnection
from processor.errors import BackpressureError, FatalError
from processor.netguard import SsrfRefused
from processor.sinks.base import Delivery
from processor.sinks.http import signing
from processor.sinks.http.status import outcome, transport_error
from processor.sinks.http.wire import WirePool
from processor.sinks.webhook import WebhookSink
from tests.support.tls import self_signed_certificate

Request = tuple[bytes, bytes]  # head (request line + headers), body
Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request; returns False to stop serving the connection (and close it)."""

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Server:
    """A loopback HTTP/1.1 server that records requests and counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head, body))
                if not await self.handler((head, body), writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def serving(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=ssl_context)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


def answer(data: bytes, keep: bool = True) -> Handler:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        return keep

    return handler


def pool(**overrides: object) -> WirePool:
    settings: dict[str, object] = {
        "timeout": 2.0,
        "allow_private_network": True,
        "max_connections": 4,
    }
    settings.update(overrides)
    return WirePool(**settings)  # type: ignore[arg-type]


async def test_keep_alive_reuses_one_connection_and_sends_exact_bytes() -> None:
    async with serving(answer(OK)) as server:
        client = pool(headers={"User-Agent": "kbridge-webhook/1"})
        url = f"http://127.0.0.1:{server.port}/hook/a?x=1"
        for i in range(3):
            response = await client.request("POST", url, {"X-N": str(i)}, b"body-%d" % i)
            assert (response.status_code, response.content) == (200, b"ok")
        await client.close()
    assert server.connections == 1
    head, body = server.requests[2]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hook/a?x=1 HTTP/1.1"
    # RFC 9112 section 3.2: Host carries the port when it is not the scheme's default
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "X-N: 2" in lines and "User-Agent: kbridge-webhook/1" in lines
    assert "Content-Length: 6" in lines and body == b"body-2"


async def test_chunked_response_is_dechunked() -> None:
    # RFC 9112 section 7.1: chunk sizes in hex, a zero-size chunk ends the body
    chunked = (
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    )
    async with serving(answer(chunked)) as server:
        client = pool()
        url = f"http://127.0.0.1:{server.port}/"
        first = await client.request("POST", url, {}, b"{}")
        second = await client.request("POST", url, {}, b"{}")
        await client.close()
    assert (first.status_code, first.content, first.text) == (202, b"hello, world", "hello, world")
    assert second.content == b"hello, world"
    assert server.connections == 1  # a chunked body ends without closing: reused


async def test_connection_close_and_close_delimited_body() -> None:
    # RFC 9112 section 6.3 item 8: no length and no chunking -> the body ends at the close
    unframed = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
    async with serving(answer(unframed, keep=False)) as server:
        client = pool()
        url = f"http://127.0.0.1:{server.port}/"
        first = await client.request("POST", url, {}, b"a")
        second = await client.request("POST", url, {}, b"b")
        await client.close()
    assert first.content == second.content == b"until the end"
    assert server.connections == 2  # Connection: close -> a fresh connection each time


async def test_interim_100_continue_is_skipped() -> None:
    # RFC 9110 section 15.2: a client must be able to parse 1xx responses before the final one
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    async with serving(answer(data)) as server:
        client = pool()
        response = await client.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"x")
        await client.close()
    assert (response.status_code, response.content) == (200, b"ok")


async def test_status_and_retry_after_reach_the_status_table() -> None:
    throttled = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nslow"
    async with serving(answer(throttled)) as server:
        client = pool()
        response = await client.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"x")
        await client.close()
    error = outcome(response)
    assert isinstance(error, BackpressureError) and error.retry_after == 7.0
    assert "HTTP 429 from 127.0.0.1: slow" in str(error)


async def test_a_silent_server_times_out_as_a_retriable_timeout() -> None:
    async def never(request: Request, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(10)
        return False

    async with serving(never) as server:
        client = pool(timeout=0.3)
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout) as caught:
            await client.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"x")
        elapsed = asyncio.get_running_loop().time() - started
        await client.close()
    assert 0.25 < elapsed < 1.5
    assert transport_error(caught.value).code == "timeout"


async def test_refused_connection_is_a_retriable_connection_error() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    client = pool()
    with pytest.raises(httpx.ConnectError) as caught:
        await client.request("POST", f"http://127.0.0.1:{port}/", {}, b"x")
    assert transport_error(caught.value).code == "connection"


@pytest.mark.parametrize("pause", [0.05, 0.0])
async def test_a_stale_keep_alive_connection_is_replaced(pause: float) -> None:
    # the server answers, then closes the connection without saying so: the next request
    # must not fail, whether the close was seen while idle (0.05) or races the request (0)
    async with serving(answer(OK, keep=False)) as server:
        client = pool()
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(3):
            assert (await client.request("POST", url, {}, b"x")).status_code == 200
            await asyncio.sleep(pause)
        await client.close()
    assert server.connections == 3


async def test_the_pool_never_opens_more_than_max_connections() -> None:
    async def slow(request: Request, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(OK)
        return True

    async with serving(slow) as server:
        client = pool(max_connections=2)
        url = f"http://127.0.0.1:{server.port}/"
        responses = await asyncio.gather(
            *(client.request("POST", url, {}, b"x") for _ in range(10))
        )
        await client.close()
    assert [r.status_code for r in responses] == [200] * 10
    assert server.most_open <= 2 and server.connections == 2


async def test_a_full_pool_times_out_waiting_for_a_connection() -> None:
    async def slow(request: Request, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(1.0)
        writer.write(OK)
        return True

    async with serving(slow) as server:
        client = pool(max_connections=1, timeout=0.3)
        url = f"http://127.0.0.1:{server.port}/"
        results = await asyncio.gather(
            *(client.request("POST", url, {}, b"x") for _ in range(2)), return_exceptions=True
        )
        await client.close()
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["PoolTimeout", "ReadTimeout"]


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b"])
async def test_header_injection_is_refused_before_sending(value: str) -> None:
    async with serving(answer(OK)) as server:
        client = pool()
        with pytest.raises(httpx.LocalProtocolError):
            await client.request("POST", f"http://127.0.0.1:{server.port}/", {"X": value}, b"")
        await client.close()
    assert server.requests == []


async def test_ssrf_guard_refuses_loopback_unless_allowed() -> None:
    async with serving(answer(OK)) as server:
        url = f"http://127.0.0.1:{server.port}/"
        guarded = pool(allow_private_network=False)
        with pytest.raises(SsrfRefused):
            await guarded.request("POST", url, {}, b"x")
        # a token host allowed by name (an OAuth endpoint whose connection allows it)
        named = pool(allow_private_network=False, private_hosts=["127.0.0.1"])
        assert (await named.request("POST", url, {}, b"x")).status_code == 200
        await named.close()
    assert len(server.requests) == 1  # the refused request never connected


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate valid for the address 127.0.0.1 only."""
    return self_signed_certificate(tmp_path_factory.mktemp("webhook-tls"), "kbridge test webhook")


async def test_tls_verifies_the_certificate_and_the_host_name(
    certificate: tuple[Path, Path],
) -> None:
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(*certificate)
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    async with serving(answer(OK), ssl_context=server_side) as server:
        ok = pool(ssl_context=trusting)
        response = await ok.request("POST", f"https://127.0.0.1:{server.port}/", {}, b"x")
        assert response.content == b"ok"
        await ok.close()
        # the default trust store does not know the self-signed certificate
        default = pool()
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await default.request("POST", f"https://127.0.0.1:{server.port}/", {}, b"x")
        # the certificate names 127.0.0.1, not localhost: refused although it is trusted
        wrong_name = pool(ssl_context=trusting)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await wrong_name.request("POST", f"https://localhost:{server.port}/", {}, b"x")
    assert len(server.requests) == 1


async def test_webhook_sink_over_the_wire_client() -> None:
    """Per-item outcomes through WebhookSink: 2xx delivered, 400 permanent, ids in headers."""

    async def judge(request: Request, writer: asyncio.StreamWriter) -> bool:
        rejected = b"X-Kbridge-Event-Id: id-1\r\n" in request[0]
        writer.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad" if rejected else OK
        )
        return True

    async with serving(judge) as server:
        sink = WebhookSink(
            f"http://user:pa%20ss@127.0.0.1:{server.port}/in",
            allow_private_network=True,
            concurrency=2,
        )
        await sink.setup()
        items = [
            Delivery(
                value=b'{"n": %d}' % i,
                headers={"ce_id": f"id-{i}", "ce_source": "s", "ce_type": "t"},
                offset=i,
            )
            for i in range(3)
        ]
        outcomes = await sink.deliver(items)
        await sink.close()
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], FatalError) and outcomes[1].code == "http-400"
    heads = [head.decode() for head, _ in server.requests]
    assert all("ce-specversion: 1.0" in h and "ce-source: s" in h for h in heads)
    # credentials in the URL become Basic auth as httpx sent them (RFC 7617: user:pass base64)
    assert all("Authorization: Basic dXNlcjpwYSBzcw==" in h for h in heads)
    assert server.connections <= 2


async def test_oauth_refresh_on_401_and_signature_over_the_wire_client() -> None:
    """The token comes from the httpx side client, deliveries go over the wire client; a
    token the server revoked gets a 401, a fresh token and one more try, with a valid
    X-Kbridge-Signature on every delivery."""
    tokens = iter(["t1", "t2"])
    state = {"valid": ""}

    async def handle(request: Request, writer: asyncio.StreamWriter) -> bool:
        head = request[0]
        if head.startswith(b"POST /token "):
            state["valid"] = next(tokens)
            token = b'{"access_token": "%s", "expires_in": 3600}' % state["valid"].encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(token), token)
            )
        elif f"Authorization: Bearer {state['valid']}\r\n".encode() in head:
            writer.write(OK)
        else:
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        return True

    async with serving(handle) as server:
        base = f"http://127.0.0.1:{server.port}"
        connection = OAuthClientCredentialsConnection(
            name="o",
            token_url=f"{base}/token",
            client_id="cid",
            client_secret=SecretStr("cs"),
            allow_private_network=True,
        )
        sink = WebhookSink(
            f"{base}/in", connection=connection, secret="s3cret", allow_private_network=True
        )
        await sink.setup()
        item = Delivery(value=b'{"n": 1}', headers={"ce_id": "a", "ce_source": "s"})
        assert await sink.deliver([item, item]) == [None, None]
        state["valid"] = "revoked-by-server"
        assert await sink.deliver([item]) == [None]
        await sink.close()
    token_fetches = [h for h, _ in server.requests if h.startswith(b"POST /token ")]
    deliveries = [(h, b) for h, b in server.requests if h.startswith(b"POST /in ")]
    assert len(token_fetches) == 2
    assert len(deliveries) == 4  # 2 + (401, then again with the new token)
    for head, body in deliveries:
        line = next(x for x in head.decode().split("\r\n") if x.startswith(signing.HEADER))
        assert signing.verify("s3cret", body, line.split(": ", 1)[1])


async def test_a_closed_sink_set_up_again_delivers_and_a_configured_host_is_sent_once() -> None:
    async with serving(answer(OK)) as server:
        url = f"http://127.0.0.1:{server.port}/in"
        item = Delivery(value=b"{}", headers={"ce_id": "a", "ce_source": "s"})
        sink = WebhookSink(url, allow_private_network=True)
        assert await sink.deliver([item]) == [None]
        await sink.close()
        assert await sink.deliver([item]) == [None]  # deliver sets a closed sink up again
        await sink.close()
        # a virtual host from the target's headers replaces the URL's (as httpx did)
        vhost = WebhookSink(url, headers={"Host": "api.example"}, allow_private_network=True)
        assert await vhost.deliver([item]) == [None]
        await vhost.close()
    hosts = [
        [line for line in head.decode().split("\r\n") if line.lower().startswith("host:")]
        for head, _ in server.requests
    ]
    assert hosts[-1] == ["Host: api.example"]
    assert hosts[0] == [f"Host: 127.0.0.1:{server.port}"]
