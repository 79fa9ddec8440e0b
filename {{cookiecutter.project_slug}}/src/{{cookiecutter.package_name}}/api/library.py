"""CRUD endpoints for the example authors and books: the shape to copy for a new resource.

Every value is bounded in its model to what its column can hold, so a client's mistake is a
422 and never a database error; lists come a page at a time; changes are single statements,
so a concurrent change or delete is a 404 rather than a lost update; failures become
responses in api/errors.py, and docs/api.md says what a client gets.
"""

from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

{% if cookiecutter.tenancy == "schema-per-tenant" -%}
from {{ cookiecutter.package_name }}.api.tenants import TenantSessionDep as SessionDep
{% else -%}
from {{ cookiecutter.package_name }}.api.deps import SessionDep
{% endif -%}
from {{ cookiecutter.package_name }}.models import Author, Book

router = APIRouter(tags=["library"])
Model = TypeVar("Model", Author, Book)
Item = TypeVar("Item", bound=BaseModel)

# The id columns are 32-bit integers: a larger id cannot exist, and cannot be sent to them.
MAX_ID = 2**31 - 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
EMAIL = r"^[^@\s]+@[^@\s]+$"
DUPLICATE_EMAIL = "an author with this email exists"

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
After = Annotated[
    int,
    Query(ge=0, le=MAX_ID, description="the `next_after` of the previous page; 0 for the first"),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="the most items to return")]


class Input(BaseModel):
    """A request body. PostgreSQL text cannot hold NUL, so no string in one may contain it."""

    @field_validator("*")
    @classmethod
    def has_no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


class AuthorIn(Input):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=320)


class AuthorPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=320)


