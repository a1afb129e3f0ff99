//! The llama.cpp engine: one backend per process, models loaded from GGUF files, and
//! sessions (a context with its KV cache) that decode tokens and expose next-token logits.

use std::io::Read;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{send_logs_to_tracing, LogOptions};

/// Bytes per KV-cache element: llama.cpp's default cache type is F16.
const KV_ELEMENT_BYTES: u64 = 2;

/// The llama.cpp backend. llama.cpp allows one per process, so it is created once and passed
/// down to everything that loads a model.
pub struct Engine {
    backend: LlamaBackend,
}

impl Engine {
    /// Initialises llama.cpp and routes its log lines into `tracing` (target `llama-cpp-2`).
    pub fn init() -> Result<Engine> {
        send_logs_to_tracing(LogOptions::default());
        let backend = LlamaBackend::init().context("failed to initialise the llama.cpp backend")?;
        Ok(Engine { backend })
    }

    /// Loads a GGUF model for CPU inference, memory-mapping its weights where the platform
    /// allows it.
    pub fn load(&self, path: &Path) -> Result<Model> {
        check_gguf_magic(path)?;
        let params = LlamaModelParams::default().with_n_gpu_layers(0);
        let started = Instant::now();
        let model = LlamaModel::load_from_file(&self.backend, path, &params).map_err(|error| {
            anyhow::anyhow!(
                "llama.cpp could not load {}: {error}; its own log lines above say why \
                 (a damaged or truncated file, or an architecture this llama.cpp build lacks)",
                path.display()
            )
        })?;
        let load_time = started.elapsed();
        tracing::debug!(file = %path.display(), load_ms = load_time.as_millis(), "model loaded");

        Ok(Model {
            model,
            path: path.to_path_buf(),
            load_time,
            mmapped: params.use_mmap() && llama_cpp_2::mmap_supported(),
        })
    }

    /// CPU features llama.cpp was compiled with and detected at run time, as reported by
    /// `llama_print_system_info` (for example `AVX2`, `FMA`, `F16C`).
    pub fn cpu_features(&self) -> Vec<String> {
        // SAFETY: llama_print_system_info returns a pointer to a static, NUL-terminated string.
        let info = unsafe { std::ffi::CStr::from_ptr(llama_cpp_sys_2::llama_print_system_info()) };
        parse_system_info(&info.to_string_lossy())
    }
}

/// Feature names that `llama_print_system_info` reports as `NAME = 1`.
fn parse_system_info(info: &str) -> Vec<String> {
    let mut features: Vec<String> = info
        .split('|')
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let name = name.trim().rsplit(' ').next()?.trim();
            (value.trim() == "1" && !name.is_empty()).then(|| name.to_string())
        })
        .collect();
    features.sort();
    features.dedup();
    features
}

/// Fails unless `path` starts with the GGUF magic bytes, so an HTML error page or a truncated
/// download is reported as such instead of as a llama.cpp crash.
pub fn check_gguf_magic(path: &Path) -> Result<()> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot open model file {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 4];
    let read = file.read(&mut head).unwrap_or(0);
    if read < 4 || &head != b"GGUF" {
        let shown = String::from_utf8_lossy(&head[..read])
            .escape_debug()
            .to_string();
        bail!(
            "{} is not a GGUF file: starts with `{shown}`, {size} bytes; \
             download or derive the file again, or correct its path",
            path.display()
        );
    }
    Ok(())
}

/// A loaded model and what its GGUF header says about it.
pub struct Model {
    model: LlamaModel,
    path: PathBuf,
    load_time: Duration,
    mmapped: bool,
}

/// Shape and size of a loaded model, for the registry.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub architecture: Option<String>,
    pub name: Option<String>,
    pub n_params: u64,
    /// Bytes of all tensors (`llama_model_size`).
    pub tensor_bytes: u64,
    pub n_ctx_train: u32,
    pub n_vocab: i32,
    pub n_layer: u32,
}

