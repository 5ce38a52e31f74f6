"""Headless Chromium driven over the DevTools protocol, for the viewer's browser tests.

Chromium talks CDP over two pipes (``--remote-debugging-pipe``: it reads
commands on fd 3 and writes answers and events on fd 4, messages separated by
NUL bytes), so no websocket client or network port is needed. WebGL runs on
SwiftShader (software), which headless Chromium ships.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import tempfile
import time

import numpy as np

INSTALL_HINT = (
    "the viewer's browser test needs Chromium: install Debian's package with `apt-get install -y chromium` "
    "(as root; .ci/run does this), or set TUMBLE_CHROMIUM to a Chromium/Chrome executable"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    env = os.environ.get("TUMBLE_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium process with one page attached.

    ``events`` collects every CDP event seen so far (console messages,
    exceptions, network requests).
    """

    def __init__(self, executable: str, width: int = 640, height: int = 480):
        self._profile = tempfile.mkdtemp(prefix="tumble-chromium-")
        to_child, self._write = os.pipe()
        self._read_fd, from_child = os.pipe()
        args = [executable, *FLAGS, f"--window-size={width},{height}", f"--user-data-dir={self._profile}"]
        # posix_spawn puts the pipe ends on fds 3 and 4 without running Python code in a
        # forked child (a preexec_fn would, which is unsafe next to JAX's threads).
        actions = [(os.POSIX_SPAWN_DUP2, to_child, 3), (os.POSIX_SPAWN_DUP2, from_child, 4)]
        actions += [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
        argv = [*args, "--remote-debugging-pipe", "about:blank"]
        self.pid = os.posix_spawn(executable, argv, os.environ, file_actions=actions)
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._id = 0
        self.events: list[dict] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})
        self.session = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.page(f"{domain}.enable")
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.page("Emulation.setDeviceMetricsOverride", metrics)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60.0):
        """Sends one command and returns its result (events that arrive meanwhile go to ``events``)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def page(self, method: str, params: dict | None = None, timeout: float = 60.0):
        """``send`` to the attached page."""
        return self.send(method, params, self.session, timeout)

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium exited (closed its DevTools pipe)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str, timeout: float = 60.0):
        """Value of a JavaScript expression in the page (promises awaited); page exceptions raise."""
        result = self.page(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, timeout
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        """Polls ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"{expression!r} stayed false for {timeout} s")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append(str(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(params["entry"].get("text", ""))
        return out

    def requests(self) -> list[str]:
        """URLs of every network request the page made."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def pixels(self) -> np.ndarray:
        """The viewer canvas as drawn now, (height, width, 4) uint8, top row first."""
        px = self.evaluate("tumble.pixels()")
        data = np.frombuffer(base64.b64decode(px["data"]), np.uint8).reshape(px["height"], px["width"], 4)
        return data[::-1]  # GL rows start at the bottom

    def close(self) -> None:
        """Asks Chromium to quit (it then ends its helper processes), killing it if it does not."""
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        deadline = time.monotonic() + 5
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.05)
        os.close(self._write)
        os.close(self._read_fd)
        shutil.rmtree(self._profile, ignore_errors=True)
