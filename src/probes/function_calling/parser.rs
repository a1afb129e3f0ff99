//! Reads tool calls out of a model's answer, in the formats small models really emit:
//! `<tool_call>` tags, fenced code blocks, bare JSON objects or arrays (with `arguments` or
//! `parameters`, possibly JSON-encoded as a string) and Python call syntax such as
//! `get_weather(city="Paris")`, with prose around them.
//!
//! The first format found wins, in that order, so a call inside tags is not counted again as
//! bare JSON. Arguments that cannot be read make the whole answer a parse error; they never
//! become an empty argument object.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// One call read from an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Map<String, Value>,
}

/// An answer that tries to call a tool in a form that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// What one JSON value or tag body turned out to be.
enum Extracted {
    Calls(Vec<ToolCall>),
    NotACall,
    Invalid(String),
}

/// The calls in `answer`; an empty list when it calls nothing.
pub fn parse_calls(answer: &str) -> Result<Vec<ToolCall>, ParseError> {
    if let Some(calls) = tagged_calls(answer)? {
        return Ok(calls);
    }
    if let Some(calls) = fenced_calls(answer)? {
        return Ok(calls);
    }
    if let Some(calls) = bare_json_calls(answer)? {
        return Ok(calls);
    }
    python_calls(answer)
}

fn tagged_calls(answer: &str) -> Result<Option<Vec<ToolCall>>, ParseError> {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    if !answer.contains(OPEN) {
        return Ok(None);
    }

    let mut calls = Vec::new();
    for piece in answer.split(OPEN).skip(1) {
        // An answer cut off at the token limit may lack the closing tag.
        let body = piece.split(CLOSE).next().unwrap_or(piece).trim();
        match extract_from_text(strip_fence(body)) {
            Extracted::Calls(found) => calls.extend(found),
            Extracted::Invalid(reason) => {
                return Err(ParseError(format!(
                    "unreadable <tool_call> block: {reason}"
                )))
            }
            Extracted::NotACall => {
                return Err(ParseError(format!(
                    "a <tool_call> block holds no call: {}",
                    shorten(body)
                )))
            }
        }
    }
    Ok(Some(calls))
}

fn fenced_calls(answer: &str) -> Result<Option<Vec<ToolCall>>, ParseError> {
    static FENCE: OnceLock<Regex> = OnceLock::new();
    let fence = FENCE.get_or_init(|| {
        Regex::new(r"(?s)```[A-Za-z_]*[ \t]*\n?(.*?)(?:```|\z)").expect("fence pattern")
    });

    let mut calls = Vec::new();
    for capture in fence.captures_iter(answer) {
        let body = capture[1].trim();
        match extract_from_text(body) {
            Extracted::Calls(found) => calls.extend(found),
            Extracted::Invalid(reason) => {
                return Err(ParseError(format!("unreadable code block: {reason}")))
            }
            Extracted::NotACall => {}
        }
    }
    Ok((!calls.is_empty()).then_some(calls))
}

fn strip_fence(body: &str) -> &str {
    let Some(rest) = body.strip_prefix("```") else {
        return body;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '_');
    rest.trim_end().trim_end_matches("```").trim()
}

/// Reads a tag or code-block body: JSON, a Python literal or Python calls.
fn extract_from_text(body: &str) -> Extracted {
    if body.starts_with('{') || body.starts_with('[') {
        let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => return extract_from_value(&value),
            _ => {
                if let Ok(value) = python::parse_literal(body) {
                    return extract_from_value(&value);
                }
                if body.starts_with('[') {
                    if let Ok(calls) = python::parse_call_list(body) {
                        return Extracted::Calls(calls);
                    }
                }
                return Extracted::Invalid(format!("not valid JSON: {}", shorten(body)));
            }
        }
    }
    if python::looks_like_call(body) {
        return match python::parse_calls_sequence(body) {
            Ok(calls) => Extracted::Calls(calls),
            Err(reason) => Extracted::Invalid(reason),
        };
    }
    Extracted::NotACall
}