impl Model {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Returns whether the weights were memory-mapped from the file rather than read into RAM.
    pub fn mmapped(&self) -> bool {
        self.mmapped
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            architecture: self.model.meta_val_str("general.architecture").ok(),
            name: self.model.meta_val_str("general.name").ok(),
            n_params: self.model.n_params(),
            tensor_bytes: self.model.size(),
            n_ctx_train: self.model.n_ctx_train(),
            n_vocab: self.model.n_vocab(),
            n_layer: self.model.n_layer(),
        }
    }

    /// Returns the GGUF metadata value for `key`, if present.
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.model.meta_val_str(key).ok()
    }

    /// Returns the chat template stored in the GGUF (`tokenizer.chat_template`), if any.
    pub fn chat_template(&self) -> Option<String> {
        self.model
            .chat_template(None)
            .ok()
            .and_then(|template| template.to_string().ok())
    }

    /// Tokenizes `text`, adding BOS when the vocabulary requires it and `add_special` is set,
    /// and parsing special tokens such as `<|im_start|>`.
    pub fn tokenize(&self, text: &str, add_special: bool) -> Vec<LlamaToken> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), add_special, true)
    }

    /// Text of `tokens`, with special tokens rendered as plain text.
    pub fn detokenize(&self, tokens: &[LlamaToken]) -> String {
        let bytes = self.model.vocab().detokenize(tokens, false, false);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Text of one token, with special tokens such as `<|im_start|>` spelled out.
    pub fn token_text(&self, token: LlamaToken) -> String {
        let bytes = self.model.vocab().token_to_piece(token, true, None);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Returns the BOS token when the vocabulary adds one at the start of a sequence.
    pub fn bos(&self) -> Option<LlamaToken> {
        let vocab = self.model.vocab();
        vocab.should_add_bos().then(|| vocab.bos())
    }

    pub fn is_end_of_generation(&self, token: LlamaToken) -> bool {
        self.model.vocab().is_eog(token)
    }

    /// Bytes of an F16 KV cache holding `n_ctx` tokens: keys and values for every layer, sized
    /// by the model's KV heads and head dimensions as written in its GGUF header.
    pub fn kv_cache_bytes(&self, n_ctx: u32) -> u64 {
        let n_layer = u64::from(self.model.n_layer());
        let n_head = u64::from(self.model.n_head().max(1));
        let n_head_kv = u64::from(self.model.n_head_kv());
        let n_embd = self.model.n_embd().max(0) as u64;

        let arch = self.metadata("general.architecture").unwrap_or_default();
        let head_dim = |key: &str| -> u64 {
            self.metadata(&format!("{arch}.attention.{key}"))
                .and_then(|value| value.parse().ok())
                .unwrap_or(n_embd / n_head)
        };
        let per_token = n_layer * n_head_kv * (head_dim("key_length") + head_dim("value_length"));
        per_token * u64::from(n_ctx) * KV_ELEMENT_BYTES
    }

    /// Creates a session with room for `n_ctx` tokens.
    pub fn session(&self, engine: &Engine, settings: &SessionSettings) -> Result<Session<'_>> {
        let n_ctx = NonZeroU32::new(settings.n_ctx).context("a session needs n_ctx > 0")?;
        let threads = i32::try_from(settings.threads).unwrap_or(i32::MAX);
        let params = LlamaContextParams::default()
            .with_n_ctx(Some(n_ctx))
            .with_n_batch(settings.n_batch)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let context = self
            .model
            .new_context(&engine.backend, params)
            .with_context(|| {
                format!(
                    "llama.cpp could not create a context of {} tokens for {}",
                    settings.n_ctx,
                    self.path.display()
                )
            })?;
        let n_batch = context.n_batch() as usize;
        Ok(Session {
            model: self,
            context,
            batch: LlamaBatch::new(n_batch, 1),
            n_batch,
            tokens: Vec::new(),
            last_logits_index: None,
        })
    }
}

/// Size and threads of a session's context.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub n_ctx: u32,
    /// Tokens per `llama_decode` call while processing a prompt.
    pub n_batch: u32,
    pub threads: u32,
}

/// Receives the position in a decoded run of tokens and the next-token logits after it.
type LogitsCallback<'f> = dyn FnMut(usize, &[f32]) + 'f;

/// A llama.cpp context and the tokens its KV cache contains (sequence 0).
pub struct Session<'m> {
    model: &'m Model,
    context: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    tokens: Vec<LlamaToken>,
    /// Index in the last decoded batch whose logits were requested.
    last_logits_index: Option<i32>,
}

impl<'m> Session<'m> {
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Tokens per `llama_decode` call llama.cpp settled on (at most the context size).
    pub fn n_batch(&self) -> u32 {
        self.n_batch as u32
    }

    /// Returns the context size llama.cpp allocated (it may round the requested one up).
    pub fn n_ctx(&self) -> u32 {
        self.context.n_ctx()
    }

    /// Tokens currently in the KV cache.
    pub fn tokens(&self) -> &[LlamaToken] {
        &self.tokens
    }

    /// Empties the KV cache.
    pub fn clear(&mut self) {
        self.context.clear_kv_cache();
        self.tokens.clear();
        self.last_logits_index = None;
    }

    /// Drops cached tokens from position `keep` on, so the cache can be reused for a prompt
    /// that shares its first `keep` tokens.
    pub fn truncate(&mut self, keep: usize) -> Result<()> {
        if keep >= self.tokens.len() {
            return Ok(());
        }
        let start = u32::try_from(keep).context("position does not fit llama.cpp's type")?;
        self.context
            .clear_kv_cache_seq(Some(0), Some(start), None)
            .context("llama.cpp could not remove tokens from the KV cache")?;
        self.tokens.truncate(keep);
        self.last_logits_index = None;
        Ok(())
    }

