"""Unsigned-body benchmark (issue 7): how much memory a flood of large unsigned POSTs costs the service.

    uv run python -m benchmarks.unsigned_flood              # about 15 s
    uv run python -m benchmarks.unsigned_flood --uploads 400

`serve --sandbox` runs in its own process (no Redis, no Notion: the bodies never get past the signature check).
Raw connections, all at once, each send a POST of `--size-kb` as fast as the service takes it, in two rounds:
with no signature header, and with a forged one (which makes the service read the body before refusing it).
The service's resident memory is sampled every 10 ms; the report gives its peak above the idle process and the
answers. Target: under 100 MB above idle for 200 uploads of 900 KB (before issue 7: 207 MB, 63 → 270 MB).
"""

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

from benchmarks.harness.processes import Processes, free_port, wait_ready
from benchmarks.harness.sampling import RssSampler
from benchmarks.harness.stack import base_env, sentry_notion

TARGET_MB = 100.0


async def upload(port: int, size: int, signature: str | None) -> str:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = "POST /sentry/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {size}\r\n"
        if signature is not None:
            head += f"Sentry-Hook-Signature: {signature}\r\n"
        writer.write((head + "\r\n").encode() + b"x" * size)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 30)
        writer.close()
        return status.decode(errors="replace").split(" ")[1] if status else "no answer"
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__


async def flood(args: argparse.Namespace, processes: Processes) -> list[tuple[str, float, Counter[str]]]:
    port = free_port()
    argv = [*sentry_notion(), "serve", "--sandbox", "--port", str(port)]
    service = processes.start("service", argv, base_env(), port)
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, service, "/healthz")
    rounds = []
    for name, signature in (("no signature header", None), ("forged signature", "0" * 64)):
        await asyncio.sleep(1)  # the previous round's connections are gone
        with RssSampler({"service": service.pid}, every_s=0.01) as rss:
            rss.reset()
            idle = rss.peak_mb("service")
            answers = await asyncio.gather(*(upload(port, args.size_kb * 1000, signature) for _ in range(args.uploads)))
            await asyncio.sleep(0.5)
            rounds.append((name, rss.peak_mb("service") - idle, Counter(answers)))
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.unsigned_flood", description=__doc__)
    parser.add_argument("--uploads", type=int, default=200, help="concurrent uploads per round (default 200)")
    parser.add_argument("--size-kb", type=int, default=900, help="body size of each, KB (default 900)")
    args = parser.parse_args(argv)
    processes = Processes(Path(tempfile.mkdtemp(prefix="bench-flood-")))
    try:
        rounds = asyncio.run(flood(args, processes))
    finally:
        processes.stop_all()
    print(f"{args.uploads} concurrent unsigned uploads of {args.size_kb} KB\n")
    print("| Round | Peak RSS above idle, MB | Answers | target |")
    print("|---|---:|---|---|")
    for name, grown_mb, answers in rounds:
        verdict = "PASS" if grown_mb < TARGET_MB else "FAIL"
        shown = ", ".join(f"{status} ×{n}" for status, n in sorted(answers.items()))
        print(f"| {name} | {grown_mb:.0f} | {shown} | {verdict} (< {TARGET_MB:.0f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