/// Reads the calls a JSON value describes: `{"name", "arguments" | "parameters"}`, the
/// OpenAI shape `{"function": {...}}`, `{"tool_calls": [...]}`, or an array of these.
fn extract_from_value(value: &Value) -> Extracted {
    match value {
        Value::Array(items) => {
            let mut calls = Vec::new();
            for item in items {
                match extract_from_value(item) {
                    Extracted::Calls(found) => calls.extend(found),
                    Extracted::NotACall => return Extracted::NotACall,
                    invalid => return invalid,
                }
            }
            if calls.is_empty() {
                Extracted::NotACall
            } else {
                Extracted::Calls(calls)
            }
        }
        Value::Object(object) => {
            if let Some(inner) = object.get("function").filter(|f| f.is_object()) {
                return extract_from_value(inner);
            }
            if let Some(inner) = object.get("tool_calls").filter(|c| c.is_array()) {
                return extract_from_value(inner);
            }
            let Some(name) = object.get("name").and_then(Value::as_str) else {
                return Extracted::NotACall;
            };
            match arguments_of(object) {
                Ok(arguments) => Extracted::Calls(vec![ToolCall {
                    name: name.to_string(),
                    arguments,
                }]),
                Err(reason) => Extracted::Invalid(format!("call `{name}`: {reason}")),
            }
        }
        _ => Extracted::NotACall,
    }
}

fn arguments_of(object: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let raw = object.get("arguments").or_else(|| object.get("parameters"));
    match raw {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(arguments)) => Ok(arguments.clone()),
        Some(Value::String(encoded)) => match serde_json::from_str::<Value>(encoded) {
            Ok(Value::Object(arguments)) => Ok(arguments),
            Ok(other) => Err(format!("the arguments string holds {other}, not an object")),
            Err(error) => Err(format!("the arguments string is not JSON ({error})")),
        },
        Some(other) => Err(format!("the arguments are {other}, not an object")),
    }
}

/// Scans prose for JSON values that describe calls. A `{` that starts something shaped like
/// a call (`"name"` right after it) but does not parse is a parse error.
fn bare_json_calls(answer: &str) -> Result<Option<Vec<ToolCall>>, ParseError> {
    let mut calls = Vec::new();
    let mut broken = None;
    let mut position = 0;
    while let Some(offset) = answer[position..].find(['{', '[']) {
        let start = position + offset;
        let rest = &answer[start..];
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let parsed = stream.next();
        let consumed = stream.byte_offset();
        match parsed {
            Some(Ok(value)) => match extract_from_value(&value) {
                Extracted::Calls(found) => {
                    calls.extend(found);
                    position = start + consumed.max(1);
                    continue;
                }
                Extracted::Invalid(reason) => return Err(ParseError(reason)),
                Extracted::NotACall => {}
            },
            _ => {
                if let Some((value, used)) = python::parse_literal_prefix(rest) {
                    if let Extracted::Calls(found) = extract_from_value(&value) {
                        calls.extend(found);
                        position = start + used.max(1);
                        continue;
                    }
                }
                if broken.is_none() && starts_like_call_object(rest) {
                    broken = Some(format!("not valid JSON: {}", shorten(rest)));
                }
            }
        }
        position = start + 1;
    }
    if !calls.is_empty() {
        return Ok(Some(calls));
    }
    match broken {
        Some(reason) => Err(ParseError(reason)),
        None => Ok(None),
    }
}

fn starts_like_call_object(text: &str) -> bool {
    let inner = text.trim_start_matches(['[', '{', ' ', '\n', '\t']);
    inner.starts_with("\"name\"") || inner.starts_with("'name'")
}

/// Finds `identifier(` in prose and reads the Python call there. A call whose arguments do
/// not parse is a parse error when its name looks like a function identifier (it has `_` or
/// `.`); otherwise the parenthesis is taken as prose.
fn python_calls(answer: &str) -> Result<Vec<ToolCall>, ParseError> {
    static CALL: OnceLock<Regex> = OnceLock::new();
    let call = CALL.get_or_init(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_.]*\(").expect("call pattern"));

    let mut calls = Vec::new();
    let mut position = 0;
    while let Some(found) = call.find_at(answer, position) {
        let name = &answer[found.start()..found.end() - 1];
        let preceded_by_word = answer[..found.start()]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        // `def f(x):` and `function f(x)` define a function in code; they do not call it.
        let before = answer[..found.start()].trim_end();
        let is_definition = ["def", "function", "fn", "class"]
            .iter()
            .any(|keyword| before.ends_with(keyword));
        if preceded_by_word || is_definition {
            position = found.end();
            continue;
        }
        match python::parse_call_at(answer, found.start()) {
            Ok((parsed, end)) => {
                calls.push(parsed);
                position = end;
            }
            Err(reason) if name.contains('_') || name.contains('.') => {
                return Err(ParseError(format!("unreadable call `{name}(…)`: {reason}")))
            }
            Err(_) => position = found.end(),
        }
    }
    Ok(calls)
}

fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    let mut short: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().count() > MAX_CHARS {
        short.push('…');
    }
    short
}

