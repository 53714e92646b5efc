//! The generated corpus: deterministic, sized like the books, and with
//! word frequencies like a real text's; and its generator. (Apart from
//! `corpus.rs` and `rng.rs` because the crate's tests include those files.)

use std::collections::BTreeMap;

use crate::corpus::{DEFAULT_CORPUS, generate_default};
use crate::rng::SplitMix64;
use mr::apps::split_words;

#[test]
fn generation_is_deterministic_and_sized_like_the_books() {
    let first = generate_default();
    let again = generate_default();
    assert_eq!(first, again);
    let total: usize = first.iter().map(|(_, text)| text.len()).sum();
    assert!((3_200_000..3_500_000).contains(&total), "total {total}");
    for ((name, text), spec) in first.iter().zip(DEFAULT_CORPUS) {
        assert!(
            text.len() >= spec.bytes && text.len() < spec.bytes + 1_000,
            "{name}"
        );
        assert!(text.is_ascii());
    }
    // Different seeds give different texts.
    assert_ne!(first[0].1[..1000], first[5].1[..1000]);
}

#[test]
fn word_frequencies_have_a_zipf_like_head_and_a_long_tail() {
    let corpus = generate_default();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, text) in &corpus {
        for word in split_words(text) {
            *counts.entry(word).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    assert_eq!(ranked[0].0, "the");
    // Rank 1 is roughly twice rank 2 and ten times rank 10.
    let ratio2 = ranked[0].1 as f64 / ranked[1].1 as f64;
    let ratio10 = ranked[0].1 as f64 / ranked[9].1 as f64;
    assert!((1.6..2.6).contains(&ratio2), "{ratio2}");
    assert!((7.0..15.0).contains(&ratio10), "{ratio10}");
    // Thousands of distinct words, many of them rare.
    assert!(ranked.len() > 5_000, "{}", ranked.len());
    assert!(ranked.iter().filter(|(_, n)| *n < 20).count() > 1_000);
}

#[test]
fn reproduces_the_reference_sequence() {
    // First outputs of SplitMix64 seeded with 0 (from the published
    // reference implementation).
    let mut rng = SplitMix64::new(0);
    assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
    assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
}

#[test]
fn floats_stay_in_the_unit_interval() {
    let mut rng = SplitMix64::new(7);
    for _ in 0..10_000 {
        let x = rng.next_f64();
        assert!((0.0..1.0).contains(&x));
    }
}
