//! What `Trace::as_test` emitted for the counterexample that
//! `double_vote_caught_by_election_safety_search` finds, pasted as is (that
//! test checks this file still ends with exactly what it emits), marked
//! `should_panic`: the emitted test compiles, and fails against the broken
//! variant it was found in. (Not formatted: it must stay byte-identical.)

use super::tests::invariant;
use super::{Bug, Settings, replay};

#[should_panic(expected = "election safety: peers 0 and 2 both led term 1")]
#[test]
fn double_vote_counterexample_replays_search() {
    let settings = Settings { invariants: invariant("election safety"), bug: Some(Bug::DoubleVote), ..Settings::elections(3) };
    let trace = [
        "election timeout 0",
        "deliver 0→1 RequestVote t1 last 0@t0",
        "deliver 1→0 RequestVoteReply t1 granted (asked in t1)",
        "election timeout 2",
        "deliver 2→0 RequestVote t1 last 0@t0",
        "deliver 0→2 RequestVoteReply t1 granted (asked in t1)",
    ];
    // Found violating "election safety: peers 0 and 2 both led term 1".
    if let Ok(Some((invariant, why))) = replay(&settings, &trace) {
        panic!("{invariant}: {why}");
    }
}
