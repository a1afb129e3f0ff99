//! The JSON Schema subset tool parameters use (string, integer, number, boolean, array, object,
//! enum), and the BFCL rules for comparing an argument with its accepted values.

use anyhow::{bail, Context as _, Result};
use serde_json::{Map, Value};

use super::cases::is_omission;

const TYPES: [&str; 6] = ["string", "integer", "number", "boolean", "array", "object"];

fn type_name(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// Checks that a parameter schema uses only the supported subset.
pub fn check_schema(schema: &Value) -> Result<()> {
    let kind = type_name(schema).context("the schema has no `type`")?;
    if !TYPES.contains(&kind) {
        bail!("type `{kind}` is not one of {}", TYPES.join(", "));
    }
    if let Some(allowed) = schema.get("enum") {
        let allowed = allowed.as_array().context("`enum` must be an array")?;
        if let Some(bad) = allowed.iter().find(|v| !type_matches(v, schema)) {
            bail!("enum value {bad} is not of type `{kind}`");
        }
    }
    if kind == "array" {
        if let Some(items) = schema.get("items") {
            check_schema(items).context("`items`")?;
        }
    }
    if kind == "object" {
        for (name, property) in properties(schema).into_iter().flatten() {
            check_schema(property).with_context(|| format!("property `{name}`"))?;
        }
    }
    Ok(())
}

/// Returns whether `value` has the type `schema` declares, looking into array items and object
/// properties. An integer counts as a number, as BFCL promotes int to float; a number with a
/// fraction never counts as an integer.
pub fn type_matches(value: &Value, schema: &Value) -> bool {
    match type_name(schema) {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => match (value.as_array(), schema.get("items")) {
            (Some(items), Some(item_schema)) => items.iter().all(|v| type_matches(v, item_schema)),
            (Some(_), None) => true,
            (None, _) => false,
        },
        Some("object") => match value.as_object() {
            Some(fields) => fields.iter().all(|(key, field)| {
                properties(schema)
                    .and_then(|p| p.get(key))
                    .is_none_or(|field_schema| type_matches(field, field_schema))
            }),
            None => false,
        },
        _ => true,
    }
}

/// Returns whether `value` is one of the schema's `enum` values, or the schema has none.
pub fn enum_allows(value: &Value, schema: &Value) -> bool {
    match schema.get("enum").and_then(Value::as_array) {
        Some(allowed) => allowed.iter().any(|a| scalars_equal(value, a)),
        None => true,
    }
}

/// Checks that a value listed as accepted in the case file fits the parameter's schema. For
/// objects, the accepted value maps each key to a list of accepted values.
pub fn check_accepted(accepted: &Value, schema: &Value) -> Result<()> {
    if type_name(schema) == Some("object") {
        let fields = accepted
            .as_object()
            .context("an accepted object maps each key to a list of accepted values")?;
        for (key, options) in fields {
            let field_schema = properties(schema)
                .and_then(|p| p.get(key))
                .with_context(|| format!("key `{key}` is not a property of the object"))?;
            let options = options
                .as_array()
                .with_context(|| format!("key `{key}` must list its accepted values"))?;
            for option in options.iter().filter(|v| !is_omission(v)) {
                check_accepted(option, field_schema).with_context(|| format!("key `{key}`"))?;
            }
        }
        return Ok(());
    }
    if type_name(schema) == Some("array") {
        let items = accepted.as_array().context("the value is not an array")?;
        if let Some(item_schema) = schema.get("items") {
            for item in items {
                check_accepted(item, item_schema)?;
            }
        }
        return Ok(());
    }
    if !type_matches(accepted, schema) {
        bail!("the value does not have the parameter's type");
    }
    if !enum_allows(accepted, schema) {
        bail!("the value is not one of the parameter's enum values");
    }
    Ok(())
}

/// Returns whether `value` equals one of `accepted` under BFCL's comparison rules.
pub fn matches_any(value: &Value, accepted: &[Value], schema: &Value) -> bool {
    accepted
        .iter()
        .filter(|a| !is_omission(a))
        .any(|a| value_matches(value, a, schema))
}

/// Compares one argument value with one accepted value: strings after [`normalise`], numbers
/// by value, arrays element by element in order, objects key by key with each key's list of
/// accepted values (a key may be missing only when its list contains `""`).
pub fn value_matches(value: &Value, accepted: &Value, schema: &Value) -> bool {
    match (value, accepted) {
        (Value::Array(items), Value::Array(expected)) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            items.len() == expected.len()
                && items
                    .iter()
                    .zip(expected)
                    .all(|(item, want)| value_matches(item, want, item_schema))
        }
        (Value::Object(fields), Value::Object(expected)) => {
            object_matches(fields, expected, schema)
        }
        _ => scalars_equal(value, accepted),
    }
}

