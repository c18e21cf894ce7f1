"""An examples file's data kept beside it as JSON, so a start does not parse it again.

Forty thousand examples take PyYAML about two seconds to compose and walk for positions;
the same data read from JSON takes milliseconds. The copy is used while the file's bytes are
unchanged (their digest is kept with it), and it has no positions: a file whose data shows
a problem is parsed again so the problem can point at its line. Like the spelling index it
is a local cache (fitted.py), written where it may be and never shipped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import SourceDoc, load_source, overlaid, overlay_active
from bot.understanding import fitted


def kept_source(path: Path) -> SourceDoc | None:
    """The file's data from the kept copy, when its bytes are those it was made from."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    kept = fitted.load_arrays(fitted.data_path(path), digest, ("data",))
    if kept is None:
        return None
    try:
        data = json.loads(kept["data"].tobytes().decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        return None
    return SourceDoc(str(path), overlaid(str(path), data))


def parsed_source(path: Path) -> tuple[SourceDoc | None, list[FlowProblem]]:
    """The file parsed with positions, its data kept for the next start where it can be:
    read without an overlay (the data is then the file's) and plain JSON data."""
    doc, problems = load_source(path)
    if doc is not None and not problems and not overlay_active():
        _keep(path, doc.data)
    return doc, problems


def _keep(path: Path, data: Any) -> None:
    try:
        text = json.dumps(data, ensure_ascii=False)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except (TypeError, ValueError, OSError):
        return
    if json.loads(text) != data:  # keys or values JSON would change
        return
    fitted.save(fitted.data_path(path), digest,
                data=np.frombuffer(text.encode("utf-8"), dtype=np.uint8))