class AuthorOut(AuthorIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


class BookIn(Input):
    title: str = Field(min_length=1, max_length=300)
    pages: int = Field(gt=0, le=100_000)
    author_id: Id


class BookPatch(Input):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    pages: int | None = Field(default=None, gt=0, le=100_000)


class BookOut(BookIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


class Page(BaseModel, Generic[Item]):
    """Items in id order. Keyset pagination: a page costs the same at any depth, and rows
    added or deleted meanwhile neither repeat nor skip items, as they would with an offset."""

    items: list[Item]
    next_after: int | None = Field(
        description="pass it as `after` for the next page; null on the last page"
    )


def not_found(model: type[Model], id_: int) -> HTTPException:
    detail = f"{model.__name__.lower()} {id_} does not exist"
    return HTTPException(status.HTTP_404_NOT_FOUND, detail)


def check_id(model: type[Model], id_: int) -> None:
    """An id its column cannot hold names no row: a 404, without asking the database."""
    if not 0 < id_ <= MAX_ID:
        raise not_found(model, id_)


async def get_or_404(session: AsyncSession, model: type[Model], id_: int) -> Model:
    check_id(model, id_)
    found = await session.get(model, id_)
    if found is None:
        raise not_found(model, id_)
    return found


async def update_or_404(session: AsyncSession, model: type[Model], id_: int, body: Input) -> Model:
    """Apply the fields the client sent in one UPDATE: a row deleted meanwhile is a 404."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return await get_or_404(session, model, id_)
    check_id(model, id_)
{%- if cookiecutter.database == "mysql" %}
    # MySQL has no UPDATE ... RETURNING. The UPDATE locks the row until the commit, so the
    # SELECT after it reads this request's change, not a concurrent one.
    connection = await session.connection()
    updated = await connection.execute(update(model).where(model.id == id_).values(changes))
    if updated.rowcount == 0:
        raise not_found(model, id_)
    found = await session.get_one(model, id_, populate_existing=True)
{%- else %}
    statement = update(model).where(model.id == id_).values(changes).returning(model)
    found: Model | None = await session.scalar(statement)
    if found is None:
        raise not_found(model, id_)
{%- endif %}
    await session.commit()
    return found


async def delete_or_404(session: AsyncSession, model: type[Model], id_: int) -> None:
    check_id(model, id_)
{%- if cookiecutter.database == "mysql" %}
    # MySQL has no DELETE ... RETURNING (MariaDB has): the count of deleted rows says the same.
    connection = await session.connection()
    deleted = await connection.execute(delete(model).where(model.id == id_))
    if deleted.rowcount == 0:
        raise not_found(model, id_)
{%- else %}
    if await session.scalar(delete(model).where(model.id == id_).returning(model.id)) is None:
        raise not_found(model, id_)
{%- endif %}
    await session.commit()


async def page_of(
    session: AsyncSession, model: type[Model], after: int, limit: int, *where: ColumnElement[bool]
) -> tuple[list[Model], int | None]:
    """Up to `limit` rows with ids above `after`; one more row tells whether a next page exists."""
    query = select(model).where(model.id > after, *where).order_by(model.id).limit(limit + 1)
    rows = list(await session.scalars(query))
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


@router.post("/authors", status_code=status.HTTP_201_CREATED)
async def create_author(body: AuthorIn, session: SessionDep) -> AuthorOut:
    author = Author(**body.model_dump())
    session.add(author)
    try:
        await session.commit()
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, DUPLICATE_EMAIL) from None
    return AuthorOut.model_validate(author)


@router.get("/authors")
async def list_authors(
    session: SessionDep, after: After = 0, limit: Limit = DEFAULT_PAGE_SIZE
) -> Page[AuthorOut]:
    """Authors in id order, a page at a time: pass each page's `next_after` as `after`."""
    authors, next_after = await page_of(session, Author, after, limit)
    items = [AuthorOut.model_validate(author) for author in authors]
    return Page[AuthorOut](items=items, next_after=next_after)


@router.get("/authors/{author_id}")
async def get_author(author_id: int, session: SessionDep) -> AuthorOut:
    author = await get_or_404(session, Author, author_id)
    return AuthorOut.model_validate(author)


@router.patch("/authors/{author_id}")
async def update_author(author_id: int, body: AuthorPatch, session: SessionDep) -> AuthorOut:
    try:
        author = await update_or_404(session, Author, author_id, body)
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, DUPLICATE_EMAIL) from None
    return AuthorOut.model_validate(author)


@router.delete("/authors/{author_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_author(author_id: int, session: SessionDep) -> None:
    try:
        await delete_or_404(session, Author, author_id)
    except IntegrityError:
        detail = f"author {author_id} has books: delete them first"
        raise HTTPException(status.HTTP_409_CONFLICT, detail) from None


@router.post("/books", status_code=status.HTTP_201_CREATED)
async def create_book(body: BookIn, session: SessionDep) -> BookOut:
    if await session.get(Author, body.author_id) is None:
        raise HTTPException(422, f"author {body.author_id} does not exist")
    book = Book(**body.model_dump())
    session.add(book)
    await session.commit()
    return BookOut.model_validate(book)


@router.get("/books")
async def list_books(
    session: SessionDep,
    author_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after: After = 0,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[BookOut]:
    """Books in id order, a page at a time, optionally only one author's."""
    where = [] if author_id is None else [Book.author_id == author_id]
    books, next_after = await page_of(session, Book, after, limit, *where)
    items = [BookOut.model_validate(book) for book in books]
    return Page[BookOut](items=items, next_after=next_after)


@router.get("/books/{book_id}")
async def get_book(book_id: int, session: SessionDep) -> BookOut:
    book = await get_or_404(session, Book, book_id)
    return BookOut.model_validate(book)


@router.patch("/books/{book_id}")
async def update_book(book_id: int, body: BookPatch, session: SessionDep) -> BookOut:
    book = await update_or_404(session, Book, book_id, body)
    return BookOut.model_validate(book)


@router.delete("/books/{book_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_book(book_id: int, session: SessionDep) -> None:
    await delete_or_404(session, Book, book_id)
