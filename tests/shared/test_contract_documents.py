"""Contract documents are read once per version of the file, and each caller gets its own copy."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.contract import load_document

DOCUMENT = """\
openapi: 3.0.3
info: {title: Example, version: "1.0.0", x-released: 2026-11-30}
paths:
  /things:
    get:
      operationId: listThings
      security: [{oauth2: ["things:read"]}]
      responses:
        "200": {description: the things}
"""


def test_a_document_is_the_yaml_with_dates_left_as_written(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(DOCUMENT)

    document = load_document(path)

    assert document["info"]["x-released"] == "2026-11-30"
    assert document["paths"] == yaml.safe_load(DOCUMENT)["paths"]


def test_each_call_gets_a_copy_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(DOCUMENT)

    first = load_document(path)
    first["paths"]["/things"]["get"]["operationId"] = "changedByACaller"

    assert load_document(path)["paths"]["/things"]["get"]["operationId"] == "listThings"


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(DOCUMENT)
    assert load_document(path)["info"]["title"] == "Example"

    path.write_text(DOCUMENT.replace("title: Example", "title: Renamed example"))

    assert load_document(path)["info"]["title"] == "Renamed example"
