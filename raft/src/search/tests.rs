//! Search tests (`cargo test --release -p raft _search`).

use super::*;

fn leader_elected(s: &State) -> bool {
    !s.history.leaders.is_empty()
}

#[test]
fn leader_elected_3_peers_search() {
    let mut settings = Settings::elections(3);
    settings.goal = Some(Predicate {
        name: "a leader",
        test: leader_elected,
    });
    let mut search = Search::new(settings);
    let start = search.initial();
    let outcome = search.bfs(&start);
    println!("{}", search.stats);
    let Outcome::Goal { trace, .. } = outcome else {
        panic!("no leader: {outcome:?}");
    };
    println!("{trace}");
    assert_eq!(trace.events.len(), 3);
}

#[test]
fn double_vote_found_search() {
    let mut settings = Settings::elections(3);
    settings.bug = Some(Bug::DoubleVote);
    let mut search = Search::new(settings);
    let start = search.initial();
    let outcome = search.bfs(&start);
    println!("{}", search.stats);
    let Outcome::Violation {
        invariant, trace, ..
    } = outcome
    else {
        panic!("not found: {outcome:?}");
    };
    println!("{trace}");
    assert_eq!(invariant, "election safety");
}
