"""Write the canonical models' JSON Schemas to `schemas/jsonschema/` (`python -m schemas.export`).

The files are committed so non-Python consumers can validate records; a test fails when they
drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.canonical import RECORD_TYPES
from schemas.envelope import RawEnvelope
from schemas.reference import TeamReference

OUT = Path(__file__).resolve().parent / "jsonschema"


def schemas() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {
        name: model.model_json_schema(by_alias=True, mode="serialization") for name, model in RECORD_TYPES.items()
    }
    found["raw_envelope"] = RawEnvelope.model_json_schema(by_alias=True, mode="serialization")
    found["team_reference"] = TeamReference.model_json_schema(by_alias=True, mode="serialization")
    return found


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, schema in schemas().items():
        (OUT / f"{name}.schema.json").write_text(render(schema))
    print(f"wrote {len(schemas())} schemas to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
