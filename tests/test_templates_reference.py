"""docs/templates.md documents every key of the template schema, with the models' descriptions.

The key tables between its generated markers are made from the same pydantic models as
docs/runwright.schema.json; these tests fail when a field has no description, when a key is
missing from the page, or when the tables are out of date with the models.
"""

from __future__ import annotations

from typing import Any

import pytest
from runwright.runtime import Runtime
from runwright.schema import (
    GENERATED_END,
    GENERATED_START,
    key_tables_markdown,
    replace_generated,
    template_file_schema,
)

from tests.conftest import REPO

PAGE = REPO / "docs" / "templates.md"
REGENERATE = "regenerate them: python3 -m uv run python -m runwright.schema docs/templates.md"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return template_file_schema(Runtime.default())


def keys_of(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, key path, property) of every key, nested mappings' keys (``on.release``) included."""
    found: list[tuple[str, str, dict[str, Any]]] = []

    def walk(model: str, path: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, prop in (node.get("properties") or {}).items():
                found.append((model, f"{path}{key}", prop))
                walk(model, f"{path}{key}.", prop)
            for key, value in node.items():
                if key != "properties":
                    walk(model, path, value)
        elif isinstance(node, list):
            for value in node:
                walk(model, path, value)

    for model, definition in schema["$defs"].items():
        walk(model, "", definition)
    return found


def generated_part() -> str:
    text = PAGE.read_text(encoding="utf-8")
    assert GENERATED_START in text and GENERATED_END in text, f"{PAGE} lost its generated markers"
    return text.split(GENERATED_START, 1)[1].split(GENERATED_END, 1)[0]


def test_every_key_of_the_schema_has_a_description(schema: dict[str, Any]) -> None:
    undescribed = [f"{model}.{key}" for model, key, prop in keys_of(schema) if not prop.get("description")]
    assert len(keys_of(schema)) > 200
    assert undescribed == [], (
        "add a Field(description=...) saying what the key does for the user to: " + ", ".join(undescribed)
    )


def test_every_key_of_the_schema_is_in_the_generated_tables(schema: dict[str, Any]) -> None:
    part = generated_part()
    top_level = [(model, key) for model, key, _ in keys_of(schema) if "." not in key]
    missing = [f"{model}.{key}" for model, key in top_level if f"| `{key}` |" not in part]
    assert missing == [], f"docs/templates.md's key tables lack {', '.join(missing)}; {REGENERATE}"


def test_the_generated_tables_are_up_to_date(schema: dict[str, Any]) -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert page == replace_generated(page, key_tables_markdown(schema)), (
        f"docs/templates.md's key tables differ from the models; {REGENERATE}"
    )


def test_a_field_without_description_is_reported(schema: dict[str, Any]) -> None:
    """The check above can fail: drop one description and it names the key."""
    job = schema["$defs"]["Job"]["properties"]["needs"]
    description = job.pop("description")
    try:
        with pytest.raises(AssertionError, match=r"Job\.needs"):
            test_every_key_of_the_schema_has_a_description(schema)
        with pytest.raises(AssertionError, match="regenerate them"):
            test_the_generated_tables_are_up_to_date(schema)
    finally:
        job["description"] = description


def test_the_page_shows_each_model_and_links_resolve(schema: dict[str, Any]) -> None:
    part = generated_part()
    for model in ("Workflow", "Job", "Strategy", "RetryPolicy", "CronEvent", "NotifyTarget"):
        assert f"### `{model}` keys" in part
    assert "### Keys of every stage kind" in part and "### Keys of every param type" in part
    for kind in (
        "EchoStage",
        "BashStage",
        "PyStage",
        "CallStage",
        "RaiseStage",
        "ForEachStage",
        "ParallelStage",
        "CaseStage",
        "UntilStage",
        "TriggerStage",
    ):
        assert f"### `{kind}` keys" in part
    # a description with <job> is escaped, not an HTML tag the page would swallow
    assert "jobs.&lt;job>.outputs" in part


def test_replace_generated_refuses_a_page_without_markers() -> None:
    with pytest.raises(ValueError, match="generated: keys"):
        replace_generated("# no markers\n", "tables")
