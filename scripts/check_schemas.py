"""Validate YAML files against firedrill's JSON Schemas with an independent validator
(python-jsonschema, draft 2020-12), as an editor's yaml-language-server would.

    .venv/bin/python scripts/check_schemas.py SCHEMA_DIR FILE...
    .venv/bin/python scripts/check_schemas.py --json SCHEMA_FILE JSON_FILE...

Each file names its schema in its first line, `# yaml-language-server: $schema=PATH`
(relative to the file); a file without one is an error. YAML is read as firedrill reads
it: `yes`/`on` and dates stay strings. Prints one line per file, `ok PATH KIND` or
`invalid PATH KIND: where: why` per problem; exits 1 if any file is invalid.
"""
import json
import os
import re
import sys

import yaml
from jsonschema import Draft202012Validator


class Loader(yaml.SafeLoader):
    """YAML 1.2 core scalars: only true/false are booleans, and there are no timestamps."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def check_json(schema_path, files):
    """`--json`: each file (a command's `--output json`) against one schema."""
    with open(schema_path) as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    bad = 0
    for path in files:
        with open(path) as f:
            errors = list(validator.iter_errors(json.load(f)))
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            print(f"invalid {path}: {where}: {e.message}")
        if not errors:
            print(f"ok {path}")
        bad += bool(errors)
    sys.exit(1 if bad else 0)


def main():
    if sys.argv[1] == "--json":
        check_json(sys.argv[2], sys.argv[3:])
    schema_dir, files = sys.argv[1], sys.argv[2:]
    validators = {}
    bad = 0
    for path in files:
        with open(path) as f:
            text = f.read()
        m = MODELINE.match(text.split("\n", 1)[0])
        if not m:
            print(f"invalid {path} ?: no `# yaml-language-server: $schema=` first line")
            bad += 1
            continue
        schema_path = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
        kind = os.path.basename(schema_path).removesuffix(".schema.json")
        if os.path.dirname(os.path.abspath(schema_path)) != os.path.abspath(schema_dir):
            print(f"invalid {path} {kind}: the schema line points outside {schema_dir}: {m.group(1)}")
            bad += 1
            continue
        if kind not in validators:
            with open(schema_path) as f:
                schema = json.load(f)
            Draft202012Validator.check_schema(schema)
            validators[kind] = Draft202012Validator(schema)
        errors = sorted(validators[kind].iter_errors(yaml.load(text, Loader=Loader)), key=lambda e: list(e.path))
        if errors:
            bad += 1
            for e in errors:
                where = "/".join(str(p) for p in e.absolute_path) or "(top)"
                print(f"invalid {path} {kind}: {where}: {e.message}")
        else:
            print(f"ok {path} {kind}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