/// Python call syntax and Python literals (`'single quotes'`, `True`, `None`, tuples).
mod python {
    use super::*;

    pub fn looks_like_call(text: &str) -> bool {
        let trimmed = text.trim_start_matches('[');
        let name_end = trimmed
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(trimmed.len());
        name_end > 0 && trimmed[name_end..].starts_with('(')
    }

    /// Reads `f(a=1), g(b=2)` or `[f(a=1), g(b=2)]`, the whole text.
    pub fn parse_calls_sequence(text: &str) -> Result<Vec<ToolCall>, String> {
        if text.starts_with('[') {
            return parse_call_list(text);
        }
        let mut reader = Reader::new(text, 0);
        let mut calls = Vec::new();
        loop {
            reader.skip_space();
            calls.push(reader.call()?);
            reader.skip_space();
            if !reader.eat(',') && !reader.eat(';') {
                break;
            }
        }
        reader.skip_space();
        if !reader.at_end() {
            return Err(format!("unexpected text after the call: {}", reader.rest()));
        }
        Ok(calls)
    }

    /// Reads BFCL's prompt format `[f(a=1), g(b=2)]`.
    pub fn parse_call_list(text: &str) -> Result<Vec<ToolCall>, String> {
        let mut reader = Reader::new(text, 0);
        reader.expect('[')?;
        let mut calls = Vec::new();
        loop {
            reader.skip_space();
            if reader.eat(']') {
                break;
            }
            calls.push(reader.call()?);
            reader.skip_space();
            if reader.eat(']') {
                break;
            }
            reader.expect(',')?;
        }
        if calls.is_empty() {
            return Err("the call list is empty".into());
        }
        Ok(calls)
    }

    /// Reads the call starting at byte `start`, returning it and the byte after its `)`.
    pub fn parse_call_at(text: &str, start: usize) -> Result<(ToolCall, usize), String> {
        let mut reader = Reader::new(text, start);
        let call = reader.call()?;
        Ok((call, reader.position))
    }

    /// Reads a whole text as one Python literal.
    pub fn parse_literal(text: &str) -> Result<Value, String> {
        let mut reader = Reader::new(text, 0);
        let value = reader.value()?;
        reader.skip_space();
        if !reader.at_end() {
            return Err(format!("unexpected text: {}", reader.rest()));
        }
        Ok(value)
    }

    /// Reads one Python literal at the start of `text`, returning it and the bytes used.
    pub fn parse_literal_prefix(text: &str) -> Option<(Value, usize)> {
        let mut reader = Reader::new(text, 0);
        let value = reader.value().ok()?;
        Some((value, reader.position))
    }

