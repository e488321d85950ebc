"""A real headless Chromium (Debian's `chromium`, which scripts/setup installs), driven over the DevTools
protocol: a page is loaded, typed into and read as a person sees it, and photographed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets


class Page:
    def __init__(self, socket: websockets.ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command's result (events that arrive meanwhile are skipped)."""
        call = next(self._ids)
        await self._socket.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            message = json.loads(await self._socket.recv())
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.until("document.readyState === 'complete' && location.href !== 'about:blank'")

    async def until(self, condition: str, within: float = 20) -> None:
        deadline = time.monotonic() + within
        while not await self.evaluate(f"Boolean({condition})"):
            assert time.monotonic() < deadline, f"the page never got to: {condition}"
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def _devtools_port(profile: str) -> int | None:
    """The port Chromium wrote once its DevTools listen (`--remote-debugging-port=0`: one the OS chose)."""
    written = Path(profile) / "DevToolsActivePort"
    text = written.read_text().strip() if written.exists() else ""
    return int(text.split()[0]) if text else None


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    """A headless Chromium with one blank page, ended afterwards."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: scripts/setup installs Debian's chromium package")
    # Chromium's helper processes may still be writing to the profile a moment after it exits.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = await asyncio.create_subprocess_exec(
            binary,
            "--headless=new",
            "--no-sandbox",  # the suite runs as root, where Chromium's sandbox will not start
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its renderer and helper processes in one group, ended together
        )
        try:
            deadline = time.monotonic() + 30
            while (port := _devtools_port(profile)) is None:
                assert browser.returncode is None, "chromium exited at start"
                assert time.monotonic() < deadline, "chromium did not open its DevTools port"
                await asyncio.sleep(0.1)
            async with httpx.AsyncClient() as http:
                targets = (await http.get(f"http://127.0.0.1:{port}/json")).json()
            target = next(t for t in targets if t["type"] == "page")
            async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as socket:
                page = Page(socket)
                await page.send("Page.enable")
                yield page
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(browser.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(browser.pid, signal.SIGKILL)
                await browser.wait()
