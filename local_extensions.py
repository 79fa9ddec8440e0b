"""Jinja filters for cookiecutter.json and the template: answers as literals of each file's syntax.

Free-text answers (project name, description, author) may hold quotes, backslashes and any
Unicode; each filter returns a complete, correctly escaped literal, so a template line reads
`description = {{ cookiecutter.description | toml_string }}` without quotes around it.
cookiecutter (and cruft) import this module because cookiecutter.json lists `TemplateFilters`
in `_extensions`.
"""

import keyword
import os
import re
import textwrap

from jinja2 import Environment
from jinja2.ext import Extension
from slugify import slugify

# What a derived identifier gets in front when it would start with a digit, be a Python
# keyword, or be empty: `2FA Service` -> `svc_2fa_service`.
IDENTIFIER_PREFIX = "svc"
# At most what PostgreSQL allows in a database name, which the slug becomes; cut at a word.
IDENTIFIER_LENGTH = 63
KUBERNETES_NAME_LENGTH = 40
AUTHOR_WITH_EMAIL = re.compile(r"(?P<name>.*?)\s*<(?P<email>[^<>\s@]+@[^<>\s@]+)>")
TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
# CommonMark: backslash escapes for the characters that start inline markup anywhere, `_` where
# it can open or close emphasis (not inside a word, so `my_service` stays as typed), and `#`
# where it would open or close a heading.
MARKDOWN_INLINE = re.compile(r"[\\`*\[\]<>]|(?<![^\W_])_|_(?![^\W_])|(?:^|(?<=\s))#")
# Characters that make the start of a line a block: heading, quote, list item, rule, table.
MARKDOWN_BLOCK_START = re.compile(r"[+\-=|~]|\d+[.)]")
DOCSTRING_WIDTH = 100 - len('"""')
UNESCAPED_FINAL_QUOTE = re.compile(r'(?<!\\)(\\\\)*"$')


def slugify_identifier(name: str) -> str:
    """A lowercase ASCII Python identifier for a human name: `Café Service` -> `cafe_service`.

    Accents are transliterated, every other run of characters becomes one `_`, and the edges are
    stripped; a name that would start with a digit, be a keyword or be empty gets `svc_` in front,
    and a long one is cut at a word to 63 characters.
    """
    slug = slugify(name, separator="_", max_length=IDENTIFIER_LENGTH, word_boundary=True)
    is_keyword = keyword.iskeyword(slug) or keyword.issoftkeyword(slug)
    if slug and not slug[0].isdigit() and not is_keyword:
        return slug
    room = IDENTIFIER_LENGTH - len(IDENTIFIER_PREFIX) - 1
    rest = slugify(name, separator="_", max_length=room, word_boundary=True)
    return f"{IDENTIFIER_PREFIX}_{rest}" if rest else IDENTIFIER_PREFIX


def python_string(value: str) -> str:
    """A Python string literal, quoted as ruff format quotes it: double unless that escapes more."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    return quote + "".join(_python_character(char, quote) for char in value) + quote


def _python_character(char: str, quote: str) -> str:
    if char in ("\\", quote):
        return "\\" + char
    return char if char.isprintable() else repr(char)[1:-1]


def python_docstring(value: str) -> str:
    """A triple-quoted docstring of one paragraph, wrapped at 100 columns, as ruff formats it."""
    text = " ".join(value.split()).replace("\\", "\\\\").replace('"""', '""\\"')
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    lines = textwrap.wrap(
        text, width=DOCSTRING_WIDTH, break_long_words=False, break_on_hyphens=False
    )
    body = "\n".join(lines)
    # As ruff format writes them: a space keeps a quote at either end apart from the delimiters.
    lead = " " if body.startswith('"') else ""
    trail = " " if UNESCAPED_FINAL_QUOTE.search(body) or not body else ""
    return f'"""{lead}{body}{trail}"""'


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    return '"' + "".join(_toml_character(char) for char in value) + '"'


def _toml_character(char: str) -> str:
    if char in TOML_ESCAPES:
        return TOML_ESCAPES[char]
    return f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char


def toml_author(value: str) -> str:
    """A pyproject `authors` entry: `Ada <ada@example.com>` -> `{ name = "Ada", email = "..." }`.

    An empty answer gives an empty string, so `authors = [...]` becomes an empty list.
    """
    match = AUTHOR_WITH_EMAIL.fullmatch(value.strip())
    name, email = (match["name"], match["email"]) if match else (value.strip(), "")
    fields = [
        f"{key} = {toml_string(text)}" for key, text in [("name", name), ("email", email)] if text
    ]
    return "{ " + ", ".join(fields) + " }" if fields else ""


def markdown_text(value: str) -> str:
    """One line of Markdown that renders as `value` typed, not as markup."""
    text = MARKDOWN_INLINE.sub(lambda match: "\\" + match[0], " ".join(value.split()))
    block = MARKDOWN_BLOCK_START.match(text)
    if block:
        text = f"{text[: block.end() - 1]}\\{text[block.end() - 1 :]}"
    return text


def kubernetes_name(slug: str) -> str:
    """A DNS-1123 label for Kubernetes objects: `my_service` -> `my-service`.

    Cut to 40 characters, so that `<name>-post-deploy` and the pod names Kubernetes derives
    from it stay within the 63 a label allows.
    """
    return slug.replace("_", "-")[:KUBERNETES_NAME_LENGTH].strip("-")


def absolute_path(path: str) -> str:
    """`path` made absolute against the working directory at render time.

    cookiecutter renders hooks from inside the template directory, so in a hook
    `'.' | absolute_path` is the template's directory, wherever cookiecutter was started from.
    """
    return os.path.abspath(path)


class TemplateFilters(Extension):
    """Registers the filters above under their own names."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(
            {
                function.__name__: function
                for function in (
                    slugify_identifier,
                    python_string,
                    python_docstring,
                    toml_string,
                    toml_author,
                    markdown_text,
                    kubernetes_name,
                    absolute_path,
                )
            }
        )
