"""The snapshot's YAML writer must round-trip every JSON-shaped value through libyaml's loader, and write
exactly the bytes its first version wrote (snapshot digests and ``git diff`` across akshift versions)."""
from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from migration.yamlout import dump, scalar

from support import builders as b
from support import yaml_v1

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63)
           | st.floats(allow_nan=False) | st.text())
JSON_LIKE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                         max_leaves=25)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.text(), JSON_LIKE, max_size=6))
def test_any_json_shaped_object_reads_back_equal(obj: dict) -> None:
    assert yaml.load(dump(obj), Loader=LOADER) == obj


@settings(max_examples=1500, deadline=None)
@given(JSON_LIKE | st.dictionaries(st.text(), JSON_LIKE, max_size=6)
       | st.lists(st.lists(st.dictionaries(st.sampled_from(["a", "b", "yes", "x y"]), JSON_LIKE, max_size=3),
                           max_size=3), max_size=3))
def test_the_writer_writes_the_bytes_the_first_version_wrote(value: object) -> None:
    assert dump(value) == yaml_v1.dump(value)


def test_real_objects_are_written_byte_for_byte_as_before() -> None:
    """Objects as an API server returns them: managedFields, nested lists of maps, multi-line data."""
    web = b.deployment()
    web["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                                         "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {
                                             "k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}}}}}]
    script = b.config_map("scripts", data={"run.sh": "#!/bin/sh\nexec web\n", "keep.txt": "a\n\n", "strip": "a\nb",
                                           "  lead": " indented\nline", "crlf": "a\r\nb"})
    nested = {"spec": {"matrix": [[1, [2, {"a": []}]], [{}], [[]]], "empty": {}, "none": None, "f": 1.5e20}}
    for obj in (web, script, nested, b.service(), b.namespace()):
        assert dump(obj) == yaml_v1.dump(obj)


def test_strings_yaml_would_read_as_other_types_are_quoted() -> None:
    for s in ("yes", "No", "on", "OFF", "true", "null", "012", "1e3", "0x1F", "~", "", "- x", "a: b", "#c"):
        assert yaml.load(f"k: {scalar(s)}", Loader=LOADER) == {"k": s}


def test_multiline_strings_are_literal_blocks_with_the_right_chomping() -> None:
    for s in ("a\nb", "a\nb\n", "a\nb\n\n", "line\n\nafter blank\n"):
        text = dump({"k": s})
        assert text.startswith("k: |")
        assert yaml.load(text, Loader=LOADER) == {"k": s}
