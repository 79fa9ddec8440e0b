"""The app plus a few endpoints of the tests' own, so that the tests of error handling, limits
and database faults hold whichever models are baked.

`app_with_probe` is also a uvicorn factory: `uvicorn --factory tests.probe:app_with_probe`.
"""

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import text

from {{ cookiecutter.package_name }}.api.deps import SessionDep
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

router = APIRouter(prefix="/probe")


class Note(BaseModel):
    text: str = Field(max_length=100)
    count: int = Field(ge=0)


@router.post("/notes")
async def echo(note: Note) -> Note:
    return note


@router.get("/database")
async def database(session: SessionDep) -> int:
    answer: int = await session.scalar(text("SELECT 1"))
    return answer


@router.get("/lookup")
async def lookup(session: SessionDep, email: str) -> None:
    """A statement that fails, with a parameter that must not reach an error or a log."""
    await session.execute(
        text("SELECT * FROM no_such_table WHERE email = :email"), {"email": email}
    )
{%- if cookiecutter.database == "postgresql" %}


@router.get("/sleep")
async def sleep(session: SessionDep, seconds: float) -> None:
    await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})


@router.get("/unchecked")
async def unchecked(session: SessionDep, word: str = "", number: int = 0) -> None:
    """Values handed to the database unbounded, as by an endpoint that forgot to check them."""
    statement = text("SELECT CAST(:word AS text), CAST(:number AS integer)")
    await session.execute(statement, {"word": word, "number": number})
{%- elif cookiecutter.database == "mysql" %}


@router.get("/endless")
async def endless(session: SessionDep) -> None:
    """Billions of rows: only the statement timeout ends it (SLEEP() may return quietly)."""
    await session.execute(
        text(
            "SELECT COUNT(*) FROM information_schema.COLLATIONS AS a, "
            "information_schema.COLLATIONS AS b, information_schema.COLLATIONS AS c, "
            "information_schema.COLLATIONS AS d"
        )
    )


@router.get("/unchecked")
async def unchecked(session: SessionDep, word: str = "", number: int = 0) -> None:
    """Values handed to the database unbounded, as by an endpoint that forgot to check them.

    MySQL's strict mode refuses a value that does not fit only when it is stored, never in a
    SELECT; the temporary table is the connection's own, and the insert is rolled back.
    """
    await session.execute(
        text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS probe_unchecked "
            "(word VARCHAR(10) NOT NULL, number INT NOT NULL)"
        )
    )
    await session.execute(
        text("INSERT INTO probe_unchecked (word, number) VALUES (:word, :number)"),
        {"word": word, "number": number},
    )
{%- endif %}


def app_with_probe(settings: Settings | None = None) -> FastAPI:
    app = create_app(settings)
    app.include_router(router)
    return app
