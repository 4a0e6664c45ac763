#!/usr/bin/env python3
"""Cut Twilio's OpenAPI spec down to what textback calls.

    trim-spec.py twilio_api_v2010.json > twilio-messages.json

The input is spec/json/twilio_api_v2010.json from github.com/twilio/twilio-oai
(the commit is in twilio-messages.json.source). The output keeps the paths
textback uses (send a message, fetch the account for `textback check`) and
every component they reference, unchanged, so Prism validates those requests
exactly as it would against the whole spec.
"""
import json, sys

KEEP = ["/2010-04-01/Accounts/{AccountSid}/Messages.json", "/2010-04-01/Accounts/{Sid}.json"]

spec = json.load(open(sys.argv[1]))
out = {k: spec[k] for k in ("openapi", "info", "servers", "tags", "security") if k in spec}
out["paths"] = {p: spec["paths"][p] for p in KEEP}
out["components"] = {"securitySchemes": spec["components"]["securitySchemes"], "schemas": {}}

def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)

todo = list(refs(out["paths"]))
while todo:
    ref = todo.pop()
    parts = ref.lstrip("#/").split("/")
    if parts[:2] != ["components", "schemas"]:
        sys.exit(f"unexpected $ref {ref}")
    name = parts[2]
    if name in out["components"]["schemas"]:
        continue
    schema = spec["components"]["schemas"][name]
    out["components"]["schemas"][name] = schema
    todo.extend(refs(schema))
out["info"]["description"] = (out["info"].get("description", "") +
    " (trimmed by textback's .ci/lab/twilio/trim-spec.py to the paths textback calls)")
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
