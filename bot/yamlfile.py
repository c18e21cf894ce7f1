"""Reading YAML data files safely, and fast.

`safe_data` constructs plain data only (mappings, lists, strings, numbers), exactly as
`yaml.safe_load` does, but with libyaml's C parser when PyYAML was built with it: the rule
files are large, and this is several times faster than the pure-Python parser.
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_data(text: str) -> Any:
    loader = SafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
