"""A revision file read with `ast` (never imported): its operations, raw SQL and docstring."""

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Where op.<name>() takes the table; batch_op.<name>() leaves it out and takes the rest alike.
TABLE_POSITION = {
    "create_table": 0,
    "drop_table": 0,
    "add_column": 0,
    "drop_column": 0,
    "alter_column": 0,
    "rename_table": 0,
    "bulk_insert": 0,
    "create_index": 1,
    "drop_index": 1,
    "create_foreign_key": 1,
    "drop_constraint": 1,
    "create_unique_constraint": 1,
    "create_primary_key": 1,
    "create_check_constraint": 1,
    # The safe operations of migrator/operations.py
    "create_index_concurrently": 1,
    "drop_index_concurrently": 1,
    "create_foreign_key_not_valid": 1,
    "create_check_constraint_not_valid": 1,
    "create_unique_constraint_concurrently": 1,
    "validate_constraint": 1,
    "set_not_null": 0,
}
TABLE_KEYWORDS = ("table_name", "source_table")
TEXT_CHAINS = {"bindparams", "columns", "execution_options"}
ACKNOWLEDGEMENT = re.compile(r"#\s*migration-lint:\s*ignore\[([^\]]*)\](.*)")
CHECKBOX = re.compile(r"^\s*[-*]\s*\[([ xX])\]\s*(.*)$")
BACKFILL_TODO = "TODO(backfill)"
PRE_DEPLOY = "pre-deploy"


class ParseError(Exception):
    """The file cannot be read or is not valid Python."""


@dataclass
class Op:
    """One op.<name>(...) or batch_op.<name>(...) call, the table argument taken out."""

    name: str
    table: str | None
    args: list[ast.expr]
    keywords: dict[str, ast.expr]
    line: int
    function: str

    def arg(self, index: int, keyword: str) -> ast.expr | None:
        return self.args[index] if index < len(self.args) else self.keywords.get(keyword)


@dataclass
class Sql:
    """A string of SQL handed to an execute call."""

    text: str
    line: int
    function: str
    via: str  # "op" for op.execute, else the method: "execute" or "exec_driver_sql"
    wrapped: bool  # went through text()
    in_autocommit: bool


@dataclass
class Acknowledgement:
    """`# migration-lint: ignore[RULE,...] reason`, the reason continued on comment lines below.

    A comment on a line of its own acknowledges the next line of code; one after code, its line.
    """

    rules: set[str]
    reason: str
    line: int
    target: int


@dataclass
class Migration:
    path: Path
    tree: ast.Module
    lines: list[str]
    ops: list[Op] = field(default_factory=list)
    sql: list[Sql] = field(default_factory=list)
    # (line, function) of execute/bulk_insert calls that write rows through SQLAlchemy Core
    core_writes: list[tuple[int, str]] = field(default_factory=list)
    # (line, in_autocommit) of calls passing postgresql_concurrently=True
    concurrently: list[tuple[int, bool]] = field(default_factory=list)
    acknowledgements: dict[int, Acknowledgement] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    upgrade_scope: set[str] = field(default_factory=set)
    downgrade_scope: set[str] = field(default_factory=set)
    # The module's `phase = "..."`: pre-deploy (the default) or post-deploy
    phase: str = PRE_DEPLOY
    # (line, text) of the TODO(backfill) comments autogenerate writes
    backfill_todos: list[tuple[int, str]] = field(default_factory=list)
    # The module's down_revision: several for a merge revision
    down_revisions: list[str] = field(default_factory=list)

    def upgrade_ops(self, *names: str) -> Iterator[Op]:
        return self.ops_in(self.upgrade_scope, *names)

    def downgrade_ops(self, *names: str) -> Iterator[Op]:
        return self.ops_in(self.downgrade_scope, *names)

    def ops_in(self, scope: set[str], *names: str) -> Iterator[Op]:
        return (o for o in self.ops if o.function in scope and o.name in names)

    def created_tables(self, scope: set[str] | None = None) -> set[str]:
        scope = self.upgrade_scope if scope is None else scope
        return {o.table for o in self.ops_in(scope, "create_table") if o.table}


