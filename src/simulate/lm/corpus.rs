//! The language model's text: the license texts of
//! fixtures/corpus/common-licenses.txt (embedded in the binary, so a run
//! never depends on the machine), its character vocabulary, the fixed
//! train/validation split and the evaluation windows.
//!
//! Owns the mapping text → token ids and which characters are held out;
//! knows nothing of the model.

use super::net::Batch;

/// The corpus (fixtures/corpus/make.sh regenerates it).
pub const TEXT: &str = include_str!("../../../fixtures/corpus/common-licenses.txt");

/// The split's unit: consecutive blocks of this many characters.
pub const BLOCK: usize = 4096;
/// Every `HOLD_OUT_EVERY`-th block (indices 9, 19, …) is validation text.
pub const HOLD_OUT_EVERY: usize = 10;

/// The tokenized corpus.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Distinct characters in code-point order; token id = position.
    pub vocab: Vec<char>,
    pub train: Vec<u16>,
    pub valid: Vec<u16>,
    /// Entropy of the character frequencies of the training split (nats):
    /// the loss of the best context-free model.
    pub unigram_entropy: f64,
    /// FNV-1a 64 of the text's UTF-8 bytes, in hex: identifies the file.
    pub fnv64: String,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Corpus {
    /// The embedded corpus.
    pub fn embedded() -> Corpus {
        Corpus::new(TEXT)
    }

    /// Tokenizes `text` and splits it: block i (of `BLOCK` characters) is
    /// validation text when i mod `HOLD_OUT_EVERY` = `HOLD_OUT_EVERY` − 1.
    pub fn new(text: &str) -> Corpus {
        let chars: Vec<char> = text.chars().collect();
        let mut vocab = chars.clone();
        vocab.sort_unstable();
        vocab.dedup();
        let id = |c: &char| vocab.binary_search(c).expect("in vocab") as u16;
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        for (i, block) in chars.chunks(BLOCK).enumerate() {
            let dst = if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 {
                &mut valid
            } else {
                &mut train
            };
            dst.extend(block.iter().map(id));
        }
        let mut counts = vec![0usize; vocab.len()];
        for &t in &train {
            counts[t as usize] += 1;
        }
        let n = train.len() as f64;
        let unigram_entropy = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / n;
                -p * p.ln()
            })
            .sum();
        Corpus {
            vocab,
            train,
            valid,
            unigram_entropy,
            fnv64: format!("{:016x}", fnv1a64(text.as_bytes())),
        }
    }

    pub fn vocab_string(&self) -> String {
        self.vocab.iter().collect()
    }
}

/// Non-overlapping windows of `ctx + 1` ids with stride `ctx`, so that
/// every id after the first is predicted exactly once; at most `limit`.
pub fn windows(ids: &[u16], ctx: usize, limit: usize) -> Vec<&[u16]> {
    let n = if ids.len() > ctx {
        (ids.len() - 1) / ctx
    } else {
        0
    };
    (0..n.min(limit))
        .map(|i| &ids[i * ctx..i * ctx + ctx + 1])
        .collect()
}

/// `windows` spread evenly over `ids`: `count` windows starting at
/// multiples of ⌊(len − ctx − 1)/count⌋ (the fixed training-loss sample).
pub fn spread_windows(ids: &[u16], ctx: usize, count: usize) -> Vec<&[u16]> {
    let span = ids.len().saturating_sub(ctx + 1);
    let stride = (span / count.max(1)).max(1);
    (0..count)
        .map(|i| (i * stride).min(span))
        .map(|s| &ids[s..s + ctx + 1])
        .collect()
}

/// Splits `windows` into batches of at most `size` windows.
pub fn batches<'a>(windows: &[&'a [u16]], size: usize) -> Vec<Batch<'a>> {
    windows
        .chunks(size)
        .map(|c| Batch {
            windows: c.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped corpus: ASCII license prose, 86 distinct characters,
    /// a tenth held out, and a unigram entropy well below ln V.
    #[test]
    fn embedded_corpus_is_split_and_tokenized() {
        let c = Corpus::embedded();
        assert_eq!(TEXT.len(), 237_320);
        assert_eq!(c.vocab.len(), 86);
        assert_eq!(c.train.len() + c.valid.len(), TEXT.len());
        let blocks = TEXT.len().div_ceil(BLOCK);
        assert_eq!(c.valid.len(), (blocks / HOLD_OUT_EVERY) * BLOCK);
        // The validation text is the held-out blocks, in order.
        let chars: Vec<char> = TEXT.chars().collect();
        assert_eq!(c.vocab[c.valid[0] as usize], chars[9 * BLOCK]);
        assert_eq!(c.vocab[c.valid[BLOCK] as usize], chars[19 * BLOCK]);
        assert!(c.unigram_entropy > 3.0 && c.unigram_entropy < (86f64).ln() - 1.0);
    }

    #[test]
    fn windows_predict_every_id_once() {
        let ids: Vec<u16> = (0..21).collect();
        let w = windows(&ids, 4, usize::MAX);
        assert_eq!(w.len(), 5);
        assert_eq!(w[0], &[0, 1, 2, 3, 4]);
        assert_eq!(w[4], &[16, 17, 18, 19, 20]);
        assert_eq!(windows(&ids, 4, 2).len(), 2);
        assert!(windows(&ids[..4], 4, 9).is_empty());
        let s = spread_windows(&ids, 4, 3);
        assert_eq!(s.len(), 3);
        assert_eq!(s[2][0], 10);
        assert_eq!(batches(&w, 2).len(), 3);
    }
}
