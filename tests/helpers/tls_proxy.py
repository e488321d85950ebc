"""Proxies whose network can be cut and restored: plain TCP (a home uplink to storage), and TLS-terminating in
front of the Temporal dev server, as a home GPU worker meets a real cluster (deploy/nginx/temporal-mtls.conf)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import hpack

from devstack.localstack import HOST, free_port


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(folder: Path) -> Pki:
    """The certificates an operator makes with deploy/make-certs.sh, made by that very script."""
    script = folder / "make-certs.sh"
    shutil.copy(Path(__file__).parents[2] / "deploy" / "make-certs.sh", script)
    subprocess.run(["sh", str(script), "localhost", "gpu-test"], check=True, capture_output=True)
    certs = folder / "certs"
    return Pki(
        ca=certs / "ca.pem",
        server_cert=certs / "server.pem",
        server_key=certs / "server.key",
        client_cert=certs / "gpu-test.pem",
        client_key=certs / "gpu-test.key",
    )


class GrpcGate:
    """Reads a client's HTTP/2 stream (frames, HPACK) for the gRPC method each request calls, and says which
    may pass: as the nginx door allows GPU workers only the calls they make (`location ~ <pattern>`)."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self, allowed: re.Pattern[str]) -> None:
        self.allowed = allowed
        self.decoder = hpack.Decoder()
        self.buffer = b""
        self.block = b""
        self.preface = False
        self.paths: list[str] = []
        self.refused: list[str] = []

    def feed(self, data: bytes) -> bytes | None:
        """The whole frames of `data` (and what came before) to pass on, or None: a refused call."""
        self.buffer += data
        passed = b""
        if not self.preface:
            if len(self.buffer) < len(self.PREFACE):
                return passed
            self.preface, passed, self.buffer = True, self.buffer[:24], self.buffer[24:]
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                break
            kind, flags, payload = self.buffer[3], self.buffer[4], self.buffer[9 : 9 + length]
            frame, self.buffer = self.buffer[: 9 + length], self.buffer[9 + length :]
            if kind in (0x1, 0x9):  # HEADERS, CONTINUATION
                if kind == 0x1:
                    padding = payload[0] if flags & 0x8 else 0
                    payload = payload[(1 if flags & 0x8 else 0) + (5 if flags & 0x20 else 0) : len(payload) - padding]
                self.block += payload
                if flags & 0x4:  # END_HEADERS: the request's headers are whole
                    headers = {str(name): str(value) for name, value in self.decoder.decode(self.block)}
                    self.block = b""
                    path = headers.get(":path", "")
                    self.paths.append(path)
                    if not self.allowed.fullmatch(path):
                        self.refused.append(path)
                        return None
            passed += frame
        return passed


def door_allowlist() -> re.Pattern[str]:
    """The gRPC methods deploy/nginx/temporal-mtls.conf lets a GPU worker's certificate call."""
    conf = (Path(__file__).parents[2] / "deploy" / "nginx" / "temporal-mtls.conf").read_text()
    [pattern] = re.findall(r"location ~ (\^\S+\$) \{", conf)
    return re.compile(pattern)


class Proxy:
    """Pipes a port of its own to a target, plaintext or behind `context`'s TLS: a network that can be cut.
    With `allowed`, each connection's gRPC calls pass through a GrpcGate; a refused call drops the connection."""

    def __init__(
        self, target: str, context: ssl.SSLContext | None = None, allowed: re.Pattern[str] | None = None
    ) -> None:
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.context = context
        self.allowed = allowed
        self.gates: list[GrpcGate] = []
        self.up = True
        self.connections: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, HOST, self.port, ssl=self.context)

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()

    def cut(self) -> None:
        """The network goes away: every open connection drops and new ones are closed at once."""
        self.up = False
        for writer in list(self.connections):
            writer.transport.abort()
        self.connections.clear()

    def restore(self) -> None:
        self.up = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections |= {writer, upstream_writer}
        gate = GrpcGate(self.allowed) if self.allowed else None
        if gate:
            self.gates.append(gate)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, gate: GrpcGate | None) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    passed = gate.feed(data) if gate else data
                    if passed is None:
                        writer.transport.abort()
                        break
                    sink.write(passed)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer, gate), pipe(upstream_reader, writer, None))
        self.connections -= {writer, upstream_writer}


class TlsProxy(Proxy):
    """Accepts mTLS (HTTP/2 by ALPN, as gRPC needs) on a port of its own and pipes to a plaintext target;
    with `door`, only the calls the nginx door allows a GPU worker."""

    def __init__(self, target: str, pki: Pki, *, door: bool = False) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(pki.server_cert, pki.server_key)
        context.set_alpn_protocols(["h2"])
        super().__init__(target, context, door_allowlist() if door else None)
