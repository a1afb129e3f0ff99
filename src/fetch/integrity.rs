//! Checks a downloaded or cached file before llama.cpp loads it: the GGUF magic, the size the
//! Hub reported and the SHA-256 of LFS files.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};

/// Size and hash the Hub reports for a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    /// Lowercase hex SHA-256.
    pub sha256: Option<String>,
}

/// A file that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub bytes: u64,
    pub sha256: String,
}

/// Checks the file at `path`, which contains the repository file `name`. The magic comes first,
/// so an HTML page saved under a `.gguf` name is reported as such rather than as a size
/// mismatch.
pub fn verify(path: &Path, name: &str, expected: &Expected) -> Result<Verified> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if name.to_ascii_lowercase().ends_with(".gguf") {
        check_magic(path, name, bytes)?;
    }
    if let Some(size) = expected.size {
        if bytes < size {
            bail!("download of `{name}` is incomplete: {bytes} of {size} bytes");
        }
        if bytes != size {
            bail!("`{name}` has {bytes} bytes but the Hub reports {size}");
        }
    }

    let sha256 = sha256_of(path)?;
    if let Some(wanted) = &expected.sha256 {
        if !sha256.eq_ignore_ascii_case(wanted) {
            bail!(
                "`{name}` has SHA-256 {sha256} but the Hub reports {wanted}; the file is damaged"
            );
        }
    }
    Ok(Verified { bytes, sha256 })
}

fn check_magic(path: &Path, name: &str, bytes: u64) -> Result<()> {
    let mut head = [0u8; 4];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let read = file.read(&mut head)?;
    if &head[..read] != b"GGUF" {
        let shown = String::from_utf8_lossy(&head[..read])
            .escape_debug()
            .to_string();
        bail!("`{name}` is not a GGUF file: starts with `{shown}`, {bytes} bytes");
    }
    Ok(())
}

/// Lowercase hex SHA-256 of a file's content.
pub fn sha256_of(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    hash_into(path, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Feeds the content of `path` into `hasher`.
pub fn hash_into(path: &Path, hasher: &mut Sha256) -> Result<u64> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            return Ok(total);
        }
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn write(dir: &Path, name: &str, content: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn html_body_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let page = b"<!DOCTYPE html><html><body>Not found</body></html>\n";
        let path = write(dir.path(), "m.gguf", page);
        let text = verify(&path, "m.gguf", &Expected::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            text,
            "`m.gguf` is not a GGUF file: starts with `<!DO`, 51 bytes"
        );
    }

    #[test]
    fn short_file_is_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "m.gguf", b"GGUF1234");
        let expected = Expected {
            size: Some(100),
            sha256: None,
        };
        let text = verify(&path, "m.gguf", &expected).unwrap_err().to_string();
        assert!(text.contains("incomplete: 8 of 100 bytes"), "{text}");
    }

    #[test]
    fn wrong_hash_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "notes.txt", b"abd");
        let expected = Expected {
            size: Some(3),
            sha256: Some(ABC_SHA256.into()),
        };
        let text = verify(&path, "notes.txt", &expected)
            .unwrap_err()
            .to_string();
        assert!(text.contains("damaged"), "{text}");
    }

    #[test]
    fn good_file_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "notes.txt", b"abc");
        let expected = Expected {
            size: Some(3),
            sha256: Some(ABC_SHA256.to_uppercase()),
        };
        let verified = verify(&path, "notes.txt", &expected).unwrap();
        assert_eq!(verified.sha256, ABC_SHA256);
        assert_eq!(verified.bytes, 3);
    }
}
