"""Bad answers stop the bake with one clear line, and leave nothing on disk."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE

CASES = {
    "slug-with-dash": (["project_slug=my-service"], "project_slug 'my-service' is not a valid"),
    "slug-with-leading-digit": (["project_slug=2fa"], "project_slug '2fa' is not a valid"),
    "package-with-accent": (["package_name=café"], "package_name 'café' is not a valid"),
    "slug-too-long-for-postgresql": (
        ["project_slug=" + "s" * 64],
        "project_slug is 64 characters and names the PostgreSQL database",
    ),
    "keyword-package": (["package_name=import"], "package_name 'import' is a Python keyword"),
    "empty-name": (["project_name= "], "project_name is empty"),
    "sqlite-with-tenants": (
        ["database=sqlite", "tenancy=schema-per-tenant"],
        "tenancy=schema-per-tenant needs PostgreSQL",
    ),
    "bad-exclusion": (["autogenerate_exclude=a;b"], "autogenerate_exclude item 'a;b'"),
}


@pytest.mark.parametrize(("answers", "message"), CASES.values(), ids=CASES.keys())
def test_bad_answer_fails_with_its_message_and_no_directory(
    tmp_path: Path, answers: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path), str(TEMPLATE)]
        + ["project_name=Bad Answer Service", *answers],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert f"ERROR: {message}" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a failed bake must leave no directory behind"
