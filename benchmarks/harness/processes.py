import asyncio
import contextlib
import ctypes
import json
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Linux: a child gets SIGTERM if the benchmark itself is killed (SIGKILL skips our cleanup).
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: TextIO
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def exited(self) -> RuntimeError | None:
        if self.process.poll() is None:
            return None
        return RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_summary(self) -> str:
        """Events the process logged (at warning and above, as the benchmarks run it), by name."""
        events: Counter[str] = Counter()
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                try:
                    events[str(json.loads(line).get("event", "?"))] += 1
                except (ValueError, AttributeError):
                    events["(not JSON)"] += 1
        return ", ".join(f"{k} ×{v}" for k, v in events.most_common(8)) or "none"


class Processes:
    """Children started by the benchmark; `stop_all` ends each of them by pid and is safe to call twice."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str], port: int = 0) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("w")
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the children itself
            preexec_fn=_die_with_parent,
        )
        child = Child(name, process, log_path, log_file, f"http://127.0.0.1:{port}")
        self.children.append(child)
        return child

    def stop_all(self, grace_s: float = 5.0) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.terminate()
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(timeout=grace_s)
            child.log_file.close()
        self.children.clear()


async def wait_ready(session: aiohttp.ClientSession, child: Child, path: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exited := child.exited():
            raise exited
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(child.url + path, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status == 200:
                    return await resp.json()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {path} within {timeout_s:.0f} s:\n{child.log_tail()}")
