import asyncio
import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a live process, in kB; empty once it is gone."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def peak_mb(pid: int) -> float | None:
    hwm = memory_kb(pid).get("VmHWM")
    return hwm / 1024 if hwm else None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def machine_busy_seconds() -> float:
    """CPU time all CPUs have spent not idle since boot, from /proc/stat."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        guest = sum(ticks[8:10])  # already counted in user and nice
        return (sum(ticks) - idle - guest) / os.sysconf("SC_CLK_TCK")
    return 0.0


def pids_named(name: str) -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError):
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
    return found


def tcp_connections(pid: int, port: int) -> int:
    """Established TCP connections from a process to `port` on this host, from /proc (0 once it is gone)."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    found = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if cols[2].endswith(f":{port:04X}") and cols[3] == "01" and cols[9] in inodes:
                    found += 1
    return found


@dataclass(frozen=True)
class CpuClock:
    """CPU time used by the benchmark's processes, by this one (the load generator) and by the whole machine.

    Read once before and once after a run; `after.since(before)` is what the run used.
    """

    by_pid: dict[int, float]
    client_s: float
    busy_s: float

    @classmethod
    def read(cls, pids: Iterable[int]) -> "CpuClock":
        return cls({pid: cpu_seconds(pid) for pid in pids}, time.process_time(), machine_busy_seconds())

    def since(self, before: "CpuClock") -> "CpuClock":
        by_pid = {pid: s - before.by_pid.get(pid, 0.0) for pid, s in self.by_pid.items()}
        return CpuClock(by_pid, self.client_s - before.client_s, self.busy_s - before.busy_s)

    def of(self, *pids: int) -> float:
        return sum(self.by_pid.get(pid, 0.0) for pid in pids)

    @property
    def other_s(self) -> float:
        """CPU used by processes outside the benchmark (and Redis): noise when high."""
        return max(0.0, self.busy_s - self.client_s - sum(self.by_pid.values()))


class RssSampler:
    """Samples VmRSS of the measured processes; `peak_mb` is the highest sample since `reset`."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.1) -> None:
        self.pids, self.every_s = pids, every_s
        self._peak_kb: dict[str, int] = dict.fromkeys(pids, 0)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for name, pid in self.pids.items():
            rss = memory_kb(pid).get("VmRSS", 0)
            self._peak_kb[name] = max(self._peak_kb[name], rss)

    def reset(self) -> None:
        self._peak_kb = dict.fromkeys(self.pids, 0)
        self.sample()

    def peak_mb(self, name: str) -> float:
        self.sample()
        return self._peak_kb[name] / 1024

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)

    def __enter__(self) -> "RssSampler":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
