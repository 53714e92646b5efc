//! Generating the student skeleton from the reference solutions.
//!
//! The solutions mark what a student writes:
//!
//! ```text
//! fn handle_request_vote(&mut self, args: &RequestVoteArgs) -> RequestVoteReply {
//!     // SOLUTION BEGIN 3A: RequestVote handler (Figure 2)
//!     …the reference code…
//!     // SOLUTION END
//! }
//! ```
//!
//! In the skeleton each region becomes `todo!("3A: RequestVote handler (Figure 2)")`,
//! or, when the region's first line is `// SKELETON: <code>`, that code (for
//! holes the earlier parts must be able to run through, such as persisting
//! nothing before 3C). The framework, the tester and the tests are copied as
//! they are.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

const BEGIN: &str = "// SOLUTION BEGIN ";
const END: &str = "// SOLUTION END";
const REPLACE: &str = "// SKELETON: ";
/// Added to the crate root of every crate with holes: the holes leave
/// parameters, fields and helpers unused until the student fills them.
const ALLOW: &str = "#![allow(unused_variables, unused_imports, unused_mut, dead_code, unreachable_code)] // skeleton: holes leave code unused";

/// Replaces every solution region in one file; returns the new text and
/// the number of regions.
pub fn transform(text: &str, path: &str) -> Result<(String, usize), Error> {
    let mut out = Vec::new();
    let mut regions = 0;
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(END) {
            return Err(Error::Skeleton(format!(
                "{path}:{}: SOLUTION END without BEGIN",
                n + 1
            )));
        }
        let Some(label) = trimmed.strip_prefix(BEGIN) else {
            out.push(line.to_string());
            continue;
        };
        let indent = &line[..line.len() - trimmed.len()];
        let mut replacement = None;
        let mut first = true;
        loop {
            let Some((m, inner)) = lines.next() else {
                return Err(Error::Skeleton(format!(
                    "{path}:{}: SOLUTION BEGIN without END",
                    n + 1
                )));
            };
            let inner = inner.trim_start();
            if inner.starts_with(END) {
                break;
            }
            if inner.starts_with(BEGIN) {
                return Err(Error::Skeleton(format!(
                    "{path}:{}: nested SOLUTION BEGIN",
                    m + 1
                )));
            }
            if first && let Some(code) = inner.strip_prefix(REPLACE) {
                replacement = Some(code.to_string());
            }
            first = false;
        }
        let hole = replacement.unwrap_or_else(|| {
            let msg = label
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('{', "{{")
                .replace('}', "}}");
            format!("todo!(\"{msg}\")")
        });
        out.push(format!("{indent}{hole}"));
        regions += 1;
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok((text, regions))
}

/// Inserts [`ALLOW`] after a crate root's inner doc comments and attributes.
fn allow_unused(lib_rs: &str) -> String {
    let lines: Vec<&str> = lib_rs.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            let t = l.trim_start();
            !(t.starts_with("//!") || t.starts_with("#![") || t.is_empty())
        })
        .unwrap_or(lines.len());
    let mut out: Vec<String> = lines[..at].iter().map(|s| s.to_string()).collect();
    out.push(ALLOW.to_string());
    out.extend(lines[at..].iter().map(|s| s.to_string()));
    out.join("\n") + "\n"
}

/// The files of the workspace at `root` (git's view when available).
fn files(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let out = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .map_err(|e| Error::Skeleton(format!("cannot run git in {}: {e}", root.display())))?;
    if !out.status.success() {
        return Err(Error::Skeleton(format!(
            "{} is not a git checkout of the labs",
            root.display()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .filter(|p| root.join(p).is_file())
        .collect())
}

/// Writes the skeleton of the workspace at `root` into `out`; returns
/// (files written, regions replaced).
pub fn generate(root: &Path, out: &Path) -> Result<(usize, usize), Error> {
    if !root.join("Cargo.toml").is_file() {
        return Err(Error::Skeleton(format!(
            "{} has no Cargo.toml",
            root.display()
        )));
    }
    if out.exists() && out.read_dir()?.next().is_some() {
        return Err(Error::Skeleton(format!(
            "{} exists and is not empty",
            out.display()
        )));
    }
    let files = files(root)?;
    let mut holes_by_crate = std::collections::BTreeSet::new();
    let mut total = 0;
    for rel in &files {
        let src = root.join(rel);
        let dst = out.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if rel.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&src)?;
            let (new, regions) = transform(&text, &rel.display().to_string())?;
            if regions > 0 {
                if let Some(krate) = rel.components().next() {
                    holes_by_crate.insert(PathBuf::from(krate.as_os_str()));
                }
                total += regions;
            }
            std::fs::write(&dst, new)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    for krate in &holes_by_crate {
        let lib = out.join(krate).join("src/lib.rs");
        let text = std::fs::read_to_string(&lib)?;
        std::fs::write(&lib, allow_unused(&text))?;
    }
    Ok((files.len(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_become_holes() {
        let src = "fn f(x: u32) -> u32 {\n    // SOLUTION BEGIN 3A: double {x}\n    x * 2\n    // SOLUTION END\n}\nfn g() -> Vec<u8> {\n    // SOLUTION BEGIN 3C: encode\n    // SKELETON: Vec::new()\n    vec![1]\n    // SOLUTION END\n}\n";
        let (out, n) = transform(src, "t.rs").unwrap();
        assert_eq!(n, 2);
        assert!(out.contains("    todo!(\"3A: double {{x}}\")\n"), "{out}");
        assert!(
            out.contains("    Vec::new()\n") && !out.contains("vec![1]"),
            "{out}"
        );
    }

    #[test]
    fn unbalanced_markers_are_errors() {
        assert!(transform("// SOLUTION BEGIN 3A: x\n", "a.rs").is_err());
        assert!(transform("// SOLUTION END\n", "a.rs").is_err());
        assert!(
            transform(
                "// SOLUTION BEGIN 3A\n// SOLUTION BEGIN 3B\n// SOLUTION END\n",
                "a.rs"
            )
            .is_err()
        );
    }

    #[test]
    fn allow_goes_after_inner_attributes() {
        let out = allow_unused("//! doc\n\n#![deny(missing_docs)]\n\nmod a;\n");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[4], ALLOW);
        assert_eq!(lines[5], "mod a;");
    }
}
