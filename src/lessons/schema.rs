//! The JSON Schema (draft 2020-12) of lesson files and `stacks.yaml`, for
//! editors (yaml-language-server) — generated from the same registries the
//! loader checks against (step kinds, fields, finding rules), so completion
//! offers exactly what `dispel lessons lint` accepts.
//!
//! The schema describes the shape; `lint` checks what a schema cannot (a
//! field belonging to the selected kind, versions against stacks.yaml,
//! interpolations, `after` naming a real lesson).

use serde_json::{Value, json};

use crate::kinds;
use crate::rules;

/// The schema's `$id`.
pub const SCHEMA_ID: &str = "https://dispel.invalid/lesson.schema.json";

/// The schema as JSON.
pub fn schema() -> Value {
    let mut kind_names: Vec<String> = kinds::KINDS.iter().map(|k| k.id.to_string()).collect();
    kind_names.extend(kinds::layers().iter().map(|l| l.to_string()));
    kind_names.extend(kinds::layers().iter().map(|l| format!("{l}.*")));
    let mut field_names: Vec<&str> = kinds::KINDS
        .iter()
        .flat_map(|k| k.fields().map(|f| f.name))
        .collect();
    field_names.sort();
    field_names.dedup();
    let rule_ids: Vec<&str> = rules::ALL.iter().map(|r| r.id).collect();
    let scalar = json!({"type": ["boolean", "integer", "number", "string"]});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "dispel lesson file",
        "description": "A dispel lesson file (`lessons: [...]`) or the stacks file (`stacks: [...]`). See lessons/README.md.",
        "type": "object",
        "properties": {
            "lessons": {"type": "array", "items": {"$ref": "#/$defs/lesson"}},
            "stacks": {"type": "array", "items": {"$ref": "#/$defs/stack"}}
        },
        "patternProperties": {"^x-": {"description": "Free: a place for YAML anchors shared by lessons."}},
        "additionalProperties": false,
        "oneOf": [
            {"required": ["lessons"]},
            {"required": ["stacks"]}
        ],
        "$defs": {
            "lesson": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9-]+$", "description": "Unique across the course."},
                    "title": {"type": "string"},
                    "select": {"$ref": "#/$defs/select"},
                    "body": {"type": "string", "description": "Text; {field.name} interpolates the bound step's field, {{ and }} are braces."},
                    "refs": {"type": "array", "items": {"type": "string"}},
                    "hints": {"type": "array", "items": {"type": "string"}},
                    "questions": {"type": "array", "items": {"$ref": "#/$defs/question"}},
                    "trace": {
                        "type": "object",
                        "description": "Per stack id (stacks.yaml), the ordered call chain handling this step.",
                        "additionalProperties": {"type": "array", "items": {"$ref": "#/$defs/traceEntry"}}
                    },
                    "notes": {
                        "type": "object",
                        "description": "Per stack id (stacks.yaml), a sentence true of that stack only, shown with its trace; interpolated like the body.",
                        "additionalProperties": {"type": "string"}
                    }
                },
                "required": ["id", "title", "select", "body", "refs"],
                "additionalProperties": false
            },
            "select": {
                "type": "object",
                "properties": {
                    "kind": {
                        "description": "An exact kind, a layer, or a prefix `layer.*`.",
                        "type": "string",
                        "enum": kind_names
                    },
                    "dir": {"enum": ["c2s", "s2c"]},
                    "where": {
                        "type": "object",
                        "propertyNames": {"enum": field_names},
                        "additionalProperties": {
                            "anyOf": [scalar.clone(), {"$ref": "#/$defs/condition"}]
                        }
                    },
                    "finding": {"type": "string", "enum": rule_ids},
                    "nth": {"type": "integer", "minimum": 1},
                    "after": {"type": "string", "pattern": "^[a-z0-9-]+$"}
                },
                "anyOf": [{"required": ["kind"]}, {"required": ["finding"]}],
                "additionalProperties": false
            },
            "condition": {
                "type": "object",
                "minProperties": 1,
                "properties": {
                    "eq": scalar.clone(),
                    "ne": scalar.clone(),
                    "lt": {"type": "number"},
                    "le": {"type": "number"},
                    "gt": {"type": "number"},
                    "ge": {"type": "number"},
                    "in": {"type": "array", "minItems": 1, "items": scalar},
                    "present": {"type": "boolean"},
                    "contains": {"type": "string"}
                },
                "additionalProperties": false
            },
            "question": {
                "type": "object",
                "properties": {
                    "ask": {"type": "string"},
                    "answer": {"type": "string"},
                    "field": {"type": "string"},
                    "on": {"type": "string"},
                    "from": {"enum": ["peer", "same"]}
                },
                "required": ["ask", "answer"],
                "additionalProperties": false
            },
            "traceEntry": {
                "type": "object",
                "properties": {
                    "package": {"type": "string"},
                    "version": {"type": "string"},
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "function": {"type": "string"},
                    "does": {"type": "string"},
                    "observed": {"type": "boolean"},
                    "reason": {"type": "string"}
                },
                "required": ["package", "version", "file", "line", "function", "does"],
                "additionalProperties": false
            },
            "stack": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "packages": {"type": "array", "items": {"$ref": "#/$defs/package"}}
                },
                "required": ["id", "title", "packages"],
                "additionalProperties": false
            },
            "package": {
                "type": "object",
                "properties": {
                    "registry": {"enum": ["pypi", "npm"]},
                    "name": {"type": "string"},
                    "version": {"type": "string"}
                },
                "required": ["registry", "name", "version"],
                "additionalProperties": false
            }
        }
    })
}
