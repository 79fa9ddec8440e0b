"""The example CRUD endpoints, on a database built by the migrations."""
{%- set own_database = cookiecutter.database != "sqlite" and cookiecutter.tenancy == "single" %}

import asyncio
{%- if own_database %}
from collections.abc import AsyncIterator
{%- endif %}
from typing import Any

import pytest
{%- if own_database %}
from alembic.command import upgrade
{%- endif %}
from httpx import {{ "ASGITransport, " if own_database }}AsyncClient
{%- if own_database %}

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings
from tests.databases import run_alembic
{%- endif %}

pytestmark = pytest.mark.api
INT32_MAX = 2**31 - 1
OUT_OF_RANGE_IDS = [2**31, 2**63, 10**30, 0, -1]
{%- if own_database %}


@pytest.fixture
async def committing_client(database_url: str) -> AsyncIterator[AsyncClient]:
    """A client whose writes commit, on a database of its own: concurrent requests need
    connections of their own, which `client` (one connection, rolled back) cannot give."""
    await asyncio.to_thread(run_alembic, database_url, lambda config: upgrade(config, "head"))
    app = create_app(Settings(database_url=database_url))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client
{%- else %}


@pytest.fixture
def committing_client(client: AsyncClient) -> AsyncClient:
    """`client` itself: its writes already commit, to a {{ "tenant" if cookiecutter.tenancy == "schema-per-tenant" else "database" }} of its own."""
    return client
{%- endif %}


async def create_author(client: AsyncClient, email: str = "ursula@example.com") -> int:
    response = await client.post("/authors", json={"name": "Ursula", "email": email})
    assert response.status_code == 201, response.text
    author_id: int = response.json()["id"]
    return author_id


async def create_book(client: AsyncClient, author_id: int, title: str = "The Dispossessed") -> int:
    response = await client.post(
        "/books", json={"title": title, "pages": 387, "author_id": author_id}
    )
    assert response.status_code == 201, response.text
    book_id: int = response.json()["id"]
    return book_id


async def test_create_and_read_an_author(client: AsyncClient) -> None:
    author_id = await create_author(client)

    response = await client.get(f"/authors/{author_id}")

    assert response.status_code == 200
    assert response.json() == {"id": author_id, "name": "Ursula", "email": "ursula@example.com"}


async def test_each_test_starts_with_an_empty_database(client: AsyncClient) -> None:
    assert (await client.get("/authors")).json() == {"items": [], "next_after": None}
    await create_author(client)
    assert len((await client.get("/authors")).json()["items"]) == 1


async def test_duplicate_email_is_a_conflict_and_the_session_recovers(client: AsyncClient) -> None:
    await create_author(client)
    other = await create_author(client, "other@example.com")

    duplicate = await client.post("/authors", json={"name": "Other", "email": "ursula@example.com"})
    renamed = await client.patch(f"/authors/{other}", json={"email": "ursula@example.com"})

    assert duplicate.status_code == renamed.status_code == 409
    assert (await client.get("/authors")).status_code == 200


async def test_author_lifecycle(client: AsyncClient) -> None:
    author_id = await create_author(client)
    book_id = await create_book(client, author_id)

    patched = await client.patch(f"/authors/{author_id}", json={"name": "U. K. Le Guin"})
    assert patched.json()["name"] == "U. K. Le Guin"
    assert (await client.delete(f"/authors/{author_id}")).status_code == 409

    assert (await client.delete(f"/books/{book_id}")).status_code == 204
    assert (await client.delete(f"/authors/{author_id}")).status_code == 204
    assert (await client.get(f"/authors/{author_id}")).status_code == 404


async def test_book_lifecycle(client: AsyncClient) -> None:
    author_id = await create_author(client)
    book_id = await create_book(client, author_id)

    patched = await client.patch(f"/books/{book_id}", json={"pages": 400})
    assert patched.json()["pages"] == 400
    assert (await client.patch(f"/books/{book_id}", json={})).json() == patched.json()
    # A change to the value the row already has still finds the row.
    assert (await client.patch(f"/books/{book_id}", json={"pages": 400})).json() == patched.json()
    listed = await client.get("/books", params={"author_id": author_id})
    assert listed.json() == {"items": [patched.json()], "next_after": None}

    assert (await client.delete(f"/books/{book_id}")).status_code == 204
    assert (await client.get(f"/books/{book_id}")).status_code == 404


async def test_text_outside_the_basic_multilingual_plane_is_kept(client: AsyncClient) -> None:
    # Four bytes in UTF-8: a 3-byte character set (MySQL's `utf8`) cannot store them.
    name = "Ursula \U0001f989 \U00020000"
    created = await client.post("/authors", json={"name": name, "email": "u@example.com"})

    assert created.status_code == 201, created.text
    assert (await client.get(f"/authors/{created.json()['id']}")).json()["name"] == name


async def test_book_for_an_unknown_author_is_rejected(client: AsyncClient) -> None:
    response = await client.post("/books", json={"title": "Orphan", "pages": 10, "author_id": 999})

    assert response.status_code == 422
    assert response.json()["detail"] == "author 999 does not exist"


async def test_invalid_input_is_422_not_500(client: AsyncClient) -> None:
    assert (await client.post("/authors", json={"name": "", "email": "x"})).status_code == 422
    assert (await client.post("/books", json={"title": "T", "pages": 0})).status_code == 422
    assert (await client.get("/books/not-a-number")).status_code == 422
    assert (await client.patch("/books/1", json={"pages": -5})).status_code == 422


