"""The migrator: what migrations/env.py runs, as typed, tested code instead of an env script.

- `config`: the one way to build an Alembic `Config` (app, tenant code, devtools, tests);
- `session`: the migration lock and timeouts, restored when the run ends;
- `autogenerate`: what autogenerate compares and when it writes nothing;
- `errors`: failures explained on one line, with the fix;
- `revisions`: the revisions the code expects and the database is at;
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
- `tenancy`: tenant names, the registry, and which schemas a run migrates;
{%- endif %}
- the migration lock and everything it sets apply to PostgreSQL; on SQLite `session` is a no-op.
"""
