//! `slm-quant quantize`: writes a GGUF file of another quantization type with llama.cpp's own
//! quantizer (`llama_model_quantize`), the same code as the `llama-quantize` tool.

use std::ffi::CString;
use std::path::Path;

use anyhow::{bail, Context as _, Result};

use crate::engine::{self, Engine};
use crate::quant::QuantLabel;

/// Quantizes `input` into `output` as `label`. Requantizing an already quantized file is
/// allowed: llama.cpp dequantizes each tensor and quantizes it again, so the result is no
/// better than the input, only re-encoded.
pub fn quantize(
    _engine: &Engine,
    input: &Path,
    output: &Path,
    label: QuantLabel,
    threads: u32,
) -> Result<()> {
    engine::check_gguf_magic(input)?;
    if input == output {
        bail!(
            "input and output are the same file ({}); choose another output",
            input.display()
        );
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }

    let input_c = path_to_cstring(input)?;
    // Write beside the target and rename, so an interrupted run never leaves a partial file
    // under the final name.
    let partial = output.with_extension("gguf.partial");
    let partial_c = path_to_cstring(&partial)?;

    // SAFETY: llama_model_quantize_default_params returns a plain struct by value.
    let mut params = unsafe { llama_cpp_sys_2::llama_model_quantize_default_params() };
    params.ftype = label.ftype() as _;
    params.allow_requantize = true;
    params.nthread = i32::try_from(threads).unwrap_or(0);

    tracing::info!(input = %input.display(), output = %output.display(), quant = %label, "quantizing");
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call, and params
    // is a fully initialised struct from llama.cpp's own defaults.
    let status = unsafe {
        llama_cpp_sys_2::llama_model_quantize(input_c.as_ptr(), partial_c.as_ptr(), &params)
    };
    if status != 0 {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "llama.cpp failed to quantize {} to {label} (status {status}); its log lines above say why",
            input.display()
        );
    }
    std::fs::rename(&partial, output)
        .with_context(|| format!("cannot move the quantized file to {}", output.display()))?;
    Ok(())
}

fn path_to_cstring(path: &Path) -> Result<CString> {
    let text = path
        .to_str()
        .with_context(|| format!("path {} is not UTF-8", path.display()))?;
    CString::new(text).with_context(|| format!("path {} contains a NUL byte", path.display()))
}
