"""The snapshot's YAML writer must round-trip every JSON-shaped value through libyaml's loader."""
from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from migration.yamlout import dump, scalar

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63)
           | st.floats(allow_nan=False) | st.text())
JSON_LIKE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                         max_leaves=25)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.text(), JSON_LIKE, max_size=6))
def test_any_json_shaped_object_reads_back_equal(obj: dict) -> None:
    assert yaml.load(dump(obj), Loader=LOADER) == obj


def test_strings_yaml_would_read_as_other_types_are_quoted() -> None:
    for s in ("yes", "No", "on", "OFF", "true", "null", "012", "1e3", "0x1F", "~", "", "- x", "a: b", "#c"):
        assert yaml.load(f"k: {scalar(s)}", Loader=LOADER) == {"k": s}


def test_multiline_strings_are_literal_blocks_with_the_right_chomping() -> None:
    for s in ("a\nb", "a\nb\n", "a\nb\n\n", "line\n\nafter blank\n"):
        text = dump({"k": s})
        assert text.startswith("k: |")
        assert yaml.load(text, Loader=LOADER) == {"k": s}
