use super::*;

fn three(start: usize) -> Nodes {
    Nodes::starting_at(vec!["a".into(), "b".into(), "c".into()], start)
}

#[test]
fn failed_attempts_go_round_robin_and_back_off_after_a_full_round() {
    let mut n = three(1);
    let mut seen = Vec::new();
    let mut rounds = Vec::new();
    for _ in 0..6 {
        seen.push(n.current().1.to_owned());
        rounds.push(n.failed());
    }
    assert_eq!(seen, ["b", "c", "a", "b", "c", "a"]);
    assert_eq!(rounds, [false, false, true, false, false, true]);
}

#[test]
fn a_lost_connection_moves_to_the_next_node_and_starts_a_new_round() {
    let mut n = three(0);
    assert!(!n.failed()); // a failed, now b
    n.ended(); // b was connected, then lost: now c, fresh round
    assert_eq!(n.current(), (2, "c"));
    assert!(!n.failed());
    assert!(!n.failed());
    assert!(n.failed(), "three failures in a row after a loss: back off");
    assert_eq!(n.current(), (2, "c"));
}

#[test]
fn one_node_backs_off_after_every_failure() {
    let mut n = Nodes::starting_at(vec!["only".into()], 7);
    assert_eq!(n.current(), (0, "only"));
    assert!(n.failed());
    assert!(n.failed());
    n.ended();
    assert_eq!(n.current(), (0, "only"));
}

#[test]
fn random_starts_spread_over_the_nodes() {
    let starts: std::collections::HashSet<usize> = (0..64)
        .map(|_| {
            Nodes::starting_at(vec!["a".into(), "b".into(), "c".into()], random() as usize)
                .current()
                .0
        })
        .collect();
    assert!(starts.len() >= 2, "{starts:?}");
}

#[test]
fn nacks_before_the_first_ack_trip_once_and_never_after_an_ack() {
    let s = NackStreak::default();
    let trips: Vec<bool> = (0..NACK_STREAK * 2).map(|_| s.record(false)).collect();
    assert_eq!(trips.iter().filter(|t| **t).count(), 1);
    assert!(trips[NACK_STREAK as usize - 1]);
    let healthy = NackStreak::default();
    assert!(!healthy.record(true));
    assert!(
        (0..NACK_STREAK * 2).all(|_| !healthy.record(false)),
        "a connection that acked is healthy: its nacks are per-message refusals"
    );
}
