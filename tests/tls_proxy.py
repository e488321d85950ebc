"""Proxies whose network can be cut and restored: plain TCP (a home uplink to storage), and TLS-terminating in
front of the Temporal dev server, as a home GPU worker meets a real cluster (deploy/nginx/temporal-mtls.conf)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from comfyloom.localstack import HOST, free_port


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
    shutil.copy(Path(__file__).parents[1] / "deploy" / "make-certs.sh", script)
    subprocess.run(["sh", str(script), "localhost", "gpu-test"], check=True, capture_output=True)
    certs = folder / "certs"
    return Pki(
        ca=certs / "ca.pem",
        server_cert=certs / "server.pem",
        server_key=certs / "server.key",
        client_cert=certs / "gpu-test.pem",
        client_key=certs / "gpu-test.key",
    )


class Proxy:
    """Pipes a port of its own to a target, plaintext or behind `context`'s TLS: a network that can be cut."""

    def __init__(self, target: str, context: ssl.SSLContext | None = None) -> None:
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.context = context
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

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.connections -= {writer, upstream_writer}


class TlsProxy(Proxy):
    """Accepts mTLS (HTTP/2 by ALPN, as gRPC needs) on a port of its own and pipes to a plaintext target."""

    def __init__(self, target: str, pki: Pki) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(pki.server_cert, pki.server_key)
        context.set_alpn_protocols(["h2"])
        super().__init__(target, context)
