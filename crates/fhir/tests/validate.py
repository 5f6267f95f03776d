#!/usr/bin/env python3
"""Validates FHIR R4 JSON files with an independent implementation: the fhir.resources R4B models.

Usage: validate.py DIR  -- validates every *.json file in DIR (each one resource, Bundles included).

The pydantic models check every element's name, cardinality, JSON type and primitive format
(ids, dates, URIs…), and refuse unknown elements. On top of them this script checks the rules
the models leave out that matter for what careplan emits: codes of required bindings for status
and similar elements, and ext-1 (an extension has a value or sub-extensions, not both, and an
absolute url). Prints one line per problem and exits 1 if there is any.
"""

import json
import pathlib
import sys

from fhir.resources.R4B import get_fhir_model_class

# Required bindings (FHIR R4 value sets) of the coded elements careplan emits.
REQUIRED = {
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch",
                          "batch-response", "history", "searchset", "collection"},
    ("CarePlan", "status"): {"draft", "active", "on-hold", "revoked", "completed",
                              "entered-in-error", "unknown"},
    ("CarePlan", "intent"): {"proposal", "plan", "order", "option"},
    ("CareTeam", "status"): {"proposed", "active", "suspended", "inactive", "entered-in-error"},
    ("Goal", "lifecycleStatus"): {"proposed", "planned", "accepted", "active", "on-hold",
                                   "completed", "cancelled", "entered-in-error", "rejected"},
    ("Task", "status"): {"draft", "requested", "received", "accepted", "rejected", "ready",
                          "cancelled", "in-progress", "on-hold", "failed", "completed",
                          "entered-in-error"},
    ("Task", "intent"): {"unknown", "proposal", "plan", "order", "original-order",
                          "reflex-order", "filler-order", "instance-order", "option"},
    ("Observation", "status"): {"registered", "preliminary", "final", "amended", "corrected",
                                 "cancelled", "entered-in-error", "unknown"},
    ("Consent", "status"): {"draft", "proposed", "active", "rejected", "inactive",
                             "entered-in-error"},
    ("List", "status"): {"current", "retired", "entered-in-error"},
    ("List", "mode"): {"working", "snapshot", "changes"},
    ("StructureDefinition", "status"): {"draft", "active", "retired", "unknown"},
    ("StructureDefinition", "kind"): {"primitive-type", "complex-type", "resource", "logical"},
    ("StructureDefinition", "derivation"): {"specialization", "constraint"},
    ("CodeSystem", "status"): {"draft", "active", "retired", "unknown"},
    ("CodeSystem", "content"): {"not-present", "example", "fragment", "complete", "supplement"},
    ("OperationOutcome", "issue.severity"): {"fatal", "error", "warning", "information"},
    ("Consent", "provision.type"): {"deny", "permit"},
}
CLINICAL = ("http://terminology.hl7.org/CodeSystem/condition-clinical",
            {"active", "recurrence", "relapse", "inactive", "remission", "resolved"})


def values_at(resource, path):
    values = [resource]
    for part in path.split("."):
        nxt = []
        for v in values:
            got = v.get(part) if isinstance(v, dict) else None
            if isinstance(got, list):
                nxt.extend(got)
            elif got is not None:
                nxt.append(got)
        values = nxt
    return values


def check_resource(resource, where, problems):
    kind = resource.get("resourceType")
    for (rtype, path), allowed in REQUIRED.items():
        if rtype == kind:
            for value in values_at(resource, path):
                if value not in allowed:
                    problems.append(f"{where}: {kind}.{path} “{value}” is not in its required value set")
    if kind == "Condition":
        for coding in values_at(resource, "clinicalStatus.coding"):
            if coding.get("system") != CLINICAL[0] or coding.get("code") not in CLINICAL[1]:
                problems.append(f"{where}: Condition.clinicalStatus {coding} is not a condition-clinical code")
        categories = [c.get("code") for c in values_at(resource, "category.coding")]
        if "problem-list-item" in categories and not resource.get("clinicalStatus"):
            problems.append(f"{where}: con-3: a problem-list-item needs clinicalStatus")
    if kind == "Bundle":
        for i, entry in enumerate(resource.get("entry", [])):
            if "resource" in entry:
                check_resource(entry["resource"], f"{where} entry[{i}]", problems)
    for i, contained in enumerate(resource.get("contained", [])):
        check_resource(contained, f"{where} contained[{i}]", problems)
    check_extensions(resource, where, problems)


def check_extensions(node, where, problems):
    if isinstance(node, dict):
        for key in ("extension", "modifierExtension"):
            for ext in node.get(key, []):
                url = ext.get("url", "")
                has_value = any(k.startswith("value") for k in ext)
                has_children = bool(ext.get("extension"))
                if has_value == has_children:
                    problems.append(f"{where}: ext-1: extension {url} must have a value or sub-extensions, not both or neither")
                if "://" not in url:
                    problems.append(f"{where}: extension url “{url}” is not absolute")
        for value in node.values():
            if isinstance(value, (dict, list)) and value is not node.get("contained"):
                check_extensions(value, where, problems)
    elif isinstance(node, list):
        for item in node:
            check_extensions(item, where, problems)


def main():
    directory = pathlib.Path(sys.argv[1])
    problems = []
    count = 0
    for file in sorted(directory.glob("*.json")):
        resource = json.loads(file.read_text(encoding="utf-8"))
        kind = resource.get("resourceType")
        try:
            model = get_fhir_model_class(kind)
        except Exception as error:  # an unknown resource type
            problems.append(f"{file.name}: unknown resourceType {kind!r}: {error}")
            continue
        try:
            model.model_validate(resource)
        except Exception as error:
            problems.append(f"{file.name}: {error}")
        check_resource(resource, file.name, problems)
        count += 1
    for p in problems:
        print(p)
    print(f"{count} FHIR R4 resources checked, {len(problems)} problem(s)")
    sys.exit(1 if problems or count == 0 else 0)


if __name__ == "__main__":
    main()