fn object_matches(
    fields: &Map<String, Value>,
    expected: &Map<String, Value>,
    schema: &Value,
) -> bool {
    let no_schema = Value::Null;
    let field_schema = |key: &str| {
        properties(schema)
            .and_then(|p| p.get(key))
            .unwrap_or(&no_schema)
    };
    let options = |key: &str| -> Vec<Value> {
        match expected.get(key) {
            Some(Value::Array(options)) => options.clone(),
            Some(single) => vec![single.clone()],
            None => Vec::new(),
        }
    };

    let all_present_match = fields.iter().all(|(key, field)| {
        expected.contains_key(key) && matches_any(field, &options(key), field_schema(key))
    });
    let none_missing = expected
        .keys()
        .all(|key| fields.contains_key(key) || options(key).iter().any(is_omission));
    all_present_match && none_missing
}

fn scalars_equal(value: &Value, accepted: &Value) -> bool {
    match (value, accepted) {
        (Value::String(a), Value::String(b)) => normalise(a) == normalise(b),
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        _ => value == accepted,
    }
}

/// Lowercases a string and drops white space and the characters `,./-_*^`, as BFCL's
/// checker does, so `April 1, 2024` equals `april 1 2024`. Single quotes become double
/// quotes.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !",./-_*^".contains(*c))
        .map(|c| if c == '\'' { '"' } else { c })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalise_ignores_case_spaces_and_punctuation() {
        assert_eq!(normalise("April 1, 2024"), normalise("april 1 2024"));
        assert_eq!(normalise("New-York"), "newyork");
        assert_ne!(normalise("Paris"), normalise("Parish"));
    }

    #[test]
    fn integer_counts_as_number_but_not_reverse() {
        assert!(type_matches(&json!(3), &json!({"type": "number"})));
        assert!(!type_matches(&json!(3.5), &json!({"type": "integer"})));
        assert!(!type_matches(&json!("3"), &json!({"type": "integer"})));
        assert!(value_matches(
            &json!(3),
            &json!(3.0),
            &json!({"type": "number"})
        ));
    }

    #[test]
    fn array_items_are_typed_and_ordered() {
        let schema = json!({"type": "array", "items": {"type": "string"}});
        assert!(type_matches(&json!(["a", "b"]), &schema));
        assert!(!type_matches(&json!(["a", 1]), &schema));
        assert!(value_matches(
            &json!(["A", "b"]),
            &json!(["a", "B"]),
            &schema
        ));
        assert!(!value_matches(
            &json!(["b", "a"]),
            &json!(["a", "b"]),
            &schema
        ));
    }

    #[test]
    fn nested_object_compares_key_by_key() {
        let schema = json!({"type": "object", "properties": {
            "street": {"type": "string"}, "zip": {"type": "string"}}});
        let accepted = json!({"street": ["Main St 1"], "zip": ["", "12345"]});
        assert!(value_matches(
            &json!({"street": "main st 1"}),
            &accepted,
            &schema
        ));
        assert!(value_matches(
            &json!({"street": "Main St 1", "zip": "12345"}),
            &accepted,
            &schema
        ));
        assert!(!value_matches(&json!({"zip": "12345"}), &accepted, &schema));
        assert!(!value_matches(
            &json!({"street": "Main St 1", "city": "Oslo"}),
            &accepted,
            &schema
        ));
    }

    #[test]
    fn unsupported_type_is_rejected() {
        let error = check_schema(&json!({"type": "date"}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`date`"), "{error}");
    }
}
