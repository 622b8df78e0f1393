"""A model's class names from a file, for a plain torchvision state dict (which carries none, so its
classes would be ``class1..classN``): one name per line, or a COCO annotation file's ``categories``.

The model's output index is the class id, with 0 the background, as torchvision's detectors count. A text
file lists the object classes in order (a first line ``__background__`` or ``background`` is taken as
index 0, else one is put before them). A COCO file's category ids are the indices (torchvision's COCO
models use the ids as they are, 1..90 with gaps); an id no category has is named ``N/A``, as torchvision
names them."""

from __future__ import annotations

import json
from pathlib import Path

from edgedet.runtime.errors import EdgedetError

BACKGROUND = "__background__"
UNUSED = "N/A"


def read_class_names(path: Path) -> tuple[str, ...]:
    """The names by output index, background first; ``EdgedetError`` with one line for a file that is
    missing, empty, not text, or a JSON file without usable ``categories``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EdgedetError(f"class names file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgedetError(f"cannot read the class names file '{path}': {exc}") from None
    if text.lstrip().startswith("{"):
        return _from_coco(path, text)
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise EdgedetError(f"class names file '{path}' has no names: write one class per line")
    if names[0].lower() in (BACKGROUND, "background"):
        names = names[1:]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise EdgedetError(f"class names file '{path}' names {', '.join(twice)} twice: each class once")
    return (BACKGROUND, *names)


def _from_coco(path: Path, text: str) -> tuple[str, ...]:
    try:
        categories = json.loads(text)["categories"]
        by_id = {int(c["id"]): str(c["name"]) for c in categories}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise EdgedetError(f"'{path}' is JSON but not a COCO annotation file with 'categories' (each an 'id' "
                           "and a 'name'): give that, or one class name per line") from None
    if not by_id or min(by_id) < 1:
        raise EdgedetError(f"'{path}': COCO category ids start at 1 (0 is the background); found "
                           f"{sorted(by_id)[:3] or 'none'}")
    return (BACKGROUND, *(by_id.get(i, UNUSED) for i in range(1, max(by_id) + 1)))