    struct Reader<'t> {
        text: &'t str,
        position: usize,
    }

    impl<'t> Reader<'t> {
        fn new(text: &'t str, position: usize) -> Reader<'t> {
            Reader { text, position }
        }

        fn rest(&self) -> String {
            shorten(&self.text[self.position..])
        }

        fn peek(&self) -> Option<char> {
            self.text[self.position..].chars().next()
        }

        fn at_end(&self) -> bool {
            self.position >= self.text.len()
        }

        fn bump(&mut self) -> Option<char> {
            let c = self.peek()?;
            self.position += c.len_utf8();
            Some(c)
        }

        fn skip_space(&mut self) {
            while self.peek().is_some_and(char::is_whitespace) {
                self.bump();
            }
        }

        fn eat(&mut self, wanted: char) -> bool {
            self.skip_space();
            if self.peek() == Some(wanted) {
                self.bump();
                true
            } else {
                false
            }
        }

        fn expect(&mut self, wanted: char) -> Result<(), String> {
            if self.eat(wanted) {
                Ok(())
            } else {
                Err(format!("expected `{wanted}` at: {}", self.rest()))
            }
        }

        fn identifier(&mut self) -> Result<String, String> {
            self.skip_space();
            let start = self.position;
            while self
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                self.bump();
            }
            if start == self.position {
                return Err(format!("expected a name at: {}", self.rest()));
            }
            Ok(self.text[start..self.position].to_string())
        }

        /// `name(key=value, …)`; positional arguments cannot be mapped to parameter names
        /// without the schema, so they are rejected.
        fn call(&mut self) -> Result<ToolCall, String> {
            let name = self.identifier()?;
            self.expect('(')?;
            let mut arguments = Map::new();
            loop {
                if self.eat(')') {
                    break;
                }
                let key = self.identifier()?;
                if !self.eat('=') && !self.eat(':') {
                    return Err(format!(
                        "argument `{key}` has no `=`; positional arguments are not accepted"
                    ));
                }
                let value = self.value()?;
                arguments.insert(key, value);
                if self.eat(')') {
                    break;
                }
                self.expect(',')?;
            }
            Ok(ToolCall { name, arguments })
        }

        fn value(&mut self) -> Result<Value, String> {
            self.skip_space();
            match self.peek() {
                Some('"') | Some('\'') => self.string().map(Value::String),
                Some('[') => self.sequence('[', ']'),
                Some('(') => self.sequence('(', ')'),
                Some('{') => self.dict(),
                Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
                Some(_) => self.keyword(),
                None => Err("expected a value at the end of the text".into()),
            }
        }

        fn keyword(&mut self) -> Result<Value, String> {
            let word = self.identifier()?;
            match word.as_str() {
                "True" | "true" => Ok(Value::Bool(true)),
                "False" | "false" => Ok(Value::Bool(false)),
                "None" | "null" => Ok(Value::Null),
                other => Err(format!("`{other}` is not a literal value")),
            }
        }

        fn string(&mut self) -> Result<String, String> {
            let quote = self.bump().ok_or("expected a string")?;
            let mut text = String::new();
            loop {
                match self.bump() {
                    None => return Err("unterminated string".into()),
                    Some(c) if c == quote => return Ok(text),
                    Some('\\') => match self.bump() {
                        Some('n') => text.push('\n'),
                        Some('t') => text.push('\t'),
                        Some(other) => text.push(other),
                        None => return Err("unterminated string".into()),
                    },
                    Some(c) => text.push(c),
                }
            }
        }

        fn number(&mut self) -> Result<Value, String> {
            let start = self.position;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(c))
            {
                self.bump();
            }
            let literal = &self.text[start..self.position];
            if let Ok(integer) = literal.parse::<i64>() {
                return Ok(Value::Number(integer.into()));
            }
            literal
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{literal}` is not a number"))
        }

        fn sequence(&mut self, open: char, close: char) -> Result<Value, String> {
            self.expect(open)?;
            let mut items = Vec::new();
            loop {
                if self.eat(close) {
                    break;
                }
                items.push(self.value()?);
                if self.eat(close) {
                    break;
                }
                self.expect(',')?;
            }
            Ok(Value::Array(items))
        }

        fn dict(&mut self) -> Result<Value, String> {
            self.expect('{')?;
            let mut fields = Map::new();
            loop {
                if self.eat('}') {
                    break;
                }
                self.skip_space();
                let key = match self.peek() {
                    Some('"') | Some('\'') => self.string()?,
                    _ => return Err(format!("expected a quoted key at: {}", self.rest())),
                };
                self.expect(':')?;
                fields.insert(key, self.value()?);
                if self.eat('}') {
                    break;
                }
                self.expect(',')?;
            }
            Ok(Value::Object(fields))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(answer: &str) -> ToolCall {
        let calls = parse_calls(answer).unwrap_or_else(|e| panic!("{answer:?}: {e}"));
        assert_eq!(calls.len(), 1, "{answer:?} gave {calls:?}");
        calls.into_iter().next().unwrap()
    }

    fn paris() -> Map<String, Value> {
        json!({"city": "Paris"}).as_object().unwrap().clone()
    }

    #[test]
    fn tool_call_tags() {
        let call = one(
            r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>"#,
        );
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.arguments, paris());
    }

    #[test]
    fn tool_call_tag_without_closing() {
        let call =
            one("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}");
        assert_eq!(call.arguments, paris());
    }

    #[test]
    fn several_tagged_calls() {
        let answer = "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n\
                      <tool_call>{\"name\": \"b\", \"arguments\": {\"x\": 1}}</tool_call>";
        let calls = parse_calls(answer).unwrap();
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn fenced_json_block() {
        let answer = "Sure, here it is:\n```json\n{\"name\": \"get_weather\", \"parameters\": \
                      {\"city\": \"Paris\"}}\n```\nLet me know.";
        assert_eq!(one(answer).arguments, paris());
    }

    #[test]
    fn bare_object_with_prose_around() {
        let answer =
            "I will call {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} now.";
        assert_eq!(one(answer).name, "get_weather");
    }

    #[test]
    fn bare_array_of_calls() {
        let answer =
            r#"[{"name": "f", "arguments": {"n": 1}}, {"name": "f", "arguments": {"n": 2}}]"#;
        let calls = parse_calls(answer).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].arguments["n"], json!(2));
    }

    #[test]
    fn arguments_as_json_string() {
        let answer = r#"{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}"#;
        assert_eq!(one(answer).arguments, paris());
    }

    #[test]
    fn openai_function_shape() {
        let answer = r#"{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}"#;
        assert_eq!(one(answer).name, "get_weather");
    }

    #[test]
    fn python_call_syntax() {
        let call = one("get_weather(city=\"Paris\")");
        assert_eq!(call.arguments, paris());
        let call = one("Calling get_weather(city='Paris', days=3, metric=True) for you.");
        assert_eq!(call.arguments["days"], json!(3));
        assert_eq!(call.arguments["metric"], json!(true));
    }

    #[test]
    fn python_call_list() {
        let calls = parse_calls("[get_weather(city='Paris'), get_time(zone='CET')]").unwrap();
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["get_weather", "get_time"]);
    }

    #[test]
    fn python_call_with_nested_values() {
        let call = one("book(guests=['Ann', 'Bo'], room={'type': 'double', 'nights': 2})");
        assert_eq!(call.arguments["guests"], json!(["Ann", "Bo"]));
        assert_eq!(
            call.arguments["room"],
            json!({"type": "double", "nights": 2})
        );
    }

    #[test]
    fn python_dict_in_tags() {
        let call =
            one("<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Paris'}}</tool_call>");
        assert_eq!(call.arguments, paris());
    }

    #[test]
    fn prose_without_call_is_empty() {
        let calls = parse_calls("You can use the get_weather function to check Paris.").unwrap();
        assert!(calls.is_empty());
        let calls = parse_calls("The weather (in Paris) is {sunny} today.").unwrap();
        assert!(calls.is_empty());
    }

    #[test]
    fn function_definition_is_not_a_call() {
        let answer = "```python\ndef calculate_bmi(weight_kg, height_m):\n    return 1\n```";
        assert!(parse_calls(answer).unwrap().is_empty());
        let answer = "function get_weather(city) { return city; }";
        assert!(parse_calls(answer).unwrap().is_empty());
    }

    #[test]
    fn unrelated_json_is_not_a_call() {
        let calls = parse_calls(r#"Result: {"temperature": 21}"#).unwrap();
        assert!(calls.is_empty());
    }

    #[test]
    fn broken_json_in_tags_is_parse_error() {
        let error = parse_calls(
            r#"<tool_call>{"name": "get_weather", "arguments": {"city": }</tool_call>"#,
        )
        .unwrap_err();
        assert!(error.0.contains("<tool_call>"), "{error}");
    }

    #[test]
    fn broken_bare_json_is_parse_error() {
        let error =
            parse_calls(r#"{"name": "get_weather", "arguments": {"city": "Paris"#).unwrap_err();
        assert!(error.0.contains("not valid JSON"), "{error}");
    }

    #[test]
    fn unparseable_arguments_string_is_parse_error() {
        let error =
            parse_calls(r#"{"name": "get_weather", "arguments": "city=Paris"}"#).unwrap_err();
        assert!(error.0.contains("arguments string"), "{error}");
    }

    #[test]
    fn non_object_arguments_is_parse_error() {
        let error = parse_calls(r#"{"name": "get_weather", "arguments": ["Paris"]}"#).unwrap_err();
        assert!(error.0.contains("not an object"), "{error}");
    }

    #[test]
    fn positional_python_argument_is_parse_error() {
        let error = parse_calls("get_weather(\"Paris\")").unwrap_err();
        assert!(error.0.contains("get_weather"), "{error}");
    }

    #[test]
    fn empty_tag_is_parse_error() {
        let error = parse_calls("<tool_call>I would check the weather.</tool_call>").unwrap_err();
        assert!(error.0.contains("holds no call"), "{error}");
    }
}
