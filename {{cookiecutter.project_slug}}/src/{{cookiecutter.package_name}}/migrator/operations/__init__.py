"""Zero-downtime operations for PostgreSQL: `op.<name>(...)` in any revision, written by hand or
by autogenerate (`migrator/rewriter.py`). Importing this package registers them.

- `create_index_concurrently`: `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS`, after
  dropping an invalid index of that name (what an interrupted build leaves);
- `drop_index_concurrently`: `DROP INDEX CONCURRENTLY IF EXISTS`;
- `create_unique_constraint_concurrently`: a unique index built concurrently, then
  `ADD CONSTRAINT ... UNIQUE USING INDEX`;
- `create_foreign_key_not_valid`, `create_check_constraint_not_valid`: `ADD CONSTRAINT ...
  NOT VALID`: new rows are checked at once, the existing ones are not scanned;
- `validate_constraint`: `VALIDATE CONSTRAINT`, in a transaction that holds no other lock: it
  scans the rows under a lock that lets reads and writes go on;
- `set_not_null`: `CHECK (column IS NOT NULL) NOT VALID`, `VALIDATE`, then `SET NOT NULL`
  (without a scan on PostgreSQL 12+, thanks to the check), then the check is dropped.

All but the NOT VALID ones commit what the revision did before them (Alembic's
`autocommit_block`; they need none around them). Each one can run again after a run was killed
halfway: online it looks at the catalog first (an invalid index is dropped and built again, an
existing constraint is kept); offline (`--sql`) scripts drop what a killed run may have left
(`DROP CONSTRAINT IF EXISTS`) before adding it, and show each statement that must commit on its
own between its own BEGIN and COMMIT.
"""

from . import rendering
from .constraints import (
    CreateCheckConstraintNotValidOp,
    CreateForeignKeyNotValidOp,
    SetNotNullOp,
    ValidateConstraintOp,
)
from .indexes import (
    CreateIndexConcurrentlyOp,
    CreateUniqueConstraintConcurrentlyOp,
    DropIndexConcurrentlyOp,
)

__all__ = [
    "CreateCheckConstraintNotValidOp",
    "CreateForeignKeyNotValidOp",
    "CreateIndexConcurrentlyOp",
    "CreateUniqueConstraintConcurrentlyOp",
    "DropIndexConcurrentlyOp",
    "SetNotNullOp",
    "ValidateConstraintOp",
    "rendering",
]
