//! Search tests (`cargo test --release -p raft _search -- --nocapture`
//! prints each search's counts and counterexamples).

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
#[ignore]
fn election_depth_bench_search() {
    for depth in 6..=14 {
        let mut settings = Settings::elections(3);
        settings.max_depth = depth;
        settings.max_term = 3;
        settings.redeliver = std::env::var("REDELIVER").is_ok();
        settings.max_time = Duration::from_secs(120);
        settings.max_states = 50_000_000;
        let mut search = Search::new(settings);
        let start = search.initial();
        let outcome = search.bfs(&start);
        println!(
            "depth {depth}: {:?} {}",
            matches!(outcome, Outcome::Exhausted),
            search.stats
        );
        if search.stats.elapsed > Duration::from_secs(20) {
            break;
        }
    }
}
