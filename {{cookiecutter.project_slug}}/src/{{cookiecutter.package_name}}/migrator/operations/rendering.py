"""How autogenerate writes the safe operations into a revision.

The ones that take the arguments of a plain operation are rendered as Alembic renders that
one, under their own name.
"""

import textwrap
from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from sqlalchemy.sql.elements import conv

from .constraints import (
    CreateForeignKeyNotValidOp,
    SetNotNullOp,
    ValidateConstraintOp,
)
from .indexes import (
    CreateIndexConcurrentlyOp,
    CreateUniqueConstraintConcurrentlyOp,
    DropIndexConcurrentlyOp,
)

# A TODO comment's lines stay within the project's line length, indented in upgrade().
TODO_WIDTH = 90


def renamed(
    autogen_context: AutogenContext, operation: Any, plain: type, old: str, new: str
) -> list[str]:
    """Alembic's rendering of the plain operation, with the call to `old` made a call to `new`."""
    rendered = renderers.dispatch(plain)(autogen_context, operation)
    lines = [rendered] if isinstance(rendered, str) else list(rendered)
    lines[0] = lines[0].replace(f"{old}(", f"{new}(", 1)
    return lines


def rendered_name(autogen_context: AutogenContext, name: str) -> str:
    """op.f("name") for a name that is final (as autogenerate writes them), else "name"."""
    if isinstance(name, conv):
        return f"{autogen_context.opts['alembic_module_prefix']}f({str(name)!r})"
    return repr(name)


def schema_argument(schema: str | None) -> str:
    return f", schema={schema!r}" if schema else ""


def render_as_renamed(safe: type, plain: type, old: str, new: str) -> None:
    """Make autogenerate write `safe` as it writes `plain`, calling `new` instead of `old`."""

    def render(autogen_context: AutogenContext, operation: Any) -> list[str]:
        return renamed(autogen_context, operation, plain, old, new)

    renderers.dispatch_for(safe)(render)


for safe, plain, old, new in [
    (CreateIndexConcurrentlyOp, ops.CreateIndexOp, "create_index", "create_index_concurrently"),
    (DropIndexConcurrentlyOp, ops.DropIndexOp, "drop_index", "drop_index_concurrently"),
    (
        CreateUniqueConstraintConcurrentlyOp,
        ops.CreateUniqueConstraintOp,
        "create_unique_constraint",
        "create_unique_constraint_concurrently",
    ),
    (
        CreateForeignKeyNotValidOp,
        ops.CreateForeignKeyOp,
        "create_foreign_key",
        "create_foreign_key_not_valid",
    ),
]:
    render_as_renamed(safe, plain, old, new)


@renderers.dispatch_for(ValidateConstraintOp)
def render_validate_constraint(
    autogen_context: AutogenContext, operation: ValidateConstraintOp
) -> str:
    prefix = autogen_context.opts["alembic_module_prefix"]
    name = rendered_name(autogen_context, operation.constraint_name)
    return (
        f"{prefix}validate_constraint({name}, {operation.table_name!r}"
        f"{schema_argument(operation.schema)})"
    )


@renderers.dispatch_for(SetNotNullOp)
def render_set_not_null(autogen_context: AutogenContext, operation: SetNotNullOp) -> list[str]:
    prefix = autogen_context.opts["alembic_module_prefix"]
    call = (
        f"{prefix}set_not_null({operation.table_name!r}, {operation.column_name!r}"
        f"{schema_argument(operation.schema)})"
    )
    todo = textwrap.wrap(operation.todo or "", TODO_WIDTH)
    return [f"# {line}" for line in todo] + [call]
