//! `slm-quant quantize`: writes a GGUF file of another quantization type with llama.cpp's own
//! quantizer (`llama_model_quantize`), the same code as the `llama-quantize` tool.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
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
    check_output(input, output)?;
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
    if let Err(error) = std::fs::rename(&partial, output) {
        let _ = std::fs::remove_file(&partial);
        return Err(error)
            .with_context(|| format!("cannot move the quantized file to {}", output.display()));
    }
    Ok(())
}

/// Rejects an output that would replace the input, however its path is spelled (`./a.gguf`,
/// a symlink or a hard link), or that is a folder, before any time is spent quantizing.
fn check_output(input: &Path, output: &Path) -> Result<()> {
    let Ok(target) = std::fs::metadata(output) else {
        return Ok(());
    };
    if target.is_dir() {
        bail!(
            "output {} is a folder; name the GGUF file to write",
            output.display()
        );
    }
    let source = std::fs::metadata(input)
        .with_context(|| format!("cannot read model file {}", input.display()))?;
    if (source.dev(), source.ino()) == (target.dev(), target.ino()) {
        bail!(
            "input and output are the same file ({} and {}); choose another output",
            input.display(),
            output.display()
        );
    }
    Ok(())
}

fn path_to_cstring(path: &Path) -> Result<CString> {
    let text = path
        .to_str()
        .with_context(|| format!("path {} is not UTF-8", path.display()))?;
    CString::new(text).with_context(|| format!("path {} contains a NUL byte", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_naming_the_input_another_way_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        std::fs::write(&input, b"GGUF").unwrap();
        std::fs::hard_link(&input, dir.path().join("hard.gguf")).unwrap();
        std::os::unix::fs::symlink(&input, dir.path().join("soft.gguf")).unwrap();

        for spelling in ["in.gguf", "./in.gguf", "hard.gguf", "soft.gguf"] {
            let output = dir.path().join(spelling);
            let error = check_output(&input, &output).unwrap_err().to_string();
            assert!(error.contains("the same file"), "{spelling}: {error}");
        }
    }

    #[test]
    fn folder_output_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        std::fs::write(&input, b"GGUF").unwrap();
        let error = check_output(&input, dir.path()).unwrap_err().to_string();
        assert!(error.contains("is a folder"), "{error}");
    }

    #[test]
    fn other_or_new_output_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        std::fs::write(&input, b"GGUF").unwrap();
        std::fs::write(dir.path().join("old.gguf"), b"GGUF").unwrap();
        assert!(check_output(&input, &dir.path().join("old.gguf")).is_ok());
        assert!(check_output(&input, &dir.path().join("new.gguf")).is_ok());
    }
}
