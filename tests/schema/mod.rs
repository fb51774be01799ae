//! A validator for the subset of JSON Schema 2020-12 that dispel's schemas
//! in `docs/schema/` use: `type` (one or a list), `const`, `enum`,
//! `properties`, `required`, `additionalProperties` (false or a schema),
//! `items`, `minimum` and local `$ref`s (`#/$defs/NAME`). Any other keyword
//! fails validation, so the schemas cannot silently grow beyond what is
//! checked here.

#![allow(dead_code)]

use serde_json::Value as J;

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minimum",
    "$ref",
];

/// Every violation of `schema` by `value`, as `path: problem`.
pub fn validate(schema: &J, value: &J) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, value, "$", &mut errors);
    errors
}

fn type_ok(t: &str, v: &J) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => panic!("unknown type {other} in schema"),
    }
}

fn check(root: &J, s: &J, v: &J, path: &str, errors: &mut Vec<String>) {
    let obj = s.as_object().expect("a schema is an object");
    for k in obj.keys() {
        assert!(
            KNOWN.contains(&k.as_str()),
            "schema keyword {k} is not supported by this validator"
        );
    }
    if let Some(r) = obj.get("$ref") {
        let name = r
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .expect("only #/$defs/ refs");
        let target = &root["$defs"][name];
        assert!(target.is_object(), "dangling $ref {r}");
        check(root, target, v, path, errors);
    }
    if let Some(t) = obj.get("type") {
        let ok = match t {
            J::String(t) => type_ok(t, v),
            J::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => panic!("bad type"),
        };
        if !ok {
            errors.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        errors.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(J::Array(e)) = obj.get("enum")
        && !e.contains(v)
    {
        errors.push(format!("{path}: {v} is not one of {e:?}"));
    }
    if let Some(m) = obj.get("minimum").and_then(J::as_f64)
        && let Some(n) = v.as_f64()
        && n < m
    {
        errors.push(format!("{path}: {n} is below {m}"));
    }
    if let J::Object(map) = v {
        let props = obj.get("properties").and_then(J::as_object);
        if let Some(J::Array(req)) = obj.get("required") {
            for r in req {
                if !map.contains_key(r.as_str().unwrap()) {
                    errors.push(format!("{path}: missing {r}"));
                }
            }
        }
        for (k, val) in map {
            let sub = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, &sub, errors),
                None => match obj.get("additionalProperties") {
                    Some(J::Bool(false)) => errors.push(format!("{sub}: not allowed")),
                    Some(ap @ J::Object(_)) => check(root, ap, val, &sub, errors),
                    _ => {}
                },
            }
        }
    }
    if let (J::Array(items), Some(is)) = (v, obj.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(root, is, item, &format!("{path}[{i}]"), errors);
        }
    }
}

#[test]
fn the_validator_catches_what_it_claims_to() {
    let schema = serde_json::json!({
        "type": "object", "required": ["a"], "additionalProperties": false,
        "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"enum": ["x", null]}},
        "$defs": {"n": {"type": "integer", "minimum": 1}}
    });
    assert!(validate(&schema, &serde_json::json!({"a": 2, "b": null})).is_empty());
    assert_eq!(validate(&schema, &serde_json::json!({"a": 0})).len(), 1);
    assert_eq!(validate(&schema, &serde_json::json!({"a": "2"})).len(), 1);
    assert_eq!(
        validate(&schema, &serde_json::json!({"b": "y", "c": 1})).len(),
        3
    );
}
