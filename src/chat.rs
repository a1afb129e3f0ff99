//! Chat templates: renders a conversation (and optional tool definitions) into the prompt a
//! model expects, with the Jinja template stored in its GGUF (`tokenizer.chat_template`).

use anyhow::{Context as _, Result};
use minijinja::{Environment, ErrorKind};
use serde::Serialize;
use serde_json::Value;

/// One chat message as chat templates read it (the OpenAI message shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// Calls the assistant made, as `[{"type": "function", "function": {"name", "arguments"}}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Value>,
    /// For `tool` messages: the function whose result this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Message {
        Message {
            role: role.to_string(),
            content: content.into(),
            tool_calls: None,
            name: None,
            tool_call_id: None,
        }
    }

    pub fn system(content: impl Into<String>) -> Message {
        Message::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Message {
        Message::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Message {
        Message::new("assistant", content)
    }
}

/// A model's chat template with the special tokens it refers to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    pub fn new(source: impl Into<String>, bos_token: &str, eos_token: &str) -> ChatTemplate {
        ChatTemplate {
            source: source.into(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Returns whether the template reads a `tools` variable, so tool definitions can be passed to
    /// it instead of being described in a system prompt.
    pub fn supports_tools(&self) -> bool {
        self.source.contains("tools")
    }

    /// Renders `messages` (and `tools`, when given) into a prompt. With
    /// `add_generation_prompt` the prompt ends where the assistant's answer begins.
    pub fn render(
        &self,
        messages: &[Message],
        tools: Option<&[Value]>,
        add_generation_prompt: bool,
    ) -> Result<String> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_template("chat", &self.source)
            .context("the chat template does not parse")?;

        let template = env.get_template("chat")?;
        let context = minijinja::context! {
            messages => messages,
            tools => tools,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        };
        template
            .render(context)
            .context("the chat template failed to render")
    }
}

/// `raise_exception(message)`, which Hugging Face templates call on input they reject.
fn raise_exception(message: String) -> Result<String, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)`, used by some templates to print today's date. A fixed date keeps
/// prompts, and so probe results, reproducible.
fn strftime_now(format: String) -> String {
    format
        .replace("%d", "01")
        .replace("%b", "Jan")
        .replace("%B", "January")
        .replace("%Y", "2026")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] \
        != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, \
        trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] \
        + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if \
        add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_template_renders_generation_prompt() {
        let template = ChatTemplate::new(CHATML, "<|im_start|>", "<|im_end|>");
        let prompt = template.render(&[Message::user("Hi")], None, true).unwrap();
        assert!(
            prompt.starts_with("<|im_start|>system\nYou are a helpful"),
            "{prompt}"
        );
        assert!(
            prompt.contains("<|im_start|>user\nHi<|im_end|>\n"),
            "{prompt}"
        );
        assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
        assert!(!template.supports_tools());
    }

    #[test]
    fn python_string_methods_work() {
        let source = "{{ messages[0]['content'].strip().upper() }}";
        let template = ChatTemplate::new(source, "", "");
        assert_eq!(
            template
                .render(&[Message::user("  hi ")], None, false)
                .unwrap(),
            "HI"
        );
    }

    #[test]
    fn raise_exception_becomes_an_error() {
        let source = "{{ raise_exception('only user and assistant roles') }}";
        let template = ChatTemplate::new(source, "", "");
        let error = format!("{:#}", template.render(&[], None, false).unwrap_err());
        assert!(error.contains("only user and assistant roles"), "{error}");
    }

    #[test]
    fn tools_are_passed_to_the_template() {
        let source = "{% if tools %}{% for tool in tools %}{{ tool.function.name }};{% endfor %}\
                      {% endif %}{{ messages[0].content }}";
        let template = ChatTemplate::new(source, "", "");
        let tools =
            vec![serde_json::json!({"type": "function", "function": {"name": "get_weather"}})];
        let prompt = template
            .render(&[Message::user("x")], Some(&tools), false)
            .unwrap();
        assert_eq!(prompt, "get_weather;x");
        assert!(template.supports_tools());
    }
}
