//! The reference file: the reference quant's next-token log-probabilities at every scored
//! position of the evaluation text, stored compactly so other quants' processes can stream it.
//!
//! Layout (little-endian):
//! - 8 bytes magic `SLMQREF1`;
//! - a JSON [`ReferenceHeader`], space-padded to [`HEADER_BYTES`] so it can be rewritten in
//!   place once the reference's perplexity is known;
//! - the decoded tokens, `n_chunks * n_ctx` `i32`;
//! - one record per scored position: top token `u32`, `min` `f32`, `step` `f32`, then
//!   `n_vocab` `u16` codes. A code `q` stands for the log-probability `min + q * step`, so 16
//!   bits cover the position's whole range in 65535 steps.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::divergence::argmax;
use super::EvalTextRecord;

const MAGIC: &[u8; 8] = b"SLMQREF1";
/// Bytes reserved for the JSON header.
pub const HEADER_BYTES: usize = 4096;
/// Bytes of a record before its codes: top token, `min` and `step`.
const RECORD_PREFIX_BYTES: usize = 12;
const MAX_CODE: f32 = u16::MAX as f32;

/// Inputs a reference file was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceHeader {
    /// Label of the reference quant, e.g. `F16`.
    pub quant: String,
    /// SHA-256 of the reference GGUF file.
    pub model_sha256: String,
    pub eval_text: EvalTextRecord,
    pub n_vocab: usize,
    /// Positions scored per chunk: the second half of each chunk, as llama-perplexity scores.
    pub scored_per_chunk: usize,
    /// Perplexity of the reference over the scored positions, from its unrounded logits.
    #[serde(default)]
    pub ppl: Option<f64>,
}

impl ReferenceHeader {
    pub fn n_ctx(&self) -> usize {
        self.eval_text.n_ctx as usize
    }

    pub fn n_chunks(&self) -> usize {
        self.eval_text.n_chunks as usize
    }

    /// Bytes of the whole file.
    pub fn file_bytes(&self) -> u64 {
        let tokens = self.n_chunks() * self.n_ctx() * 4;
        let records = self.n_chunks() * self.scored_per_chunk * record_bytes(self.n_vocab);
        (MAGIC.len() + HEADER_BYTES + tokens + records) as u64
    }
}

/// Bytes of one position's record for a vocabulary of `n_vocab` tokens.
pub fn record_bytes(n_vocab: usize) -> usize {
    RECORD_PREFIX_BYTES + 2 * n_vocab
}

/// Writes a reference file position by position.
pub struct ReferenceWriter {
    out: BufWriter<File>,
    header: ReferenceHeader,
    codes: Vec<u8>,
    records: usize,
}

impl ReferenceWriter {
    /// Starts the file at `path` with its header and the decoded tokens.
    pub fn create(path: &Path, header: ReferenceHeader, tokens: &[i32]) -> Result<Self> {
        let expected = header.n_chunks() * header.n_ctx();
        if tokens.len() != expected {
            bail!(
                "reference tokens: {} given, {expected} expected ({} chunks of {})",
                tokens.len(),
                header.n_chunks(),
                header.n_ctx()
            );
        }
        let file = File::create(path)
            .with_context(|| format!("cannot create reference file {}", path.display()))?;
        let mut out = BufWriter::new(file);
        out.write_all(MAGIC)?;
        out.write_all(&padded_header(&header)?)?;
        for token in tokens {
            out.write_all(&token.to_le_bytes())?;
        }
        let codes = Vec::with_capacity(2 * header.n_vocab);
        Ok(ReferenceWriter {
            out,
            header,
            codes,
            records: 0,
        })
    }

