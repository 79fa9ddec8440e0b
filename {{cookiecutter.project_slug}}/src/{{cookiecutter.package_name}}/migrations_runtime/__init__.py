"""What migrations/env.py runs: typed, tested code instead of logic in the env script.

- `config`: the one way to build an Alembic `Config` (app, tenant code, devtools, tests);
- `session`: the migration lock and timeouts, restored when the run ends;
- `autogenerate`: what autogenerate compares and when it writes nothing;
- `errors`: failures explained on one line, with the fix;
- `revisions`: the revisions the code expects and the database is at.
"""