    /// Appends `tokens` to the cache in batches of `n_batch`, keeping logits for the last one.
    pub fn decode(&mut self, tokens: &[LlamaToken]) -> Result<()> {
        self.decode_batches(tokens, None)
    }

    /// Appends `tokens` like [`Session::decode`], calling `on_logits(i, logits)` with the
    /// next-token logits after each of them, in order.
    pub fn decode_with(
        &mut self,
        tokens: &[LlamaToken],
        mut on_logits: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        self.decode_batches(tokens, Some(&mut on_logits))
    }

    fn decode_batches(
        &mut self,
        tokens: &[LlamaToken],
        mut on_logits: Option<&mut LogitsCallback<'_>>,
    ) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        let want_all = on_logits.is_some();
        let free = self.n_ctx() as usize - self.tokens.len().min(self.n_ctx() as usize);
        if tokens.len() > free {
            bail!(
                "{} tokens do not fit the context: {} of {} positions are free",
                tokens.len(),
                free,
                self.n_ctx()
            );
        }

        let mut done = 0;
        for chunk in tokens.chunks(self.n_batch) {
            self.batch.clear();
            for (i, &token) in chunk.iter().enumerate() {
                let pos = (self.tokens.len() + i) as i32;
                let is_last = done + i + 1 == tokens.len();
                self.batch.add(token, pos, &[0], want_all || is_last)?;
            }
            self.context
                .decode(&mut self.batch)
                .context("llama_decode failed")?;
            self.tokens.extend_from_slice(chunk);
            self.last_logits_index = Some(self.batch.n_tokens() - 1);

            if let Some(on_logits) = on_logits.as_mut() {
                for i in 0..chunk.len() {
                    on_logits(done + i, self.context.get_logits_ith(i as i32));
                }
            }
            done += chunk.len();
        }
        Ok(())
    }

    /// Next-token logits after the last decoded token.
    pub fn logits(&self) -> Result<&[f32]> {
        let index = self
            .last_logits_index
            .context("no token has been decoded yet")?;
        Ok(self.context.get_logits_ith(index))
    }

    /// Returns the most likely next token (greedy decoding).
    pub fn greedy_token(&self) -> Result<LlamaToken> {
        let logits = self.logits()?;
        let best = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(id, _)| id)
            .context("the model returned no logits")?;
        Ok(LlamaToken(best as i32))
    }

    /// Brings the cache to `prompt`, reusing the longest cached prefix, and returns how many
    /// tokens had to be decoded.
    pub fn prefill(&mut self, prompt: &[LlamaToken]) -> Result<usize> {
        let shared = self
            .tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        // The last prompt token is always decoded again so its logits are fresh.
        let keep = shared.min(prompt.len().saturating_sub(1));
        self.truncate(keep)?;
        self.decode(&prompt[keep..])?;
        Ok(prompt.len() - keep)
    }

    /// Generates up to `max_tokens` greedily after the cached tokens, stopping at an
    /// end-of-generation token, and returns the text.
    pub fn generate(&mut self, max_tokens: usize) -> Result<String> {
        let mut generated = Vec::new();
        for _ in 0..max_tokens {
            let token = self.greedy_token()?;
            if self.model.is_end_of_generation(token) {
                break;
            }
            generated.push(token);
            if self.tokens.len() >= self.n_ctx() as usize {
                break;
            }
            self.decode(&[token])?;
        }
        Ok(self.model.detokenize(&generated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_info_features_are_parsed() {
        let info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | \
                    AVX512 = 0 | AMX_INT8 = 0 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |";
        let features = parse_system_info(info);
        assert!(features.contains(&"AVX2".to_string()), "{features:?}");
        assert!(features.contains(&"SSE3".to_string()), "{features:?}");
        assert!(!features.contains(&"AVX512".to_string()), "{features:?}");
        assert!(!features.contains(&"AMX_INT8".to_string()), "{features:?}");
    }

    #[test]
    fn html_saved_as_gguf_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, "<!DOCTYPE html><html>rate limited</html>").unwrap();
        let error = check_gguf_magic(&path).unwrap_err().to_string();
        assert!(
            error.contains("not a GGUF file: starts with `<!DO`"),
            "{error}"
        );
        assert!(error.contains("40 bytes"), "{error}");
    }

    #[test]
    fn empty_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, "").unwrap();
        let error = check_gguf_magic(&path).unwrap_err().to_string();
        assert!(error.contains("0 bytes"), "{error}");
    }

    #[test]
    fn gguf_magic_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, b"GGUF\x03\x00\x00\x00").unwrap();
        assert!(check_gguf_magic(&path).is_ok());
    }
}
