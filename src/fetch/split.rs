//! Split GGUF files: the `<prefix>-00001-of-00003.gguf` naming that llama.cpp's `gguf-split`
//! writes, and the shard files that belong together.

use std::path::{Path, PathBuf};

/// One shard's place in a split model, parsed from its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardName {
    /// Everything before `-NNNNN-of-NNNNN.gguf`, folders included.
    pub prefix: String,
    /// 1-based shard number.
    pub index: u32,
    pub count: u32,
}

impl ShardName {
    /// Parses `name` as a shard; `None` for an ordinary file name.
    pub fn parse(name: &str) -> Option<ShardName> {
        let stem = strip_suffix_ignore_case(name, ".gguf")?;
        let (rest, count) = stem.rsplit_once("-of-")?;
        let (prefix, index) = rest.rsplit_once('-')?;
        let digits = |text: &str| text.len() == 5 && text.bytes().all(|b| b.is_ascii_digit());
        if !digits(index) || !digits(count) || prefix.is_empty() {
            return None;
        }
        let index: u32 = index.parse().ok()?;
        let count: u32 = count.parse().ok()?;
        (index >= 1 && index <= count).then(|| ShardName {
            prefix: prefix.to_string(),
            index,
            count,
        })
    }

    /// File name of shard `index` of the same split.
    pub fn sibling(&self, index: u32) -> String {
        format!("{}-{index:05}-of-{:05}.gguf", self.prefix, self.count)
    }

    /// Returns whether this is a split at all: `-00001-of-00001` is an ordinary single file.
    pub fn is_split(&self) -> bool {
        self.count > 1
    }
}

fn strip_suffix_ignore_case<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = name.len().checked_sub(suffix.len())?;
    (name.is_char_boundary(cut) && name[cut..].eq_ignore_ascii_case(suffix)).then(|| &name[..cut])
}

/// Returns every file of the model whose first file is `path`, in shard order: the shards beside it
/// when `path` is shard 1 of a split, else `path` alone. llama.cpp loads a split the same way,
/// from shard 1 and the sibling names in the same folder.
pub fn shard_paths(path: &Path) -> Vec<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ShardName::parse(&name) {
        Some(shard) if shard.is_split() && shard.index == 1 => (1..=shard.count)
            .map(|index| path.with_file_name(shard.sibling(index)))
            .collect(),
        _ => vec![path.to_path_buf()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_parse() {
        let shard = ShardName::parse("Q4_K_M/model-Q4_K_M-00002-of-00003.gguf").unwrap();
        assert_eq!(shard.prefix, "Q4_K_M/model-Q4_K_M");
        assert_eq!(shard.index, 2);
        assert_eq!(shard.count, 3);
        assert_eq!(shard.sibling(1), "Q4_K_M/model-Q4_K_M-00001-of-00003.gguf");
        assert!(shard.is_split());
    }

    #[test]
    fn ordinary_names_are_not_shards() {
        assert_eq!(ShardName::parse("model-Q8_0.gguf"), None);
        assert_eq!(ShardName::parse("model-1-of-2.gguf"), None);
        assert_eq!(ShardName::parse("model-00004-of-00003.gguf"), None);
        assert_eq!(ShardName::parse("model-00001-of-00003.bin"), None);
    }

    #[test]
    fn single_shard_is_not_a_split() {
        let shard = ShardName::parse("model-00001-of-00001.gguf").unwrap();
        assert!(!shard.is_split());
        let path = Path::new("/m/model-00001-of-00001.gguf");
        assert_eq!(shard_paths(path), vec![path.to_path_buf()]);
    }

    #[test]
    fn shard_paths_list_siblings_in_order() {
        let paths = shard_paths(Path::new("/m/x-00001-of-00003.gguf"));
        let names: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "/m/x-00001-of-00003.gguf",
                "/m/x-00002-of-00003.gguf",
                "/m/x-00003-of-00003.gguf"
            ]
        );
    }
}
