"""Messages the pure cores write in English, carrying what a translation needs.

The pure cores import no framework, so they cannot call Django's gettext. They mark a message
with `_` from here instead: `_("node key %(key)r is reserved", key=key)` returns the English
text (a `str`, so every caller, log line and test reads it as before) that also carries its
template and values. `makemessages` finds the template (xgettext knows `_`), and each interface
translates at its boundary with `translated(text, gettext)`: the template through the catalogue,
then the values, themselves translated when they are marked messages too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Text(str):
    """English text that remembers its message template and values."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Text:
        text = super().__new__(cls, template % values if values else template)
        text.template = template
        text.values = values
        return text


def _(template: str, /, **values: Any) -> Text:
    """Mark `template` for translation and return it in English, filled with `values`."""
    return Text(template, **values)


def translated(text: object, gettext: Callable[[str], str]) -> str:
    """Return `text` in the active language: a marked message through `gettext`, anything else as it is."""
    if not isinstance(text, Text):
        return str(text)
    template = gettext(text.template)
    if not text.values:
        return template
    return template % {
        name: translated(value, gettext) if isinstance(value, Text) else value for name, value in text.values.items()
    }


def error_text(error: Exception, gettext: Callable[[str], str]) -> str:
    """Return an error's message in the active language; a definition's problems one a line, each translated."""
    problems = getattr(error, "problems", ())
    if problems:
        lines = [(problem.path, translated(problem.message, gettext)) for problem in problems]
        return "\n".join(f"{path}: {message}" if path else message for path, message in lines)
    return translated(message_of(error), gettext)


def message_of(error: BaseException) -> str:
    """Return an error's message as raised: a marked message keeps its template (`str(error)` would not)."""
    return error.args[0] if len(error.args) == 1 and isinstance(error.args[0], str) else str(error)
