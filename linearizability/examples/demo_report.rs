//! Writes a sample HTML report, to see what testers will print a path to.
//!
//! `cargo run -p linearizability --example demo_report -- [small|big] OUT.html`
//! * `small`: a stale read on key 'x' next to a healthy key 'y'.
//! * `big`: 120 random operations of 5 clients on 5 keys, one read corrupted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;

use common::{Shape, append, corrupt_read, get, linearizable_kv, put};
use linearizability::{CheckOptions, KvModel, check_operations_verbose, visualize_path};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, out) = match args.as_slice() {
        [kind, out] if kind == "small" || kind == "big" => (kind.as_str(), out),
        _ => {
            eprintln!("usage: demo_report small|big OUT.html");
            return ExitCode::from(2);
        }
    };
    let ms = 1_000_000;
    let mut history = if kind == "big" {
        let mut h = linearizable_kv(
            4,
            Shape {
                clients: 5,
                ..Shape::busy(120)
            },
        );
        corrupt_read(&mut h, 17).expect("the history has reads");
        h
    } else {
        vec![
            put(0, "x", "a", 0, 10 * ms),
            put(1, "x", "b", 20 * ms, 30 * ms),
            append(3, "x", "c", 5 * ms, 45 * ms),
            get(2, "x", "bc", 32 * ms, 38 * ms),
            get(2, "x", "a", 40 * ms, 50 * ms),
            append(0, "y", "1", 0, 12 * ms),
            get(1, "y", "1", 14 * ms, 16 * ms),
        ]
    };
    history.sort_by_key(|o| o.call);
    let (result, info) = match check_operations_verbose(&KvModel, &history, CheckOptions::default())
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = visualize_path(&KvModel, &info, out) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    println!("{result}: wrote {out}");
    ExitCode::SUCCESS
}
