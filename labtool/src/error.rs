//! The one error type of labtool.

use thiserror::Error;

/// What can go wrong; each message says what to do about it.
#[derive(Debug, Error)]
pub enum Error {
    /// No test matched the filters.
    #[error(
        "no test matches {filters:?}; known parts: 3a 3b 3c 3d _2 4a 4b 5a 5b challenge (see `labtool list`)"
    )]
    NoTests {
        /// The filters given.
        filters: Vec<String>,
    },
    /// The seed range is empty or malformed.
    #[error("bad seed range {0:?}: use A..B (B exclusive) or A..=B, with A < B")]
    BadSeeds(String),
    /// Building or listing the tests failed.
    #[error("cannot build the tests: {0}")]
    Build(String),
    /// An unknown grading part.
    #[error("unknown part {0:?}; parts: 2 3a 3b 3c 3d 4a 4b 5a 5b challenge")]
    UnknownPart(String),
    /// A name that designates no single test, or a missing argument.
    #[error("{0}")]
    Usage(String),
    /// The log file could not be read or is not one of ours.
    #[error("{0}")]
    Log(String),
    /// The skeleton could not be generated.
    #[error("skeleton: {0}")]
    Skeleton(String),
    /// IO.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
