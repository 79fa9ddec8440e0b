"""A pause inside a migration run that Ctrl-C and SIGTERM still end at once."""

import asyncio
import time

from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.util import await_only


def pause(seconds: float) -> None:
    """Sleep on the event loop when env.py runs on the async driver, else in the thread.

    Revisions run in a greenlet of the event loop: a time.sleep() there would also stop the
    loop, so the SIGTERM handler (errors.connected) would only run once the sleep is over.
    """
    try:
        await_only(asyncio.sleep(seconds))
    except MissingGreenlet:
        time.sleep(seconds)
