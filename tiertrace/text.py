"""Text no database of tiertrace can hold: NUL (PostgreSQL refuses it in text and JSON) and unpaired
UTF-16 surrogates (`"\\ud800"` in JSON decodes to one; it has no UTF-8 encoding)."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text_paths(value: Any) -> list[str]:
    """The dotted paths ("statement", "components.0.part_number"; "" for `value` itself) of every string
    in `value` (decoded JSON) holding unstorable text, object keys included, in document order."""
    found: list[str] = []
    # A loop, not recursion: decoded JSON may be nested nearly as deep as Python's recursion limit.
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                found.append(path)
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if _UNSTORABLE.search(key):
                    found.append(child_path)
                children.append((child_path, child))
            pending.extend(reversed(children))
        elif isinstance(item, list):
            pending.extend(reversed([(f"{path}.{i}" if path else str(i), c) for i, c in enumerate(item)]))
    return found
