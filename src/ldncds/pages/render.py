"""The Jinja2 environment of the pages: autoescape always on, undefined names are errors."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

STYLESHEET = "ldncds.css"


@cache
def environment() -> Environment:
    # default_for_string too: nothing rendered by these pages is ever unescaped by accident.
    return Environment(
        loader=PackageLoader("ldncds.pages", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def static_file(name: str) -> bytes | None:
    """A file of static/ by its plain name, or None (no paths, so nothing outside static/ is served)."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = resources.files("ldncds.pages").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None
