//! slm-quant measures what each GGUF quantization of a small language model costs (speed,
//! memory) and what it loses (quality), and records the results in a model registry.

pub mod chat;
pub mod cli;
pub mod compare;
pub mod engine;
pub mod fetch;
pub mod fragment;
pub mod hardware;
pub mod measure;
pub mod memory;
pub mod merge;
pub mod overview;
pub mod perf;
pub mod plan;
pub mod printer;
pub mod probes;
pub mod profile;
pub mod quality;
pub mod quant;
pub mod quantize;
pub mod registry;
pub mod registry_blocks;
pub mod report;
pub mod resume;
pub mod site;
pub mod stats;
pub mod sweep;
pub mod text;
