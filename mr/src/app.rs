//! What an application is: a map function and a reduce function.
//!
//! The Go lab loads these from a plugin (`wc.so`). We compile apps in and pick
//! them by name instead, which needs no unsafe loading; a user's own app is a
//! small binary whose `main` hands an [`App`] to [`crate::run_worker`] (see
//! the crate README and `examples/wordlen.rs`).

use std::fmt;

use crate::MrError;

/// One intermediate or output pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyValue {
    /// The key; pairs are partitioned and grouped by it.
    pub key: String,
    /// The value.
    pub value: String,
}

impl KeyValue {
    /// A pair from anything string-like.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// `map(filename, contents)`: called once per input file. `filename` is the
/// path exactly as given to the coordinator; `contents` is the file decoded as
/// UTF-8 (invalid bytes become U+FFFD).
pub type MapFn = fn(filename: &str, contents: &str) -> Vec<KeyValue>;

/// `reduce(key, values)`: called once per distinct key with all its values
/// (in the order the maps produced them); the result is written as
/// `key result\n`.
pub type ReduceFn = fn(key: &str, values: &[String]) -> String;

/// A MapReduce application. Plain function pointers, so an `App` is `Copy`
/// and can be moved into a blocking task without ceremony.
#[derive(Clone, Copy)]
pub struct App {
    /// The name used on the command line (`mrworker wc`).
    pub name: &'static str,
    /// The map function.
    pub map: MapFn,
    /// The reduce function.
    pub reduce: ReduceFn,
}

impl App {
    /// An app called `name`.
    pub const fn new(name: &'static str, map: MapFn, reduce: ReduceFn) -> Self {
        App { name, map, reduce }
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App").field("name", &self.name).finish()
    }
}

/// Looks `name` up in `apps`, or says which names exist.
pub fn find_app(apps: &[App], name: &str) -> Result<App, MrError> {
    apps.iter()
        .find(|app| app.name == name)
        .copied()
        .ok_or_else(|| MrError::UnknownApp {
            name: name.to_string(),
            known: app_names(apps).join(", "),
        })
}

/// The names of `apps`, in order.
pub fn app_names(apps: &[App]) -> Vec<&'static str> {
    apps.iter().map(|app| app.name).collect()
}
