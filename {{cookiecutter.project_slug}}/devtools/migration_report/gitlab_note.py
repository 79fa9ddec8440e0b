"""Post the report as one merge request note on GitLab, edited on each push, not repeated.

`python -m devtools.migration_report.gitlab_note migration-report.md` in a merge request
pipeline, with MIGRATION_REPORT_TOKEN set to a project access token (role Reporter or above,
scope `api`), masked and protected as the project's CI/CD settings allow. GitLab's own
CI_JOB_TOKEN cannot write notes.
"""

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from .render import MARKER

TOKEN_VARIABLE = "MIGRATION_REPORT_TOKEN"
# GitLab refuses notes over 1,000,000 characters; the report is cut well before.
LIMIT = 900_000
CUT = "\n\n*Cut short: the whole report is in the job's migration-report artifact.*\n"


def request(method: str, url: str, token: str, body: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"PRIVATE-TOKEN": token, "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method)) as r:
        return json.load(r)


def post(report: str, environ: dict[str, str]) -> str:
    """Edit the note that starts with the marker, else add one; says which."""
    token = environ[TOKEN_VARIABLE]
    notes_url = (
        f"{environ['CI_API_V4_URL']}/projects/{environ['CI_PROJECT_ID']}"
        f"/merge_requests/{environ['CI_MERGE_REQUEST_IID']}/notes"
    )
    body = {"body": report if len(report) < LIMIT else report[:LIMIT] + CUT}
    notes = request("GET", f"{notes_url}?per_page=100&sort=asc", token)
    mine = next((n for n in notes if str(n.get("body", "")).startswith(MARKER)), None)
    if mine is None:
        request("POST", notes_url, token, body)
        return "added the migration report note"
    request("PUT", f"{notes_url}/{mine['id']}", token, body)
    return f"updated the migration report note {mine['id']}"


def main(argv: list[str]) -> int:
    environ = dict(os.environ)
    missing = [
        name
        for name in (TOKEN_VARIABLE, "CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID")
        if not environ.get(name)
    ]
    if missing or len(argv) != 1:
        print(
            f"gitlab_note: needs the report file and {', '.join(missing) or 'nothing else'}: "
            "run it in a merge request pipeline with MIGRATION_REPORT_TOKEN set",
            file=sys.stderr,
        )
        return 2
    try:
        print(f"gitlab_note: {post(Path(argv[0]).read_text(encoding='utf-8'), environ)}")
    except OSError as error:  # urllib's HTTPError and URLError are OSErrors
        print(
            f"gitlab_note: GitLab refused the note ({error}); check {TOKEN_VARIABLE}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
