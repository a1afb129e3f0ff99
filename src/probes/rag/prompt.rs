//! Questions and how they are put to the model: a document (the context) and a question
//! rendered through the model's chat template, answered greedily, and scored.

use anyhow::Result;
use sha2::{Digest, Sha256};

use super::record::CaseResult;
use super::score::{self, UnanswerableOutcome};
use super::RagFamily;
use crate::chat::{ChatTemplate, Message};
use crate::probes::ProbeBackend;

/// System message of questions about a document. The refusal sentence is one the refusal
/// scorer recognises, so a model that follows the instruction is scored as refusing.
pub const DOCUMENT_SYSTEM: &str = "Answer the question using only the document in the \
     message. Reply with the answer alone, in as few words as possible. If the document does \
     not contain the answer, reply: The document does not say.";

/// System message of the closed-book control, which asks the same questions with no document.
pub const CLOSED_BOOK_SYSTEM: &str =
    "Answer the question. Reply with the answer alone, in as few words as possible.";

/// Tokens kept free beside a context for the template, the question and the answer.
pub const CONTEXT_RESERVE_TOKENS: usize = 192;

/// How an answer is scored.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Exactly this number, and no other of its length.
    Number(String),
    /// This name and none of the other names of its kind in the context.
    Entity {
        expected: String,
        distractors: Vec<String>,
    },
    /// Every one of these values, scored in part.
    All(Vec<String>),
    /// The context does not answer the question, so the answer must say so.
    Unanswerable,
}

impl Check {
    /// Score from 0 to 1, and for unanswerable questions whether the answer hallucinated.
    pub fn score(&self, answer: &str) -> (f64, Option<bool>) {
        let binary = |pass: bool| if pass { 1.0 } else { 0.0 };
        match self {
            Check::Number(expected) => (binary(score::match_number(answer, expected)), None),
            Check::Entity {
                expected,
                distractors,
            } => (
                binary(score::match_entity(answer, expected, distractors)),
                None,
            ),
            Check::All(values) => (score::match_all(answer, values), None),
            Check::Unanswerable => {
                let outcome = score::judge_unanswerable(answer);
                (
                    binary(outcome == UnanswerableOutcome::Refused),
                    Some(outcome == UnanswerableOutcome::Hallucinated),
                )
            }
        }
    }

    pub fn expected(&self) -> Vec<String> {
        match self {
            Check::Number(value) => vec![value.clone()],
            Check::Entity { expected, .. } => vec![expected.clone()],
            Check::All(values) => values.clone(),
            Check::Unanswerable => vec!["The document does not say.".to_string()],
        }
    }
}

/// A question about a context.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub id: String,
    pub task: &'static str,
    pub text: String,
    pub check: Check,
    /// Maximum answer length in tokens.
    pub max_tokens: usize,
    pub target_depth_percent: Option<u32>,
    pub depth_percent: Option<f64>,
}

impl Question {
    pub fn new(id: String, task: &'static str, text: String, check: Check) -> Question {
        let max_tokens = match check {
            Check::All(ref values) => 16 + 12 * values.len(),
            _ => 24,
        };
        Question {
            id,
            task,
            text,
            check,
            max_tokens,
            target_depth_percent: None,
            depth_percent: None,
        }
    }
}

/// A document the questions are asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub text: String,
    /// Tokens of `text`, measured with the model's tokenizer.
    pub tokens: usize,
    pub target_tokens: Option<usize>,
}

impl Context {
    /// A context whose length is measured with the backend's tokenizer.
    pub fn measured(
        backend: &dyn ProbeBackend,
        text: String,
        target_tokens: Option<usize>,
    ) -> Result<Context> {
        let tokens = backend.count_tokens(&text)?;
        Ok(Context {
            text,
            tokens,
            target_tokens,
        })
    }
}

/// Puts questions to a backend and keeps count of the prompt tokens it had to decode.
pub struct Asker<'b> {
    backend: &'b mut dyn ProbeBackend,
    template: Option<ChatTemplate>,
    prefill_tokens: u64,
}

impl<'b> Asker<'b> {
    pub fn new(backend: &'b mut dyn ProbeBackend) -> Asker<'b> {
        let template = backend.chat_template();
        if template.is_none() {
            tracing::warn!("the model has no chat template; RAG prompts use a plain text layout");
        }
        Asker {
            backend,
            template,
            prefill_tokens: 0,
        }
    }

    pub fn backend(&self) -> &dyn ProbeBackend {
        &*self.backend
    }

    /// Longest context, in tokens, that leaves room for the question and its answer.
    pub fn max_context_tokens(&self) -> usize {
        self.backend.n_ctx().saturating_sub(CONTEXT_RESERVE_TOKENS)
    }

    /// Prompt tokens decoded so far.
    pub fn prefill_tokens(&self) -> u64 {
        self.prefill_tokens
    }

    /// Renders the prompt of `question` about `context`, or closed-book without one. The
    /// context comes before the question, so questions about the same context share the
    /// prompt up to the question and reuse its KV cache.
    pub fn render(&self, context: Option<&str>, question: &str) -> Result<String> {
        let (system, user) = match context {
            Some(document) => (
                DOCUMENT_SYSTEM,
                format!("Document:\n{document}\n\nQuestion: {question}"),
            ),
            None => (CLOSED_BOOK_SYSTEM, format!("Question: {question}")),
        };
        match &self.template {
            Some(template) => {
                template.render(&[Message::system(system), Message::user(user)], None, true)
            }
            None => Ok(format!("{system}\n\n{user}\nAnswer:")),
        }
    }

    /// Asks `question` about `context` (closed-book when `None`) and scores the answer.
    pub fn ask(
        &mut self,
        family: RagFamily,
        context: Option<&Context>,
        question: &Question,
    ) -> Result<CaseResult> {
        let prompt = self.render(context.map(|c| c.text.as_str()), &question.text)?;
        let completion = self.backend.complete(&prompt, question.max_tokens)?;
        self.prefill_tokens += completion.prefilled_tokens as u64;

        let answer = completion.text.trim().to_string();
        let (score, hallucinated) = question.check.score(&answer);
        tracing::trace!(id = %question.id, answer = %answer, score, "case scored");
        Ok(CaseResult {
            family,
            task: question.task.to_string(),
            id: question.id.clone(),
            closed_book: context.is_none(),
            prompt_sha256: format!("{:x}", Sha256::digest(prompt.as_bytes())),
            question: question.text.clone(),
            expected: question.check.expected(),
            answer,
            score,
            pass: score >= 1.0,
            hallucinated,
            context_tokens: context.map(|c| c.tokens),
            target_context_tokens: context.and_then(|c| c.target_tokens),
            depth_percent: context.and(question.depth_percent),
            target_depth_percent: context.and(question.target_depth_percent),
            prompt_tokens: completion.prompt_tokens,
            prefilled_tokens: completion.prefilled_tokens,
        })
    }
}
