//! The HTML report: self-contained, carries the history and the partial
//! linearizations, marks the first error, and cannot be broken by values.

mod common;

use common::{Shape, append, corrupt_read, get, linearizable_kv, put};
use linearizability::{
    CheckOptions, CheckResult, KvModel, KvOperation, MAX_DESCRIPTION_CHARS,
    check_operations_verbose, visualize, visualize_path, visualize_temp,
};
use serde_json::Value;

fn report(h: &[KvOperation]) -> (CheckResult, String) {
    let (result, info) = check_operations_verbose(&KvModel, h, CheckOptions::default()).unwrap();
    let mut out = Vec::new();
    visualize(&KvModel, &info, &mut out).unwrap();
    (result, String::from_utf8(out).unwrap())
}

/// The JSON block the page's script draws from.
fn data(page: &str) -> Value {
    let start = page
        .find(r#"<script type="application/json" id="report-data">"#)
        .unwrap();
    let rest = &page[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest.find("</script>").unwrap();
    serde_json::from_str(&rest[open..close]).unwrap()
}

fn stale_read() -> Vec<KvOperation> {
    vec![
        put(0, "x", "a", 0, 10),
        put(1, "x", "b", 20, 30),
        get(2, "x", "a", 40, 50),
        append(3, "y", "ok", 0, 100),
    ]
}

#[test]
fn the_page_is_self_contained_with_legend_and_jump_link() {
    let (result, page) = report(&stale_read());
    assert_eq!(result, CheckResult::Illegal);
    for marker in [
        "<!DOCTYPE html>",
        "<title>Linearizability report</title>",
        "<style>",
        "Valid LP",
        "Invalid LP",
        "[ jump to first error ]",
        "id=\"report-data\"",
        "createElementNS",
    ] {
        assert!(page.contains(marker), "missing {marker:?}");
    }
    // Nothing is loaded from elsewhere: no external scripts, styles,
    // images or fonts. (The SVG namespace URI is an identifier, not a fetch.)
    for external in ["<script src", "<link", "@import", "url(", "<img"] {
        assert!(!page.contains(external), "found {external:?}");
    }
    let without_ns = page.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
}

#[test]
fn the_data_holds_descriptions_partial_linearizations_and_the_first_error() {
    let (_, page) = report(&stale_read());
    let d = data(&page);
    assert_eq!(d["result"], "Illegal");
    assert_eq!(d["operations"], 4);
    let parts = d["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    let x = &parts[0];
    assert_eq!(x["name"], "key 'x'");
    assert_eq!(x["result"], "Illegal");
    assert_eq!(parts[1]["result"], "Ok");
    let descs: Vec<&str> = x["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["d"].as_str().unwrap())
        .collect();
    assert_eq!(descs, ["put('x', 'a')", "put('x', 'b')", "get('x') -> 'a'"]);
    // The first error is the stale get (op 2 of partition 0).
    assert_eq!(d["first_error"], serde_json::json!([0, 2]));
    // Its partial linearization: put a, put b (states 'a', 'b'), then the get,
    // which is not a legal step from 'b'.
    let li = x["largest"][2].as_u64().unwrap() as usize;
    let partial = &x["partials"][li];
    assert_eq!(partial["blocked"], 2);
    assert_eq!(partial["legal"], false);
    let trie = x["trie"].as_array().unwrap();
    let states = d["states"].as_array().unwrap();
    let mut node = partial["end"].as_u64().unwrap() as usize;
    let mut path = Vec::new();
    while node != 0 {
        let n = trie[node].as_array().unwrap();
        path.push((
            n[1].as_u64().unwrap(),
            states[n[2].as_u64().unwrap() as usize].as_str().unwrap(),
        ));
        node = n[0].as_u64().unwrap() as usize;
    }
    path.reverse();
    assert_eq!(path, [(0, "'a'"), (1, "'b'")]);
    // Columns are ranks of distinct times: 0,10,20,30,40,50 for key x.
    assert_eq!(x["ops"][2]["s"], 4);
    assert_eq!(x["ops"][2]["e"], 5);
}

#[test]
fn values_cannot_break_out_of_the_page() {
    let h = vec![
        put(0, "k", "</script><script>alert(1)</script>", 0, 10),
        get(1, "k", "<b>&amp;", 20, 30),
    ];
    let (result, page) = report(&h);
    assert_eq!(result, CheckResult::Illegal);
    // Only the page's own two script blocks end.
    assert_eq!(page.matches("</script>").count(), 2);
    let d = data(&page);
    assert_eq!(
        d["partitions"][0]["ops"][0]["d"],
        "put('k', '</script><script>alert(1)</script>')"
    );
}

#[test]
fn long_states_are_shortened_in_the_report() {
    let long = "v".repeat(5000);
    let h = vec![put(0, "k", &long, 0, 10), get(1, "k", "", 20, 30)];
    let (_, page) = report(&h);
    assert!(page.contains("characters omitted"));
    // Neither the put's description nor the state carries the whole value.
    assert!(!page.contains(&"v".repeat(MAX_DESCRIPTION_CHARS)));
    assert!(page.contains(&"v".repeat(MAX_DESCRIPTION_CHARS / 2 - 20)));
}

#[test]
fn reports_for_large_histories_are_written_to_files() {
    let mut h = linearizable_kv(4, Shape::busy(3000));
    corrupt_read(&mut h, 77).unwrap();
    let (result, info) = check_operations_verbose(&KvModel, &h, CheckOptions::default()).unwrap();
    assert_eq!(result, CheckResult::Illegal);

    let path = visualize_temp(&KvModel, &info).unwrap();
    assert!(path.extension().is_some_and(|e| e == "html"));
    let page = std::fs::read_to_string(&path).unwrap();
    let d = data(&page);
    assert_eq!(d["partitions"].as_array().unwrap().len(), 5);
    assert!(d["first_error"].is_array());
    // A second call never overwrites the first.
    let other = visualize_temp(&KvModel, &info).unwrap();
    assert_ne!(path, other);

    let explicit = std::env::temp_dir().join(format!("lin-report-{}.html", std::process::id()));
    visualize_path(&KvModel, &info, &explicit).unwrap();
    assert_eq!(std::fs::read_to_string(&explicit).unwrap(), page);
    for p in [path, other, explicit] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn an_unwritable_path_is_an_error_naming_it() {
    let info = check_operations_verbose(&KvModel, &stale_read(), CheckOptions::default())
        .unwrap()
        .1;
    let bad = std::path::Path::new("/nonexistent-dir/x/report.html");
    let err = visualize_path(&KvModel, &info, bad).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent-dir/x/report.html"),
        "{err}"
    );
}
