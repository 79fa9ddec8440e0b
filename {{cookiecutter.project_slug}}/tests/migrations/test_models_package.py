"""Autogenerate sees only the tables of model modules that `models/__init__.py` imports."""

import ast
import pkgutil
from pathlib import Path

from {{ cookiecutter.package_name }} import models


def test_every_model_module_is_imported_by_the_models_package() -> None:
    package = Path(models.__file__)
    imported = {
        node.module
        for node in ast.walk(ast.parse(package.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    modules = {f"{models.__name__}.{info.name}" for info in pkgutil.iter_modules(models.__path__)}

    missing = sorted(modules - imported)
    assert missing == [], (
        f"{', '.join(missing)} not imported in {package}: import it there, or autogenerate "
        "and `alembic check` will not see its tables"
    )
