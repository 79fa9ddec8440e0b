"""CRUD endpoints for the example authors and books."""

from typing import TypeVar

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
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


class AuthorIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)


class AuthorOut(AuthorIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


class BookIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    pages: int = Field(gt=0, le=100_000)
    author_id: int = Field(gt=0)


class BookPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    pages: int | None = Field(default=None, gt=0, le=100_000)


class BookOut(BookIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


async def get_or_404(session: AsyncSession, model: type[Model], id_: int) -> Model:
    found = await session.get(model, id_)
    if found is None:
        kind = model.__name__.lower()
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {id_} does not exist")
    return found


@router.post("/authors", status_code=status.HTTP_201_CREATED)
async def create_author(body: AuthorIn, session: SessionDep) -> AuthorOut:
    author = Author(**body.model_dump())
    session.add(author)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"an author with email {body.email} exists"
        ) from None
    return AuthorOut.model_validate(author)


@router.get("/authors")
async def list_authors(session: SessionDep) -> list[AuthorOut]:
    authors = await session.scalars(select(Author).order_by(Author.id))
    return [AuthorOut.model_validate(author) for author in authors]


@router.get("/authors/{author_id}")
async def get_author(author_id: int, session: SessionDep) -> AuthorOut:
    author = await get_or_404(session, Author, author_id)
    return AuthorOut.model_validate(author)


@router.post("/books", status_code=status.HTTP_201_CREATED)
async def create_book(body: BookIn, session: SessionDep) -> BookOut:
    if await session.get(Author, body.author_id) is None:
        raise HTTPException(422, f"author {body.author_id} does not exist")
    book = Book(**body.model_dump())
    session.add(book)
    await session.commit()
    return BookOut.model_validate(book)


@router.get("/books")
async def list_books(session: SessionDep, author_id: int | None = None) -> list[BookOut]:
    query = select(Book).order_by(Book.id)
    if author_id is not None:
        query = query.where(Book.author_id == author_id)
    return [BookOut.model_validate(book) for book in await session.scalars(query)]


@router.get("/books/{book_id}")
async def get_book(book_id: int, session: SessionDep) -> BookOut:
    book = await get_or_404(session, Book, book_id)
    return BookOut.model_validate(book)


@router.patch("/books/{book_id}")
async def update_book(book_id: int, body: BookPatch, session: SessionDep) -> BookOut:
    book = await get_or_404(session, Book, book_id)
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(book, field, value)
    await session.commit()
    return BookOut.model_validate(book)


@router.delete("/books/{book_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_book(book_id: int, session: SessionDep) -> None:
    book = await get_or_404(session, Book, book_id)
    await session.delete(book)
    await session.commit()
