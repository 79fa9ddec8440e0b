"""The migrator: what migrations/env.py runs, as typed, tested code instead of an env script.

- `config`: the one way to build an Alembic `Config` (app, tenant code, devtools, tests);
- `session`: the migration lock and timeouts, restored when the run ends;
{%- if cookiecutter.database == "postgresql" %}
- `locks`, `blockers`: a revision that hit lock_timeout runs again, and who blocked it;
- `timeouts`: a revision's own `lock_timeout` / `statement_timeout`;
- `enums`: enum types and labels for autogenerate (alembic-postgresql-enum, ADD VALUE);
{%- endif %}
- `backfill`: data migrations in batches, one transaction each, resumable after a kill;
- `autogenerate`: what autogenerate compares, and what it writes (nothing when nothing changed);
- `operations`: zero-downtime operations for PostgreSQL (`op.create_index_concurrently` & co.);
- `rewriter`: autogenerate's operations turned into those, split into deploy phases;
- `errors`: failures explained on one line, with the fix;
- `revisions`: the revisions the code expects and the database is at;
- `phases`: each revision's deploy phase (pre-deploy or post-deploy), and `-x phase=pre-deploy`;
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
- `tenancy`: tenant names, the registry, and which schemas a run migrates;
{%- endif %}
- the migration lock and everything it sets apply to PostgreSQL; on SQLite `session` is a no-op.
"""
