//! Unit tests of the task table: every rule, no processes, no sleeps.

use super::*;

const TIMEOUT: Duration = Duration::from_secs(10);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn table(n_files: usize, n_reduce: usize) -> TaskTable {
    let files = (0..n_files).map(|i| format!("../in-{i}.txt")).collect();
    TaskTable::new(files, n_reduce, TIMEOUT).unwrap()
}

fn done(task: TaskId, attempt: u32) -> Report {
    Report {
        task,
        attempt,
        outcome: Outcome::Done,
    }
}

/// Task id and attempt of an assignment, panicking on Wait/Exit.
fn taken(a: Assignment) -> (TaskId, u32) {
    match a {
        Assignment::Map { task, attempt, .. } => (TaskId::Map(task), attempt),
        Assignment::Reduce { task, attempt, .. } => (TaskId::Reduce(task), attempt),
        other => panic!("expected a task, got {other:?}"),
    }
}

/// Runs every task of the current phase to completion on connection 1.
fn finish_phase(t: &mut TaskTable, now: Duration) {
    let in_maps = |t: &TaskTable| t.maps_done < t.maps.len();
    let phase = in_maps(t);
    while in_maps(t) == phase && !t.finished() {
        let (task, attempt) = taken(t.assign(1, now));
        assert_eq!(t.report(&done(task, attempt)), ReportEffect::Accepted);
    }
}

#[test]
fn maps_carry_their_file_and_partition_count() {
    let mut t = table(2, 3);
    assert_eq!(
        t.assign(1, secs(0)),
        Assignment::Map {
            task: 0,
            attempt: 1,
            file: "../in-0.txt".into(),
            n_reduce: 3
        }
    );
    assert_eq!(
        t.assign(2, secs(0)),
        Assignment::Map {
            task: 1,
            attempt: 1,
            file: "../in-1.txt".into(),
            n_reduce: 3
        }
    );
}

#[test]
fn no_reduce_before_every_map_is_done() {
    let mut t = table(2, 2);
    let (m0, a0) = taken(t.assign(1, secs(0)));
    let (m1, a1) = taken(t.assign(2, secs(0)));
    t.report(&done(m0, a0));
    // One map still running: a third worker must wait, not start a reduce.
    assert_eq!(t.assign(3, secs(1)), Assignment::Wait);
    t.report(&done(m1, a1));
    assert_eq!(
        t.assign(3, secs(1)),
        Assignment::Reduce {
            task: 0,
            attempt: 1,
            n_map: 2
        }
    );
}

#[test]
fn silent_worker_task_is_reissued_after_the_timeout_and_not_before() {
    let mut t = table(1, 1);
    assert_eq!(taken(t.assign(1, secs(0))), (TaskId::Map(0), 1));
    assert_eq!(t.next_expiry(), Some(TIMEOUT));
    assert_eq!(t.assign(2, secs(9)), Assignment::Wait);
    assert_eq!(
        t.assign(2, TIMEOUT - Duration::from_millis(1)),
        Assignment::Wait
    );
    assert_eq!(taken(t.assign(2, TIMEOUT)), (TaskId::Map(0), 2));
    // The clock restarts for the new holder.
    assert_eq!(t.next_expiry(), Some(TIMEOUT * 2));
    assert_eq!(t.assign(3, TIMEOUT + secs(5)), Assignment::Wait);
}

#[test]
fn reduce_tasks_are_reissued_after_the_timeout_too() {
    let mut t = table(1, 1);
    finish_phase(&mut t, secs(0));
    assert_eq!(taken(t.assign(1, secs(1))), (TaskId::Reduce(0), 1));
    assert_eq!(t.assign(2, secs(5)), Assignment::Wait);
    assert_eq!(taken(t.assign(2, secs(11))), (TaskId::Reduce(0), 2));
}

#[test]
fn idle_tasks_go_out_before_lost_ones() {
    let mut t = table(2, 1);
    taken(t.assign(1, secs(0)));
    // Map 0 is overdue, but map 1 has never been handed out.
    assert_eq!(taken(t.assign(2, secs(20))), (TaskId::Map(1), 1));
    assert_eq!(taken(t.assign(3, secs(20))), (TaskId::Map(0), 2));
}

#[test]
fn duplicate_completion_reports_are_ignored() {
    let mut t = table(2, 1);
    let (m0, a0) = taken(t.assign(1, secs(0)));
    assert_eq!(t.report(&done(m0, a0)), ReportEffect::Accepted);
    assert_eq!(t.report(&done(m0, a0)), ReportEffect::Ignored);
    assert_eq!(t.status().maps_done, 1);
    // The done task is never handed out again, even long after.
    assert_eq!(taken(t.assign(1, secs(100))), (TaskId::Map(1), 1));
    assert_eq!(t.assign(2, secs(100)), Assignment::Wait);
}

