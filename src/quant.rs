//! Quantization labels (`Q4_K_M`, `Q8_0`, `F16`, ...) and what slm-quant knows about each.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One GGUF quantization type as llama.cpp's quantize tool names it.
///
/// `bits_per_weight` is llama.cpp's nominal figure for the type's main tensors; files mix
/// tensor types, so the real average of a file differs a little. It orders quants by
/// precision when slm-quant has to pick the reference quant.
struct QuantKind {
    label: &'static str,
    ftype: u32,
    bits_per_weight: f64,
}

// Values of `enum llama_ftype` in llama.h, as shipped with llama-cpp-sys-2 0.1.160.
const KINDS: &[QuantKind] = &[
    QuantKind {
        label: "F32",
        ftype: 0,
        bits_per_weight: 32.0,
    },
    QuantKind {
        label: "F16",
        ftype: 1,
        bits_per_weight: 16.0,
    },
    QuantKind {
        label: "BF16",
        ftype: 32,
        bits_per_weight: 16.0,
    },
    QuantKind {
        label: "Q8_0",
        ftype: 7,
        bits_per_weight: 8.5,
    },
    QuantKind {
        label: "Q6_K",
        ftype: 18,
        bits_per_weight: 6.5625,
    },
    QuantKind {
        label: "Q5_K_M",
        ftype: 17,
        bits_per_weight: 5.5,
    },
    QuantKind {
        label: "Q5_K_S",
        ftype: 16,
        bits_per_weight: 5.5,
    },
    QuantKind {
        label: "Q5_1",
        ftype: 9,
        bits_per_weight: 6.0,
    },
    QuantKind {
        label: "Q5_0",
        ftype: 8,
        bits_per_weight: 5.5,
    },
    QuantKind {
        label: "Q4_K_M",
        ftype: 15,
        bits_per_weight: 4.5,
    },
    QuantKind {
        label: "Q4_K_S",
        ftype: 14,
        bits_per_weight: 4.5,
    },
    QuantKind {
        label: "Q4_1",
        ftype: 3,
        bits_per_weight: 5.0,
    },
    QuantKind {
        label: "Q4_0",
        ftype: 2,
        bits_per_weight: 4.5,
    },
    QuantKind {
        label: "IQ4_NL",
        ftype: 25,
        bits_per_weight: 4.5,
    },
    QuantKind {
        label: "IQ4_XS",
        ftype: 30,
        bits_per_weight: 4.25,
    },
    QuantKind {
        label: "Q3_K_L",
        ftype: 13,
        bits_per_weight: 3.4375,
    },
    QuantKind {
        label: "Q3_K_M",
        ftype: 12,
        bits_per_weight: 3.4375,
    },
    QuantKind {
        label: "Q3_K_S",
        ftype: 11,
        bits_per_weight: 3.4375,
    },
    QuantKind {
        label: "IQ3_M",
        ftype: 27,
        bits_per_weight: 3.66,
    },
    QuantKind {
        label: "IQ3_S",
        ftype: 26,
        bits_per_weight: 3.44,
    },
    QuantKind {
        label: "IQ3_XS",
        ftype: 22,
        bits_per_weight: 3.3,
    },
    QuantKind {
        label: "IQ3_XXS",
        ftype: 23,
        bits_per_weight: 3.06,
    },
    QuantKind {
        label: "Q2_K",
        ftype: 10,
        bits_per_weight: 2.625,
    },
    QuantKind {
        label: "Q2_K_S",
        ftype: 21,
        bits_per_weight: 2.625,
    },
    QuantKind {
        label: "IQ2_M",
        ftype: 29,
        bits_per_weight: 2.7,
    },
    QuantKind {
        label: "IQ2_S",
        ftype: 28,
        bits_per_weight: 2.5,
    },
    QuantKind {
        label: "IQ2_XS",
        ftype: 20,
        bits_per_weight: 2.31,
    },
    QuantKind {
        label: "IQ2_XXS",
        ftype: 19,
        bits_per_weight: 2.06,
    },
    QuantKind {
        label: "TQ2_0",
        ftype: 37,
        bits_per_weight: 2.06,
    },
    QuantKind {
        label: "IQ1_M",
        ftype: 31,
        bits_per_weight: 1.75,
    },
    QuantKind {
        label: "TQ1_0",
        ftype: 36,
        bits_per_weight: 1.69,
    },
    QuantKind {
        label: "IQ1_S",
        ftype: 24,
        bits_per_weight: 1.56,
    },
    QuantKind {
        label: "MXFP4_MOE",
        ftype: 38,
        bits_per_weight: 4.25,
    },
];

/// A validated quantization label in llama.cpp's canonical spelling.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuantLabel(&'static str);

/// Rejection of a label that is not one of llama.cpp's quantization types.
#[derive(Debug, thiserror::Error)]
#[error("unknown quant label `{given}`; valid labels: {}", QuantLabel::valid_labels().join(", "))]
pub struct UnknownQuantLabel {
    pub given: String,
}

impl QuantLabel {
    /// Labels slm-quant accepts, in order of decreasing precision.
    pub fn valid_labels() -> Vec<&'static str> {
        KINDS.iter().map(|kind| kind.label).collect()
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The `llama_ftype` value that llama.cpp's quantize takes for this label.
    pub fn ftype(self) -> u32 {
        self.kind().ftype
    }

    /// Nominal bits per weight of the type's main tensors.
    pub fn bits_per_weight(self) -> f64 {
        self.kind().bits_per_weight
    }

    fn kind(self) -> &'static QuantKind {
        KINDS
            .iter()
            .find(|kind| kind.label == self.0)
            .expect("a QuantLabel is only built from KINDS")
    }
}

impl FromStr for QuantLabel {
    type Err = UnknownQuantLabel;

    /// Parses a label case-insensitively, so `q4_k_m` is `Q4_K_M`.
    fn from_str(given: &str) -> Result<Self, Self::Err> {
        KINDS
            .iter()
            .find(|kind| kind.label.eq_ignore_ascii_case(given.trim()))
            .map(|kind| QuantLabel(kind.label))
            .ok_or_else(|| UnknownQuantLabel {
                given: given.to_string(),
            })
    }
}

impl Serialize for QuantLabel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for QuantLabel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let given = String::deserialize(deserializer)?;
        given.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for QuantLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for QuantLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive() {
        let label: QuantLabel = "q4_k_m".parse().unwrap();
        assert_eq!(label.as_str(), "Q4_K_M");
        assert_eq!(label.ftype(), 15);
    }

    #[test]
    fn unknown_label_lists_valid_ones() {
        let error = "Q4_K_XL".parse::<QuantLabel>().unwrap_err().to_string();
        assert!(error.contains("`Q4_K_XL`"), "{error}");
        assert!(error.contains("Q4_K_M"), "{error}");
        assert!(error.contains("F16"), "{error}");
    }

    #[test]
    fn precision_orders_f16_above_q4() {
        let f16: QuantLabel = "F16".parse().unwrap();
        let q8: QuantLabel = "Q8_0".parse().unwrap();
        let q4: QuantLabel = "Q4_K_M".parse().unwrap();
        assert!(f16.bits_per_weight() > q8.bits_per_weight());
        assert!(q8.bits_per_weight() > q4.bits_per_weight());
    }

    #[test]
    fn labels_are_unique() {
        let mut labels = QuantLabel::valid_labels();
        let count = labels.len();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), count);
    }
}