    /// Appends one position's log-probabilities.
    pub fn push(&mut self, log_probs: &[f32]) -> Result<()> {
        if log_probs.len() != self.header.n_vocab {
            bail!(
                "reference position has {} log-probabilities, the vocabulary {}",
                log_probs.len(),
                self.header.n_vocab
            );
        }
        let top = argmax(log_probs);
        let min = log_probs.iter().copied().fold(f32::INFINITY, f32::min);
        let range = log_probs[top] - min;
        // A flat distribution has no range; any positive step then decodes every code to `min`.
        let step = if range > 0.0 { range / MAX_CODE } else { 1.0 };

        self.codes.clear();
        for &value in log_probs {
            let code = ((value - min) / step).round().clamp(0.0, MAX_CODE) as u16;
            self.codes.extend_from_slice(&code.to_le_bytes());
        }
        self.out.write_all(&(top as u32).to_le_bytes())?;
        self.out.write_all(&min.to_le_bytes())?;
        self.out.write_all(&step.to_le_bytes())?;
        self.out.write_all(&self.codes)?;
        self.records += 1;
        Ok(())
    }

    /// Checks that every position was written, stores the reference perplexity in the header
    /// and flushes the file to disk.
    pub fn finish(mut self, ppl: f64) -> Result<ReferenceHeader> {
        let expected = self.header.n_chunks() * self.header.scored_per_chunk;
        if self.records != expected {
            bail!(
                "reference file has {} positions, {expected} expected",
                self.records
            );
        }
        self.header.ppl = Some(ppl);
        let header = padded_header(&self.header)?;
        self.out.flush()?;
        let mut file = self
            .out
            .into_inner()
            .context("cannot flush the reference file")?;
        file.seek(SeekFrom::Start(MAGIC.len() as u64))?;
        file.write_all(&header)?;
        file.sync_all()?;
        Ok(self.header)
    }
}

fn padded_header(header: &ReferenceHeader) -> Result<Vec<u8>> {
    let mut json = serde_json::to_vec(header)?;
    if json.len() > HEADER_BYTES {
        bail!(
            "reference header is {} bytes, more than the {HEADER_BYTES} reserved; \
             shorten the evaluation text's name",
            json.len()
        );
    }
    json.resize(HEADER_BYTES, b' ');
    Ok(json)
}

/// Reads a reference file position by position.
pub struct ReferenceReader {
    input: BufReader<File>,
    header: ReferenceHeader,
    tokens: Vec<i32>,
    record: Vec<u8>,
}

/// One scored position of the reference, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencePosition {
    pub top: usize,
    pub log_probs: Vec<f32>,
}

impl ReferenceReader {
    /// Opens `path` and reads its header and tokens.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)
            .with_context(|| format!("cannot open reference file {}", path.display()))?;
        let size = file.metadata()?.len();
        let mut input = BufReader::with_capacity(1 << 20, file);
        let invalid = |what: &str| {
            anyhow::anyhow!(
                "{} is not a complete slm-quant reference file ({what}); delete it so the \
                 next `bench` computes it again",
                path.display()
            )
        };

        let mut magic = [0u8; 8];
        input
            .read_exact(&mut magic)
            .map_err(|_| invalid("too short"))?;
        if &magic != MAGIC {
            return Err(invalid("wrong magic bytes"));
        }
        let mut header = vec![0u8; HEADER_BYTES];
        input
            .read_exact(&mut header)
            .map_err(|_| invalid("truncated header"))?;
        let header: ReferenceHeader =
            serde_json::from_slice(&header).map_err(|_| invalid("unreadable header"))?;
        if header.ppl.is_none() || header.file_bytes() != size {
            return Err(invalid("unfinished or truncated"));
        }

