"""Worker processes that migrate tenants, each on a database connection of its own.

Alembic keeps the migration in progress in module-level proxies (`alembic.op`,
`alembic.context`): two migrations at once in one process would run each other's operations.
So tenants run in parallel in processes, not threads. The workers are forked from the run:
they start with its loaded revisions and configured environment (no imports, no second Alembic
start-up), take tenant names over a pipe, one at a time, and answer with the outcome. The run
keeps the migration lock; a worker never takes it, and stops when the run is gone.

A worker dies of SIGTERM and ignores Ctrl-C: the run decides. Its transaction ends with its
connection, so a revision in progress is rolled back by PostgreSQL.
"""

import asyncio
import logging
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from multiprocessing.connection import Connection as PipeEnd
from multiprocessing.connection import wait
from multiprocessing.context import ForkProcess
from typing import Any, Generic, TypeAlias, TypeVar

from sqlalchemy import Connection, pool
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.exc import DBAPIError

from ..db import create_engine, explain_connection_error
from ..settings import ConfigurationError, Settings
from . import session

log = logging.getLogger("alembic.env.tenants")

Outcome = TypeVar("Outcome")
Work: TypeAlias = Callable[[Connection, str], Any]
# Generic for type checkers only.
Pipe: TypeAlias = "PipeEnd[Any, Any]"
# What the run sends to stop a worker.
STOP = None
# What a worker sends back: ("done", outcome), or ("no connection", why) and it exits.
DONE = "done"
NO_CONNECTION = "no connection"
WAIT_SECONDS = 1.0
STOP_SECONDS = 10.0


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class Worker:
    def __init__(self, process: ForkProcess, pipe: Pipe) -> None:
        self.process = process
        self.pipe = pipe
        self.tenant: str | None = None  # in progress


class WorkerPool(Generic[Outcome]):
    """`size` forked workers, each running `work(connection, tenant)` on its own connection;
    `lost(tenant, why)` is the outcome of a tenant whose worker died."""

    def __init__(
        self,
        size: int,
        settings: Settings,
        work: Callable[[Connection, str], Outcome],
        lost: Callable[[str, str], Outcome],
        run_connection: Connection,
    ) -> None:
        fork = multiprocessing.get_context("fork")
        self.lost = lost
        self.wait_on_event_loop = event_loop_wait(run_connection)
        self.workers: list[Worker] = []
        for _ in range(size):
            ours, theirs = fork.Pipe()
            # A worker keeps no copy of the run's ends: when the run dies, the worker reads EOF.
            inherited = [worker.pipe for worker in self.workers] + [ours]
            process = fork.Process(
                target=serve, args=(theirs, inherited, settings, work), daemon=True
            )
            process.start()
            theirs.close()
            self.workers.append(Worker(process, ours))

    def __enter__(self) -> "WorkerPool[Outcome]":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run(self, tenants: Iterable[str]) -> Iterator[tuple[str, Outcome]]:
        """Each tenant's outcome, in the order the workers finish them."""
        queue = deque(tenants)
        self.hand_out(queue)
        while busy := [worker for worker in self.workers if worker.tenant is not None]:
            for worker in self.ready(busy):
                tenant, worker.tenant = worker.tenant, None
                assert tenant is not None
                try:
                    kind, answer = worker.pipe.recv()
                except (EOFError, OSError):
                    self.retire(worker)
                    why = f"its worker process died (exit code {worker.process.exitcode})"
                    kind, answer = DONE, self.lost(tenant, why)
                if kind == NO_CONNECTION:
                    queue.appendleft(tenant)
                    self.could_not_connect(worker, answer)
                    continue
                self.hand_out(queue)
                yield tenant, answer
        if queue:
            raise ConfigurationError("every worker process died: see the errors above")

    def retire(self, worker: Worker) -> None:
        self.workers.remove(worker)
        worker.process.join()
        worker.pipe.close()

    def could_not_connect(self, worker: Worker, why: str) -> None:
        self.retire(worker)
        if not self.workers:
            raise ConfigurationError(why)
        log.warning("A worker could not connect, %d go on: %s", len(self.workers), why)

    def hand_out(self, queue: deque[str]) -> None:
        for worker in self.workers:
            if queue and worker.tenant is None:
                worker.tenant = queue.popleft()
                worker.pipe.send(worker.tenant)

    def ready(self, busy: list[Worker]) -> list[Worker]:
        waiting: dict[Any, Worker] = {worker.pipe: worker for worker in busy}
        waiting |= {worker.process.sentinel: worker for worker in busy}
        if self.wait_on_event_loop is None:
            ready = wait(list(waiting), WAIT_SECONDS)
        else:
            self.wait_on_event_loop([worker.pipe.fileno() for worker in busy], WAIT_SECONDS)
            ready = wait(list(waiting), 0)
        return list(dict.fromkeys(waiting[handle] for handle in ready))

    def stop(self) -> None:
        """Idle workers finish and disconnect; a busy one (the run was interrupted) is killed."""
        for worker in self.workers:
            if worker.tenant is None:
                with suppress(OSError):
                    worker.pipe.send(STOP)
            else:
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.pipe.close()
        self.workers = []


def event_loop_wait(connection: Connection) -> Callable[[list[int], float], None] | None:
    """A wait that runs the run's event loop, so SIGTERM and Ctrl-C reach the run meanwhile."""
    driver = connection.connection.dbapi_connection
    if not isinstance(driver, AdaptedConnection):
        return None

    def wait_on_event_loop(handles: list[int], seconds: float) -> None:
        driver.run_async(lambda _: readable(handles, seconds))

    return wait_on_event_loop


async def readable(handles: list[int], seconds: float) -> None:
    """Return when one of the file descriptors can be read, or after `seconds`."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    for handle in handles:
        loop.add_reader(handle, wake)
    try:
        await asyncio.wait({ready}, timeout=seconds)
    finally:
        for handle in handles:
            loop.remove_reader(handle)


def serve(pipe: Pipe, inherited: list[Pipe], settings: Settings, work: Work) -> None:
    """A worker's life: connect, then migrate each tenant the run sends until told to stop."""
    for other in inherited:
        other.close()
    # The run's event loop listens on this descriptor: a signal here must not wake it.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    asyncio.run(connect_and_serve(pipe, settings, work))


async def connect_and_serve(pipe: Pipe, settings: Settings, work: Work) -> None:
    engine = create_engine(settings, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(serve_tenants, pipe, settings, work)
    except (OSError, DBAPIError) as error:
        pipe.send((NO_CONNECTION, explain_connection_error(settings.database_url, error)))
    finally:
        await engine.dispose()


def serve_tenants(connection: Connection, pipe: Pipe, settings: Settings, work: Work) -> None:
    version = connection.dialect.server_version_info or (0,)
    session.apply(connection, session.session_settings(settings, int(version[0])), is_local=False)
    connection.commit()
    while (tenant := receive(pipe)) is not STOP:
        pipe.send((DONE, work(connection, tenant)))


def receive(pipe: Pipe) -> str | None:
    try:
        tenant: str | None = pipe.recv()
    except EOFError:  # the run is gone
        return STOP
    return tenant
