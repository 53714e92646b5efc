//! Histories survive a JSON round trip, and bad files give clear errors.

mod common;

use std::path::PathBuf;

use common::{Shape, append_ret, get, linearizable_kv, put};
use linearizability::{
    Error, KvInput, KvOperation, KvOutput, Operation, check_operations, load_history, read_history,
    save_history, write_history,
};

/// A fresh path in the temporary directory, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        TempPath(std::env::temp_dir().join(format!(
            "linearizability-test-{}-{name}",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_history_round_trips_through_a_file() {
    let mut h = linearizable_kv(3, Shape::busy(2000));
    // Awkward strings survive too.
    h.push(put(3, "quote'\"\\", "</script>\n\u{e9}", 1, 2));
    h.push(append_ret(4, "k0", "x", "", u64::MAX - 1, u64::MAX));
    let path = TempPath::new("round-trip.json");
    save_history(&path.0, &h).unwrap();
    let back: Vec<KvOperation> = load_history(&path.0).unwrap();
    assert_eq!(back, h);
    assert!(check_operations(&linearizability::KvModel, &back[..2000]));
}

#[test]
fn the_format_is_plain_json_with_the_operation_fields() {
    let h = vec![get(7, "k", "v", 10, 20)];
    let mut buf = Vec::new();
    write_history(&mut buf, &h).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(
        text,
        r#"[{"client_id":7,"input":{"op":"Get","key":"k","value":""},"call":10,"output":{"value":"v"},"return_time":20}]"#
    );
    let back: Vec<KvOperation> = read_history(text.as_bytes()).unwrap();
    assert_eq!(back, h);
    // Other models' types work the same way.
    let ints = vec![Operation::new(0, 5u32, 1, (), 2)];
    let mut buf = Vec::new();
    write_history(&mut buf, &ints).unwrap();
    let back: Vec<Operation<u32, ()>> = read_history(&buf[..]).unwrap();
    assert_eq!(back, ints);
}

#[test]
fn errors_name_the_problem() {
    let missing = TempPath::new("does-not-exist.json");
    match load_history::<KvInput, KvOutput>(&missing.0) {
        Err(Error::Io { path, kind, .. }) => {
            assert_eq!(path.as_deref(), Some(missing.0.as_path()));
            assert_eq!(kind, std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }

    let garbage = TempPath::new("garbage.json");
    std::fs::write(&garbage.0, "[{\"client_id\": 1,").unwrap();
    let err = load_history::<KvInput, KvOutput>(&garbage.0).unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.json"), "{err}");

    let backwards = r#"[{"client_id":2,"input":{"op":"Put","key":"k","value":"v"},"call":9,"output":{"value":""},"return_time":3}]"#;
    let err = read_history::<KvInput, KvOutput>(backwards.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        Error::ReturnBeforeCall {
            index: 0,
            client_id: 2,
            call: 9,
            return_time: 3
        }
    );

    let bad_op = r#"[{"client_id":2,"input":{"op":"Delete","key":"k","value":""},"call":1,"output":{"value":""},"return_time":3}]"#;
    let err = read_history::<KvInput, KvOutput>(bad_op.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("Delete"), "{err}");
}