        let mut tokens = vec![0i32; header.n_chunks() * header.n_ctx()];
        let mut word = [0u8; 4];
        for token in &mut tokens {
            input.read_exact(&mut word)?;
            *token = i32::from_le_bytes(word);
        }
        let record = vec![0u8; record_bytes(header.n_vocab)];
        Ok(ReferenceReader {
            input,
            header,
            tokens,
            record,
        })
    }

    pub fn header(&self) -> &ReferenceHeader {
        &self.header
    }

    /// Returns the decoded tokens, `n_ctx` per chunk.
    pub fn tokens(&self) -> &[i32] {
        &self.tokens
    }

    /// Reads the next scored position into `position`, renormalised so its probabilities sum
    /// to 1. Rounding shifts each value by up to half a step, and an unnormalised distribution
    /// would put a first-order error into every KL divergence.
    pub fn read_next(&mut self, position: &mut ReferencePosition) -> Result<()> {
        self.input
            .read_exact(&mut self.record)
            .context("reference file ended early")?;
        let word =
            |at: usize| -> [u8; 4] { self.record[at..at + 4].try_into().expect("four bytes") };
        position.top = u32::from_le_bytes(word(0)) as usize;
        let min = f32::from_le_bytes(word(4));
        let step = f32::from_le_bytes(word(8));
        position.log_probs.clear();
        position.log_probs.extend(
            self.record[RECORD_PREFIX_BYTES..]
                .chunks_exact(2)
                .map(|pair| min + f32::from(u16::from_le_bytes([pair[0], pair[1]])) * step),
        );
        let total: f64 = position.log_probs.iter().map(|&x| f64::from(x).exp()).sum();
        let shift = total.ln() as f32;
        for value in &mut position.log_probs {
            *value -= shift;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::divergence::{kl_divergence, log_softmax};

    fn header(n_vocab: usize) -> ReferenceHeader {
        ReferenceHeader {
            quant: "F16".into(),
            model_sha256: "ab".into(),
            eval_text: EvalTextRecord {
                name: "test".into(),
                sha256: "cd".into(),
                n_tokens: 8,
                n_ctx: 4,
                n_chunks: 2,
            },
            n_vocab,
            scored_per_chunk: 1,
            ppl: None,
        }
    }

    #[test]
    fn storage_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.bin");
        let tokens = [1, 2, 3, 4, 5, 6, 7, 8];
        let first = log_softmax(&[0.5, 3.0, -20.0, 1.0, 0.0]);
        let second = log_softmax(&[2.0, 2.0, 2.0, 2.0, 2.0]);

        let mut writer = ReferenceWriter::create(&path, header(5), &tokens).unwrap();
        writer.push(&first).unwrap();
        writer.push(&second).unwrap();
        let written = writer.finish(12.5).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            written.file_bytes()
        );

        let mut reader = ReferenceReader::open(&path).unwrap();
        assert_eq!(reader.header(), &written);
        assert_eq!(reader.header().ppl, Some(12.5));
        assert_eq!(reader.tokens(), &tokens);

        let mut position = ReferencePosition {
            top: 0,
            log_probs: Vec::new(),
        };
        reader.read_next(&mut position).unwrap();
        assert_eq!(position.top, 1);
        let step = (first[1] - first[2]) / MAX_CODE;
        for (stored, exact) in position.log_probs.iter().zip(&first) {
            assert!((stored - exact).abs() <= step, "{stored} vs {exact}");
        }
        assert!(kl_divergence(&first, &position.log_probs) < 1e-7);

        reader.read_next(&mut position).unwrap();
        assert_eq!(position.top, 0);
        for (stored, exact) in position.log_probs.iter().zip(&second) {
            assert!((stored - exact).abs() < 1e-6, "{stored} vs {exact}");
        }
        assert!(reader.read_next(&mut position).is_err());
    }

    #[test]
    fn unfinished_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.bin");
        let mut writer = ReferenceWriter::create(&path, header(3), &[0; 8]).unwrap();
        writer.push(&log_softmax(&[1.0, 2.0, 3.0])).unwrap();
        drop(writer);
        let error = ReferenceReader::open(&path).err().unwrap().to_string();
        assert!(error.contains("unfinished or truncated"), "{error}");
    }

    #[test]
    fn missing_positions_fail_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.bin");
        let mut writer = ReferenceWriter::create(&path, header(3), &[0; 8]).unwrap();
        writer.push(&log_softmax(&[1.0, 2.0, 3.0])).unwrap();
        let error = writer.finish(1.0).unwrap_err().to_string();
        assert!(error.contains("1 positions, 2 expected"), "{error}");
    }

    #[test]
    fn wrong_vocabulary_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.bin");
        let mut writer = ReferenceWriter::create(&path, header(3), &[0; 8]).unwrap();
        assert!(writer.push(&[0.0, -1.0]).is_err());
    }

    #[test]
    fn record_size_for_demo_vocabulary() {
        assert_eq!(record_bytes(49152), 98_316);
    }
}