#[test]
fn late_report_after_reissue_counts_once() {
    let mut t = table(1, 1);
    let (m, first) = taken(t.assign(1, secs(0)));
    let (_, second) = taken(t.assign(2, secs(10)));
    assert_eq!((first, second), (1, 2));
    // The slow original finishes first: its output is as good as any.
    assert_eq!(t.report(&done(m, first)), ReportEffect::Accepted);
    assert_eq!(t.report(&done(m, second)), ReportEffect::Ignored);
    let status = t.status();
    assert_eq!((status.maps_done, status.reduces_done), (1, 0));
    assert_eq!(taken(t.assign(2, secs(12))), (TaskId::Reduce(0), 1));
}

#[test]
fn reports_for_tasks_never_handed_out_are_ignored() {
    let mut t = table(2, 2);
    assert_eq!(t.report(&done(TaskId::Map(0), 1)), ReportEffect::Ignored);
    assert_eq!(t.report(&done(TaskId::Map(7), 1)), ReportEffect::Ignored);
    let (m0, _) = taken(t.assign(1, secs(0)));
    assert_eq!(t.report(&done(m0, 2)), ReportEffect::Ignored);
    assert_eq!(t.report(&done(m0, 0)), ReportEffect::Ignored);
    assert_eq!(t.report(&done(TaskId::Reduce(1), 1)), ReportEffect::Ignored);
    assert_eq!(t.status().maps_done, 0);
}

#[test]
fn closed_connection_releases_its_task_at_once() {
    let mut t = table(2, 1);
    let (m0, _) = taken(t.assign(1, secs(0)));
    taken(t.assign(2, secs(0)));
    assert_eq!(t.assign(3, secs(1)), Assignment::Wait);
    assert_eq!(t.disconnected(1), 1);
    // Well before the timeout, worker 3 gets the crashed worker's task.
    assert_eq!(taken(t.assign(3, secs(1))), (m0, 2));
    // A closed connection gets nothing, even if a request of its was in flight.
    assert_eq!(t.assign(1, secs(2)), Assignment::Wait);
    assert_eq!(t.disconnected(4), 0);
}

#[test]
fn workers_are_told_to_exit_when_the_job_is_done() {
    let mut t = table(3, 2);
    assert_eq!(t.outcome(), None);
    finish_phase(&mut t, secs(0));
    assert_eq!(t.status().maps_done, 3);
    finish_phase(&mut t, secs(1));
    assert!(t.finished());
    assert_eq!(t.outcome(), Some(Ok(())));
    assert_eq!(t.assign(1, secs(2)), Assignment::Exit);
    assert_eq!(t.assign(9, secs(2)), Assignment::Exit);
    assert_eq!(t.report(&done(TaskId::Reduce(0), 1)), ReportEffect::Ignored);
    let status = t.status();
    assert_eq!(
        (status.maps_done, status.reduces_done, status.finished),
        (3, 2, true)
    );
}

#[test]
fn a_failed_task_fails_the_job_and_sends_everyone_home() {
    let mut t = table(2, 1);
    let (m0, a0) = taken(t.assign(1, secs(0)));
    taken(t.assign(2, secs(0)));
    let failed = Report {
        task: m0,
        attempt: a0,
        outcome: Outcome::Failed("cannot read input file ../in-0.txt: gone".into()),
    };
    assert_eq!(t.report(&failed), ReportEffect::Failed);
    let err = t.outcome().unwrap().unwrap_err();
    assert!(
        err.to_string()
            .contains("map task 0 failed: cannot read input file ../in-0.txt"),
        "{err}"
    );
    assert_eq!(t.assign(3, secs(1)), Assignment::Exit);
    assert!(t.status().failed.is_some());
    assert!(!t.status().finished);
}

#[test]
fn a_failure_report_for_a_done_task_changes_nothing() {
    let mut t = table(1, 1);
    let (m0, a0) = taken(t.assign(1, secs(0)));
    t.report(&done(m0, a0));
    let late_failure = Report {
        task: m0,
        attempt: a0,
        outcome: Outcome::Failed("disk full".into()),
    };
    assert_eq!(t.report(&late_failure), ReportEffect::Ignored);
    assert_eq!(t.outcome(), None);
}

#[test]
fn bad_configurations_are_rejected() {
    assert!(matches!(
        TaskTable::new(vec![], 10, TIMEOUT),
        Err(MrError::Config(_))
    ));
    assert!(matches!(
        TaskTable::new(vec!["f".into()], 0, TIMEOUT),
        Err(MrError::Config(_))
    ));
}