async def test_unknown_ids_are_404(client: AsyncClient) -> None:
    assert (await client.get("/authors/424242")).json() == {
        "detail": "author 424242 does not exist"
    }
    assert (await client.get("/books/424242")).status_code == 404
    assert (await client.patch("/books/424242", json={"pages": 1})).status_code == 404
    assert (await client.delete("/books/424242")).status_code == 404


@pytest.mark.parametrize("id_", OUT_OF_RANGE_IDS, ids=["2**31", "2**63", "10**30", "0", "-1"])
@pytest.mark.parametrize("resource", ["authors", "books"])
async def test_ids_no_row_can_have_are_404(client: AsyncClient, resource: str, id_: int) -> None:
    body = {"name": "N"} if resource == "authors" else {"pages": 1}

    responses = [
        await client.get(f"/{resource}/{id_}"),
        await client.patch(f"/{resource}/{id_}", json=body),
        await client.patch(f"/{resource}/{id_}", json={}),
        await client.delete(f"/{resource}/{id_}"),
    ]

    assert [response.status_code for response in responses] == [404, 404, 404, 404]


@pytest.mark.parametrize("value", [INT32_MAX + 1, 2**63, 10**30, -1])
async def test_integers_a_column_cannot_hold_are_422(client: AsyncClient, value: int) -> None:
    author_id = await create_author(client)
    book = {"title": "T", "pages": 1, "author_id": author_id}

    responses = [
        await client.post("/books", json={**book, "author_id": value}),
        await client.post("/books", json={**book, "pages": value}),
        await client.patch("/books/1", json={"pages": value}),
        await client.get("/books", params={"author_id": value}),
        await client.get("/books", params={"after": value}),
        await client.get("/authors", params={"after": value}),
    ]

    assert [response.status_code for response in responses] == [422] * 6


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/authors", {"name": "a\u0000b", "email": "a@example.com"}),
        ("/authors", {"name": "a", "email": "a\u0000@example.com"}),
        ("/books", {"title": "\u0000", "pages": 1, "author_id": 1}),
    ],
    ids=["author-name", "author-email", "book-title"],
)
async def test_nul_characters_are_422(client: AsyncClient, path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, json=body)

    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"][0]["msg"]


async def test_nul_characters_in_a_patch_are_422(client: AsyncClient) -> None:
    author_id = await create_author(client)

    response = await client.patch(f"/authors/{author_id}", json={"name": "\u0000"})

    assert response.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        r'{"name": "\ud800", "email": "a@example.com"}',
        r'{"name": "a", "email": "\udfff@example.com"}',
        r'{"title": "t", "pages": NaN, "author_id": 1}',
        r'{"title": "t", "pages": 1e400, "author_id": 1}',
        r'{"title": "t", "pages": 1, "author_id": -Infinity}',
    ],
    ids=["surrogate-name", "surrogate-email", "nan", "overflowing-float", "minus-infinity"],
)
async def test_json_values_that_cannot_be_stored_are_422(client: AsyncClient, body: str) -> None:
    path = "/authors" if "email" in body else "/books"

    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


async def test_lists_come_a_page_at_a_time(client: AsyncClient) -> None:
    created = [await create_author(client, f"author{n}@example.com") for n in range(5)]

    pages, after = [], 0
    while after is not None:
        page = (await client.get("/authors", params={"after": after, "limit": 2})).json()
        pages.append([author["id"] for author in page["items"]])
        after = page["next_after"]

    assert pages == [created[0:2], created[2:4], created[4:5]]


async def test_page_size_has_a_default_and_a_maximum(client: AsyncClient) -> None:
    author_id = await create_author(client)
    for n in range(51):
        await create_book(client, author_id, f"Volume {n}")

    first = (await client.get("/books")).json()

    assert len(first["items"]) == 50
    assert first["next_after"] == first["items"][-1]["id"]
    assert (await client.get("/books", params={"limit": 200})).status_code == 200
    assert (await client.get("/books", params={"limit": 201})).status_code == 422
    assert (await client.get("/books", params={"limit": 0})).status_code == 422


async def test_pagination_is_documented_in_the_openapi_schema(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()

    parameters = {
        parameter["name"]: parameter
        for parameter in schema["paths"]["/authors"]["get"]["parameters"]
    }

    assert parameters["limit"]["schema"]["maximum"] == 200
    assert parameters["limit"]["schema"]["default"] == 50
    assert parameters["after"]["description"]
    assert "next_after" in schema["components"]["schemas"]["Page_AuthorOut_"]["properties"]


async def test_a_concurrent_update_and_delete_of_one_row_is_never_a_500(
    committing_client: AsyncClient,
) -> None:
    client = committing_client
    author_id = await create_author(client)
    books = [await create_book(client, author_id, f"Volume {n}") for n in range(10)]

    responses = await asyncio.gather(
        *(client.patch(f"/books/{book}", json={"pages": 2}) for book in books),
        *(client.delete(f"/books/{book}") for book in books),
        *(client.delete(f"/books/{book}") for book in books),
    )

    updated, deleted, deleted_again = (
        [response.status_code for response in responses[n : n + 10]] for n in (0, 10, 20)
    )
    assert set(updated) <= {200, 404}
    assert sorted(deleted + deleted_again) == [204] * 10 + [404] * 10


async def test_ten_identical_creates_at_once_make_one_author(
    committing_client: AsyncClient,
) -> None:
    client = committing_client
    body = {"name": "Ursula", "email": "ursula@example.com"}

    responses = await asyncio.gather(*(client.post("/authors", json=body) for _ in range(10)))

    assert sorted(response.status_code for response in responses) == [201] + [409] * 9
    assert len((await client.get("/authors")).json()["items"]) == 1
