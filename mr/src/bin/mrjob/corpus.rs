//! The default corpus: eight generated text files, the same on every machine.
//!
//! `mrjob` and the tests need inputs that exist on a clean clone, and the
//! Gutenberg books must not be committed. So we generate prose-like text from
//! a fixed seed: sentences of words drawn from a Zipf-like distribution over
//! a vocabulary of common English words followed by pronounceable invented
//! ones, with capitals, commas and line breaks. Word frequencies then look
//! like a real book's (a few very common words, a long tail), which is what
//! makes word count and the indexer interesting. Sizes mirror the eight
//! books (about 3.3 MB in all).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mr::MrError;

use super::rng::SplitMix64;

/// One generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorpusFile {
    /// File name.
    pub name: &'static str,
    /// Approximate size in bytes (generation stops at the first sentence end
    /// past it).
    pub bytes: usize,
    /// The file's own seed.
    pub seed: u64,
}

/// The default corpus. Two names contain "sherlock" and "tom" on purpose:
/// the `early_exit` app slows down reduces of such keys, and the early-exit
/// test relies on that, as it does with the Gutenberg file names.
pub const DEFAULT_CORPUS: &[CorpusFile] = &[
    CorpusFile {
        name: "gen-atlas.txt",
        bytes: 139_000,
        seed: 1,
    },
    CorpusFile {
        name: "gen-sherlock_notes.txt",
        bytes: 453_000,
        seed: 2,
    },
    CorpusFile {
        name: "gen-harbour.txt",
        bytes: 441_000,
        seed: 3,
    },
    CorpusFile {
        name: "gen-tom_journal.txt",
        bytes: 540_000,
        seed: 4,
    },
    CorpusFile {
        name: "gen-meadow.txt",
        bytes: 594_000,
        seed: 5,
    },
    CorpusFile {
        name: "gen-lantern.txt",
        bytes: 139_000,
        seed: 6,
    },
    CorpusFile {
        name: "gen-orchard.txt",
        bytes: 582_000,
        seed: 7,
    },
    CorpusFile {
        name: "gen-voyage.txt",
        bytes: 413_000,
        seed: 8,
    },
];

/// The most frequent words, most frequent first; invented words follow.
const COMMON: &[&str] = &[
    "the", "and", "of", "to", "a", "in", "that", "he", "was", "it", "his", "her", "you", "with",
    "she", "had", "as", "for", "at", "not", "on", "but", "is", "be", "my", "him", "they", "all",
    "so", "said", "have", "from", "which", "me", "one", "this", "by", "were", "we", "no", "what",
    "there", "would", "been", "if", "their", "out", "when", "up", "could", "them", "more", "will",
    "into", "some", "then", "now", "little", "very", "time", "like", "upon", "old", "man", "know",
    "over", "see", "did", "went", "came", "must", "door", "night", "house", "again", "long",
    "great", "eyes", "face", "hand", "way", "good", "never", "before", "after", "here", "away",
    "head", "thought", "down", "come", "made",
];

/// Vocabulary size, common words included.
const VOCABULARY: usize = 6_000;
/// Zipf exponent: frequency of the word of rank r is proportional to r^-s.
const ZIPF_S: f64 = 1.05;
/// Seed of the invented words (shared by all files, so they share words).
const VOCABULARY_SEED: u64 = 0x6d72_2d63_6f72_7075;

fn invented_word(rng: &mut SplitMix64) -> String {
    const ONSETS: &[&str] = &[
        "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "cr",
        "dr", "gr", "pl", "st", "th", "sh", "ch",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou", "oo"];
    const CODAS: &[&str] = &["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ck", "ng"];
    let pick =
        |rng: &mut SplitMix64, from: &[&'static str]| from[rng.below(from.len() as u64) as usize];
    let syllables = 1 + rng.below(3);
    let mut word = String::new();
    for _ in 0..syllables {
        word.push_str(pick(rng, ONSETS));
        word.push_str(pick(rng, VOWELS));
        word.push_str(pick(rng, CODAS));
    }
    word
}

/// The vocabulary in rank order.
fn vocabulary() -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut words = Vec::with_capacity(VOCABULARY);
    let mut rng = SplitMix64::new(VOCABULARY_SEED);
    let common = COMMON.iter().map(|w| w.to_string());
    let invented = std::iter::repeat_with(|| invented_word(&mut rng));
    for word in common.chain(invented) {
        if words.len() == VOCABULARY {
            break;
        }
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// Cumulative Zipf weights, for sampling by binary search.
fn cumulative_weights(n: usize) -> Vec<f64> {
    let mut total = 0.0;
    (1..=n)
        .map(|rank| {
            total += (rank as f64).powf(-ZIPF_S);
            total
        })
        .collect()
}

/// A text generator over the shared vocabulary.
struct Generator {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Generator {
    fn new() -> Self {
        let words = vocabulary();
        let cumulative = cumulative_weights(words.len());
        Generator { words, cumulative }
    }

    fn word(&self, rng: &mut SplitMix64) -> &str {
        let total = self.cumulative[self.cumulative.len() - 1];
        let target = rng.next_f64() * total;
        let rank = self.cumulative.partition_point(|&c| c <= target);
        &self.words[rank.min(self.words.len() - 1)]
    }

    fn text(&self, file: &CorpusFile) -> String {
        let mut rng = SplitMix64::new(file.seed);
        let mut out = String::with_capacity(file.bytes + 200);
        let mut column = 0;
        let mut sentences_in_paragraph = 0;
        while out.len() < file.bytes {
            let length = 4 + rng.below(14);
            for i in 0..length {
                let word = self.word(&mut rng);
                if column > 0 {
                    // Wrap lines at about 70 columns, like the books.
                    if column + word.len() > 70 {
                        out.push('\n');
                        column = 0;
                    } else {
                        out.push(' ');
                        column += 1;
                    }
                }
                let start = out.len();
                out.push_str(word);
                if i == 0 {
                    out[start..start + 1].make_ascii_uppercase();
                }
                column += word.len();
                if i + 1 < length && rng.below(9) == 0 {
                    out.push(',');
                    column += 1;
                }
            }
            out.push(match rng.below(20) {
                0 => '?',
                1 => '!',
                _ => '.',
            });
            column += 1;
            sentences_in_paragraph += 1;
            if sentences_in_paragraph >= 3 + rng.below(6) {
                out.push_str("\n\n");
                column = 0;
                sentences_in_paragraph = 0;
            }
        }
        out.push('\n');
        out
    }
}

/// The contents of every file of [`DEFAULT_CORPUS`], in order.
pub fn generate_default() -> Vec<(&'static str, String)> {
    let generator = Generator::new();
    DEFAULT_CORPUS
        .iter()
        .map(|file| (file.name, generator.text(file)))
        .collect()
}

/// Writes [`DEFAULT_CORPUS`] into `dir` (created if needed) and returns the
/// paths written.
pub fn write_default_corpus(dir: &Path) -> Result<Vec<PathBuf>, MrError> {
    std::fs::create_dir_all(dir).map_err(|e| MrError::io("cannot create", dir, &e))?;
    generate_default()
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| MrError::io("cannot write", &path, &e))?;
            Ok(path)
        })
        .collect()
}