def literal(node: ast.expr | None) -> str | None:
    """A string constant, looking through op.f("name")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and call_name(node) == "f" and node.args:
        return literal(node.args[0])
    return None


def literals(node: ast.expr | None) -> list[str] | None:
    """A list or tuple of string constants, else None (unknown)."""
    if not isinstance(node, ast.List | ast.Tuple):
        return None
    values = [literal(element) for element in node.elts]
    return None if None in values else [v for v in values if v is not None]


def call_name(node: ast.expr) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def is_true(node: ast.expr | None) -> bool:
    return node is not None and not (isinstance(node, ast.Constant) and not node.value)


def read(path: Path) -> Migration:
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except SyntaxError as error:
        raise ParseError(f"SyntaxError: {error.msg}, line {error.lineno}") from None
    except (OSError, UnicodeDecodeError, tokenize.TokenError, ValueError) as error:
        raise ParseError(f"{type(error).__name__}: {error}") from None
    migration = Migration(path=path, tree=tree, lines=source.splitlines())
    comments = {t.start[0]: t for t in tokens if t.type == tokenize.COMMENT}
    for number, token in comments.items():
        if match := ACKNOWLEDGEMENT.search(token.string):
            acknowledgement = _acknowledgement(migration, comments, number, match)
            migration.acknowledgements[number] = acknowledgement
        if BACKFILL_TODO in token.string:
            migration.backfill_todos.append((number, token.string.lstrip("# ")))
    collector = _Collector(migration)
    collector.visit(tree)
    collector.resolve_helper_sql()
    upgrades = [name for name in migration.functions if name.startswith("upgrade")]
    migration.upgrade_scope = _reachable(migration, *upgrades)
    downgrades = [name for name in migration.functions if name.startswith("downgrade")]
    migration.downgrade_scope = _reachable(migration, *downgrades)
    migration.phase = _phase(tree)
    migration.down_revisions = _down_revisions(tree)
    return migration


def _acknowledgement(
    migration: Migration, comments: dict[int, tokenize.TokenInfo], line: int, match: re.Match[str]
) -> Acknowledgement:
    rules = {rule.strip() for rule in match.group(1).split(",") if rule.strip()}
    reason = [match.group(2).strip()]
    standalone = not migration.lines[line - 1][: comments[line].start[1]].strip()
    target = line
    if standalone:
        # The reason may go on over the comment lines below; the next code line is the target.
        target += 1
        while target <= len(migration.lines) and not migration.lines[target - 1].strip():
            target += 1
        while (comment := comments.get(target)) and not migration.lines[target - 1][
            : comment.start[1]
        ].strip():
            text = comment.string.lstrip("#").strip()
            if ACKNOWLEDGEMENT.search(comment.string) or BACKFILL_TODO in text:
                break
            reason.append(text)
            target += 1
    return Acknowledgement(rules, " ".join(r for r in reason if r), line, target)


def _down_revisions(tree: ast.Module) -> list[str]:
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "down_revision":
            if text := literal(value):
                return [text]
            return literals(value) or []
    return []


def is_merge(migration: Migration) -> bool:
    """A revision `alembic merge` wrote: several parents and nothing to run either way."""
    functions = [f for name, f in migration.functions.items() if name.startswith(("up", "down"))]
    return len(migration.down_revisions) > 1 and all(is_noop(f) for f in functions)


def is_noop(function: ast.FunctionDef) -> bool:
    """Only a docstring, pass, or raise NotImplementedError."""
    body = [
        s
        for s in function.body
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    if all(isinstance(s, ast.Pass) for s in body):
        return True
    if len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None:
        exc = body[0].exc
        name = exc.func if isinstance(exc, ast.Call) else exc
        return isinstance(name, ast.Name) and name.id == "NotImplementedError"
    return False


def _phase(tree: ast.Module) -> str:
    """The string a module-level `phase = ...` assigns; pre-deploy when there is none."""
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "phase" and (text := literal(value)):
            return text
    return PRE_DEPLOY


def _reachable(migration: Migration, *start: str) -> set[str]:
    """start and the module-level helpers it calls, so helpers count as part of upgrade()."""
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in migration.functions:
            continue
        seen.add(name)
        for node in ast.walk(migration.functions[name]):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                todo.append(node.func.id)
    return seen


def checklist(migration: Migration) -> tuple[bool, list[tuple[int, str]]]:
    """Whether the docstring has the review checklist, and its unticked boxes (line, text)."""
    docstring = migration.tree.body[0] if migration.tree.body else None
    if not (
        isinstance(docstring, ast.Expr)
        and isinstance(docstring.value, ast.Constant)
        and isinstance(docstring.value.value, str)
    ):
        return False, []
    first, last = docstring.lineno, docstring.end_lineno or docstring.lineno
    present, unticked = False, []
    for number in range(first, last + 1):
        line = migration.lines[number - 1]
        present = present or "review checklist" in line.lower()
        if present and (match := CHECKBOX.match(line)) and match.group(1) == " ":
            unticked.append((number, match.group(2).strip()))
    return present, unticked


def revision_line(migration: Migration) -> int:
    for node in migration.tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "revision":
            return node.lineno
    return 1


class _Collector(ast.NodeVisitor):
    def __init__(self, migration: Migration) -> None:
        self.m = migration
        self.function = ""
        self.batch: dict[str, str | None] = {}  # alias -> table inside `with batch_alter_table`
        self.autocommit = False
        self.names = self._module_names(migration.tree)
        # execute calls whose SQL is a parameter of the helper they are in: (call, via, in block)
        self.unresolved: dict[str, list[tuple[ast.Call, str, bool]]] = {}

    @staticmethod
    def _module_names(tree: ast.Module) -> dict[str, ast.expr]:
        # Only names assigned once anywhere: a reused name could hold any of its values.
        assigned: dict[str, list[ast.expr]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                assigned.setdefault(node.targets[0].id, []).append(node.value)
        return {name: values[0] for name, values in assigned.items() if len(values) == 1}

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if not self.function:
            self.m.functions[node.name] = node
            self.function = node.name
            self.generic_visit(node)
            self.function = ""
        else:
            self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        saved_batch, saved_autocommit = dict(self.batch), self.autocommit
        for item in node.items:
            self.visit(item.context_expr)
            name = call_name(item.context_expr)
            if name == "autocommit_block":
                self.autocommit = True
            elif name == "batch_alter_table" and isinstance(item.optional_vars, ast.Name):
                assert isinstance(item.context_expr, ast.Call)
                call = item.context_expr
                table = call.args[0] if call.args else next(iter(call.keywords), None)
                self.batch[item.optional_vars.id] = literal(
                    table.value if isinstance(table, ast.keyword) else table
                )
        for statement in node.body:
            self.visit(statement)
        self.batch, self.autocommit = saved_batch, saved_autocommit

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        if any(k.arg == "postgresql_concurrently" and is_true(k.value) for k in node.keywords):
            self.m.concurrently.append((node.lineno, self.autocommit))
        if not isinstance(node.func, ast.Attribute):
            return
        receiver = node.func.value
        receiver_name = receiver.id if isinstance(receiver, ast.Name) else None
        name = node.func.attr
        if receiver_name == "op" or receiver_name in self.batch:
            self._op(node, name, batch=receiver_name != "op")
        if name in ("execute", "exec_driver_sql", "bulk_insert") and node.args:
            self._execute(node, "op" if receiver_name == "op" else name)

    def _op(self, node: ast.Call, name: str, batch: bool) -> None:
        args, table = list(node.args), None
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if batch:
            assert isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
            table = self.batch[node.func.value.id]
        elif name in TABLE_POSITION and len(args) > TABLE_POSITION[name]:
            table_node = args.pop(TABLE_POSITION[name])
            table = literal(table_node) or self._table_of(table_node)
        else:
            table = next((literal(keywords[k]) for k in TABLE_KEYWORDS if k in keywords), None)
        self.m.ops.append(Op(name, table, args, keywords, node.lineno, self.function))

    def _table_of(self, node: ast.expr) -> str | None:
        """The table name behind `sa.table("name", ...)` or a name bound to op.create_table."""
        if isinstance(node, ast.Name) and node.id in self.names:
            node = self.names[node.id]
        if isinstance(node, ast.Call) and call_name(node) in ("table", "Table", "create_table"):
            return literal(node.args[0]) if node.args else None
        return None

    def _execute(self, node: ast.Call, via: str) -> None:
        argument = node.args[0]
        if via == "bulk_insert" or any(
            isinstance(inner, ast.Call) and call_name(inner) in ("insert", "update", "delete")
            for inner in ast.walk(argument)
        ):
            self.m.core_writes.append((node.lineno, self.function))
            return
        resolved = self._sql(argument, wrapped=False, depth=0, bound={})
        if resolved is not None:
            text, wrapped = resolved
            self.m.sql.append(Sql(text, node.lineno, self.function, via, wrapped, self.autocommit))
        elif self.function:
            self.unresolved.setdefault(self.function, []).append((node, via, self.autocommit))

    def resolve_helper_sql(self) -> None:
        """SQL handed to a helper (`def run(sql): op.execute(sql)`), at each call of it."""
        for caller, function in self.m.functions.items():
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                    continue
                helper = self.m.functions.get(call.func.id)
                if helper is None or call.func.id not in self.unresolved:
                    continue
                parameters = [a.arg for a in helper.args.args]
                bound = dict(zip(parameters, call.args, strict=False))
                bound |= {k.arg: k.value for k in call.keywords if k.arg}
                for execute, via, in_block in self.unresolved[call.func.id]:
                    resolved = self._sql(execute.args[0], wrapped=False, depth=0, bound=bound)
                    if resolved is not None:
                        text, wrapped = resolved
                        self.m.sql.append(Sql(text, call.lineno, caller, via, wrapped, in_block))

    def _sql(
        self, node: ast.expr, wrapped: bool, depth: int, bound: dict[str, ast.expr]
    ) -> tuple[str, bool] | None:
        if depth > 10:
            return None

        def inner(node: ast.expr, wrapped: bool = wrapped) -> tuple[str, bool] | None:
            return self._sql(node, wrapped, depth + 1, bound)

        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value, wrapped
        if isinstance(node, ast.JoinedStr):
            parts = [literal(v) if isinstance(v, ast.Constant) else "{}" for v in node.values]
            return "".join(p or "" for p in parts), wrapped
        if isinstance(node, ast.Name) and node.id in bound:
            return inner(bound[node.id])
        if isinstance(node, ast.Name) and node.id in self.names:
            return inner(self.names[node.id])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = inner(node.left), inner(node.right)
            return (left[0] + right[0], left[1] or right[1]) if left and right else None
        method = node.func if isinstance(node, ast.Call) else None
        if isinstance(method, ast.Attribute) and method.attr in TEXT_CHAINS | {"format"}:
            return inner(method.value)
        if isinstance(node, ast.Call) and call_name(node) == "text" and node.args:
            return inner(node.args[0], True)
        return None
