"""Requests per second and latency of the baked app on one uvicorn worker, beside a bare FastAPI
app served the same way in the same run, so the app's own overhead shows as a ratio.

uv run python -m bench.api_throughput [--seconds 3] [--repeats 3]
"""

import argparse
import asyncio
import itertools
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import clean_env, install, median, remove, scratch_database, sqlalchemy_url
from bench.report import ms, table
from tests.helpers import bake

CONNECTIONS = 10
WARM_UP_SECONDS = 0.5
START_UP_SECONDS = 60
# The same paths and bodies as the example endpoints, without database, middleware or handlers.
BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Author(BaseModel):
    name: str
    email: str


@app.get("/authors/{author_id}")
async def read(author_id: int) -> dict[str, object]:
    return {"id": author_id, "name": "Bench", "email": "bench@example.com"}


@app.post("/authors", status_code=201)
async def write(author: Author) -> dict[str, object]:
    return {"id": 1, **author.model_dump()}
"""
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
EMAILS = itertools.count()


def read_request(author_id: int) -> Callable[[], bytes]:
    request = f"GET /authors/{author_id} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    return lambda: request


def write_request() -> bytes:
    # Every write is a new author: a repeated email would measure the 409 path instead.
    body = b'{"name": "Bench", "email": "bench-%d@example.com"}' % next(EMAILS)
    return (
        b"POST /authors HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


@dataclass
class Run:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[bytes, bytes]:
    """One request over an open keep-alive connection: the response's head and body."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(head)
    return head, await reader.readexactly(int(length.group(1)) if length else 0)


async def load(port: int, request: Callable[[], bytes], seconds: float) -> Run:
    """CONNECTIONS keep-alive connections, each sending its next request when the last returns."""
    loop = asyncio.get_running_loop()
    run = Run(seconds)
    deadline = loop.time() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while loop.time() < deadline:
            started = time.perf_counter()
            head, _ = await exchange(reader, writer, request())
            run.latencies.append(time.perf_counter() - started)
            run.failures += not head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 201"))
        writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return run


def measure_case(port: int, request: Callable[[], bytes], seconds: float) -> Run:
    asyncio.run(load(port, request, WARM_UP_SECONDS))
    return asyncio.run(load(port, request, seconds))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(project: Path, target: str, app_dir: Path, **environment: str) -> Iterator[int]:
    """One uvicorn worker serving target; yields its port once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [
            *(str(project / ".venv/bin/python"), "-m", "uvicorn", target),
            *("--app-dir", str(app_dir), "--port", str(port), "--workers", "1"),
            *("--no-access-log", "--log-level", "warning"),
        ],
        cwd=project,
        env=clean_env(**environment),
    )
    try:
        deadline = time.monotonic() + START_UP_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn {target} did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait()


def first_author(port: int) -> int:
    async def create() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head, body = await exchange(reader, writer, write_request())
        writer.close()
        found = re.search(rb'"id":\s*(\d+)', body)
        if not head.startswith(b"HTTP/1.1 201") or not found:
            raise RuntimeError(f"creating an author failed: {head!r} {body!r}")
        return int(found.group(1))

    return asyncio.run(create())


def measure(project: Path, seconds: float = 3.0, repeats: int = 3) -> str:
    """The markdown section: medians over repeats, cases interleaved round-robin."""
    package = next((project / "src").iterdir()).name
    scratch = Path(tempfile.mkdtemp(prefix="bench-api-"))
    (scratch / "bare_app.py").write_text(BARE_APP)
    runs: dict[tuple[str, str], list[Run]] = {}
    try:
        with scratch_database() as dsn:
            url = sqlalchemy_url(dsn)
            subprocess.run(
                [str(project / ".venv/bin/alembic"), "upgrade", "head"],
                cwd=project,
                env=clean_env(DATABASE_URL=url),
                check=True,
                capture_output=True,
            )
            app = serving(project, f"{package}.main:app", project / "src", DATABASE_URL=url)
            bare = serving(project, "bare_app:app", scratch)
            with app as app_port, bare as bare_port:
                author = first_author(app_port)
                cases = [
                    ("read", "bare", bare_port, read_request(author)),
                    ("read", "app", app_port, read_request(author)),
                    ("write", "bare", bare_port, write_request),
                    ("write", "app", app_port, write_request),
                ]
                for repeat in range(repeats):
                    # Alternate the order, so a busy moment does not always hit the same case.
                    for kind, server, port, request in cases[:: 1 if repeat % 2 == 0 else -1]:
                        run = measure_case(port, request, seconds)
                        runs.setdefault((kind, server), []).append(run)
    finally:
        remove(scratch)
    return report(runs, seconds, repeats)


def report(runs: dict[tuple[str, str], list[Run]], seconds: float, repeats: int) -> str:
    def stat(kind: str, server: str, pick: Callable[[Run], float]) -> float:
        return median([pick(run) for run in runs[kind, server]])

    rows = []
    for kind, endpoint in (("read", "GET /authors/{id}"), ("write", "POST /authors")):
        bare, app = (stat(kind, server, lambda run: run.per_second) for server in ("bare", "app"))
        failures = sum(run.failures for run in runs[kind, "app"] + runs[kind, "bare"])
        rows.append(
            [
                f"{endpoint} ({kind})",
                f"{bare:.0f}",
                f"{app:.0f}",
                f"{app / bare:.2f}" if bare else "nan",
                *(
                    ms(stat(kind, server, lambda run, q=q: run.percentile(q)))
                    for q in (0.5, 0.99)
                    for server in ("bare", "app")
                ),
                str(failures),
            ]
        )
    headers = [
        "endpoint",
        "bare req/s",
        "app req/s",
        "app/bare",
        "bare p50 ms",
        "app p50 ms",
        "bare p99 ms",
        "app p99 ms",
        "non-2xx",
    ]
    return (
        f"## API throughput, one uvicorn worker ({CONNECTIONS} keep-alive connections, "
        f"{seconds:g} s per case, median of {repeats})\n\n" + table(headers, rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per case")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        project = bake(scratch / "postgresql")
        install(project)
        print(measure(project, args.seconds, args.repeats))
    finally:
        remove(scratch)


if __name__ == "__main__":
    main()
