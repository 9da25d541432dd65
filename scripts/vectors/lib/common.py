"""Shared by the vector generators: writes tests/vectors/<kind>.json in the
form src/verify/tests/vectors.rs reads (see its module docs)."""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[3]


def write(kind, generator, cases, route="", secrets=()):
    """Writes the vector file of `kind`; `cases` are dicts of the runner's
    Case form (name, method, target, headers, body | body_base64, now,
    expect, id, event, slot, answer)."""
    doc = {
        "kind": kind,
        "generator": generator,
        "route": route,
        "secrets": list(secrets),
        "cases": cases,
    }
    path = ROOT / "tests" / "vectors" / f"{kind}.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
