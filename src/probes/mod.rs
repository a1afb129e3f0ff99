//! Quality probes: tasks with known answers that a quant is asked through its chat template,
//! scored without a judge model.

pub mod function_calling;

use anyhow::{Context as _, Result};

use crate::chat::ChatTemplate;
use crate::engine::Session;

/// Result of one greedy completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens that had to be decoded; the rest were reused from the KV cache.
    pub prefilled_tokens: usize,
}

/// What a probe needs from a model. The llama.cpp engine implements it, and so do scripted
/// backends in tests, which answer without a model.
pub trait ProbeBackend {
    /// Tokens of `text` with the model's tokenizer, without BOS.
    fn count_tokens(&self, text: &str) -> Result<usize>;

    /// Returns the model's chat template, if its GGUF has one.
    fn chat_template(&self) -> Option<ChatTemplate>;

    /// Greedily completes an already rendered prompt, generating at most `max_tokens` and
    /// stopping at end of generation. A prompt that starts like the previous one reuses the
    /// shared part of the KV cache.
    fn complete(&mut self, prompt: &str, max_tokens: usize) -> Result<Completion>;

    /// Largest prompt plus answer, in tokens, the backend can hold.
    fn n_ctx(&self) -> usize;
}

/// [`ProbeBackend`] over a llama.cpp session.
pub struct EngineBackend<'s, 'm> {
    session: &'s mut Session<'m>,
}

impl<'s, 'm> EngineBackend<'s, 'm> {
    pub fn new(session: &'s mut Session<'m>) -> Self {
        EngineBackend { session }
    }
}

impl ProbeBackend for EngineBackend<'_, '_> {
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.session.model().tokenize(text, false).len())
    }

    fn chat_template(&self) -> Option<ChatTemplate> {
        let model = self.session.model();
        let source = model.chat_template()?;
        let token_text = |key: &str| -> String {
            model
                .metadata(key)
                .and_then(|id| id.parse::<i32>().ok())
                .map(|id| model.token_text(llama_cpp_2::token::LlamaToken(id)))
                .unwrap_or_default()
        };
        Some(ChatTemplate::new(
            source,
            &token_text("tokenizer.ggml.bos_token_id"),
            &token_text("tokenizer.ggml.eos_token_id"),
        ))
    }

    fn complete(&mut self, prompt: &str, max_tokens: usize) -> Result<Completion> {
        let model = self.session.model();
        // Rendered templates already contain BOS when the model wants it; add it otherwise.
        let mut tokens = model.tokenize(prompt, false);
        if let Some(bos) = model.bos() {
            if tokens.first() != Some(&bos) {
                tokens.insert(0, bos);
            }
        }
        let room = self.n_ctx().saturating_sub(tokens.len());
        if room == 0 {
            anyhow::bail!(
                "a prompt of {} tokens leaves no room to answer in a context of {}",
                tokens.len(),
                self.n_ctx()
            );
        }
        let prefilled = self
            .session
            .prefill(&tokens)
            .context("prompt processing failed")?;
        let text = self.session.generate(max_tokens.min(room))?;
        Ok(Completion {
            text,
            prompt_tokens: tokens.len(),
            prefilled_tokens: prefilled,
        })
    }

    fn n_ctx(&self) -> usize {
        self.session.n_ctx() as usize
    }
}
pub mod rag;
