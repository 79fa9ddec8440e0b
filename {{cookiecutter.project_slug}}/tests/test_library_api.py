"""The example CRUD endpoints, on a database built by the migrations."""

from httpx import AsyncClient


async def create_author(client: AsyncClient, email: str = "ursula@example.com") -> int:
    response = await client.post("/authors", json={"name": "Ursula", "email": email})
    assert response.status_code == 201, response.text
    author_id: int = response.json()["id"]
    return author_id


async def test_create_and_read_an_author(client: AsyncClient) -> None:
    author_id = await create_author(client)

    response = await client.get(f"/authors/{author_id}")

    assert response.status_code == 200
    assert response.json() == {"id": author_id, "name": "Ursula", "email": "ursula@example.com"}


async def test_each_test_starts_with_an_empty_database(client: AsyncClient) -> None:
    assert (await client.get("/authors")).json() == []
    await create_author(client)
    assert len((await client.get("/authors")).json()) == 1


async def test_duplicate_email_is_a_conflict_and_the_session_recovers(client: AsyncClient) -> None:
    await create_author(client)

    duplicate = await client.post("/authors", json={"name": "Other", "email": "ursula@example.com"})
    assert duplicate.status_code == 409

    assert (await client.get("/authors")).status_code == 200


async def test_book_lifecycle(client: AsyncClient) -> None:
    author_id = await create_author(client)

    created = await client.post(
        "/books", json={"title": "The Dispossessed", "pages": 387, "author_id": author_id}
    )
    assert created.status_code == 201, created.text
    book_id = created.json()["id"]

    patched = await client.patch(f"/books/{book_id}", json={"pages": 400})
    assert patched.json()["pages"] == 400
    assert (await client.get("/books", params={"author_id": author_id})).json() == [patched.json()]

    assert (await client.delete(f"/books/{book_id}")).status_code == 204
    assert (await client.get(f"/books/{book_id}")).status_code == 404


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
