//! [`Tracker`]: per-request answers as soon as the prefix of confirms covers
//! a request, returns matched by `message_id` and routing key whichever
//! confirm they came with.

use super::*;

fn sent(job: usize, item: usize, id: &str, key: &str) -> Sent {
    Sent {
        job,
        item,
        message_id: Some(ShortString::from(id)),
        routing_key: ShortString::from(key),
    }
}

fn ack() -> Resolved {
    Resolved {
        outcome: Ok(()),
        returned: None,
    }
}

fn ack_with(id: &str, key: &str) -> Resolved {
    Resolved {
        outcome: Ok(()),
        returned: Some(Returned {
            message_id: Some(ShortString::from(id)),
            routing_key: ShortString::from(key),
            text: "NO_ROUTE".into(),
        }),
    }
}

fn placeholders(sizes: &[usize]) -> Vec<Vec<Result<(), Error>>> {
    sizes.iter().map(|n| vec![Ok(()); *n]).collect()
}

fn ok(results: &[Result<(), Error>]) -> bool {
    results.iter().all(Result::is_ok)
}

fn returned(r: &Result<(), Error>) -> bool {
    matches!(r, Err(Error::Returned(_)))
}

#[test]
fn a_request_is_answered_when_its_own_confirms_are_in_not_the_groups() {
    // Job 0 published first (tags 1-2), job 1 after it (tag 3).
    let mut t = Tracker::new(
        vec![
            sent(0, 0, "a", "r"),
            sent(0, 1, "b", "r"),
            sent(1, 0, "c", "r"),
        ],
        placeholders(&[2, 1]),
    );
    t.resolve(0, ack());
    t.resolve(1, ack());
    let p = t.prefix();
    assert_eq!(p, 2);
    let done = t.answerable(p);
    assert_eq!(done.len(), 1, "job 1's confirm is still out");
    assert_eq!(done[0].0, 0);
    assert!(ok(&done[0].1));
    assert!(!t.finished() && !t.settled());
    t.resolve(2, ack());
    let p = t.prefix();
    let done = t.answerable(p);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, 1);
    assert!(t.finished() && t.settled());
    assert!(t.answerable(p).is_empty(), "each job is answered once");
}

#[test]
fn a_later_ack_waits_for_the_earlier_confirms() {
    // Tag 2's ack came first (RabbitMQ may ack out of order): a return of
    // job 1's message may still wait in lapin for tag 1's confirm.
    let mut t = Tracker::new(
        vec![sent(0, 0, "a", "r"), sent(1, 0, "b", "r")],
        placeholders(&[1, 1]),
    );
    t.resolve(1, ack());
    let p = t.prefix();
    assert_eq!(p, 0);
    assert!(t.answerable(p).is_empty());
    t.resolve(0, ack_with("b", "r"));
    let p = t.prefix();
    let done = t.answerable(p);
    assert_eq!(done.len(), 2);
    assert!(ok(&done[0].1));
    assert!(
        returned(&done[1].1[0]),
        "the return is job 1's, not job 0's"
    );
}

#[test]
fn a_return_on_another_requests_confirm_refuses_its_own_request() {
    // One `multiple` ack resolved both tags; lapin handed job 0's return to
    // job 1's confirm, which is only seen in the second round.
    let mut t = Tracker::new(
        vec![sent(0, 0, "a", "orphan"), sent(1, 0, "b", "gha")],
        placeholders(&[1, 1]),
    );
    t.resolve(0, ack());
    let p = t.prefix();
    assert_eq!(p, 1);
    t.resolve(1, ack_with("a", "orphan"));
    let done = t.answerable(p);
    assert_eq!(done.len(), 1);
    assert!(returned(&done[0].1[0]), "job 0's message came back");
    let p = t.prefix();
    let done = t.answerable(p);
    assert!(ok(&done[0].1), "job 1's message was routed");
}

#[test]
fn a_nack_fails_exactly_its_request() {
    let mut t = Tracker::new(
        vec![
            sent(0, 0, "a", "r"),
            sent(1, 0, "b", "r"),
            sent(1, 1, "c", "r"),
        ],
        placeholders(&[1, 2]),
    );
    t.resolve(0, ack());
    t.resolve(
        1,
        Resolved {
            outcome: Err(Error::Nack),
            returned: None,
        },
    );
    t.resolve(2, ack());
    let p = t.prefix();
    let done = t.answerable(p);
    assert!(ok(&done[0].1));
    assert!(matches!(done[1].1[0], Err(Error::Nack)));
    assert!(done[1].1[1].is_ok());
}

#[test]
fn a_return_matching_no_message_refuses_every_request_still_open() {
    let mut t = Tracker::new(
        vec![sent(0, 0, "a", "r"), sent(1, 0, "b", "r")],
        placeholders(&[1, 1]),
    );
    t.resolve(0, ack());
    let p = t.prefix();
    assert!(ok(&t.answerable(p)[0].1));
    t.resolve(1, ack_with("zzz", "r"));
    let p = t.prefix();
    let done = t.answerable(p);
    assert!(returned(&done[0].1[0]));
}

#[test]
fn same_id_and_key_twice_are_both_refused_and_unpublished_items_keep_their_error() {
    let mut t = Tracker::new(
        vec![sent(0, 0, "a", "r"), sent(1, 1, "a", "r")],
        vec![vec![Ok(())], vec![Err(Error::Uncarriable("type")), Ok(())]],
    );
    t.resolve(0, ack_with("a", "r"));
    t.resolve(1, ack());
    let p = t.prefix();
    let done = t.answerable(p);
    assert!(returned(&done[0].1[0]));
    assert!(matches!(done[1].1[0], Err(Error::Uncarriable(_))));
    assert!(returned(&done[1].1[1]));
}

#[test]
fn a_request_with_nothing_published_is_answered_at_once() {
    let mut t = Tracker::new(
        vec![sent(1, 0, "a", "r")],
        vec![vec![Err(Error::Uncarriable("type"))], vec![Ok(())]],
    );
    let p = t.prefix();
    let done = t.answerable(p);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, 0);
    assert!(!t.finished());
}

#[test]
fn a_request_whose_messages_interleave_with_anothers_waits_for_its_last() {
    // Tags in publish order: job 0's first, job 1's only, job 0's second.
    let mut t = Tracker::new(
        vec![
            sent(0, 0, "a", "r"),
            sent(1, 0, "b", "r"),
            sent(0, 1, "c", "r"),
        ],
        placeholders(&[2, 1]),
    );
    t.resolve(0, ack());
    t.resolve(1, ack());
    let p = t.prefix();
    let done = t.answerable(p);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, 1, "job 0's second confirm is still out");
    t.resolve(
        2,
        Resolved {
            outcome: Err(Error::Nack),
            returned: None,
        },
    );
    let p = t.prefix();
    let done = t.answerable(p);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, 0);
    assert!(done[0].1[0].is_ok());
    assert!(matches!(done[0].1[1], Err(Error::Nack)), "its own nack");
    assert!(t.finished() && t.settled());
}

/// The answer rule written plainly (every job, every slot, each round): a
/// job is answered once every message of it is within the prefix.
fn reference_answerable(
    last: &[Option<usize>],
    answered: &mut [bool],
    prefix: usize,
) -> Vec<usize> {
    let mut done = Vec::new();
    for (job, l) in last.iter().enumerate() {
        if !answered[job] && l.is_none_or(|l| l < prefix) {
            answered[job] = true;
            done.push(job);
        }
    }
    done
}

#[test]
fn answers_match_the_plain_rule_for_random_groups_and_confirm_orders() {
    // A small xorshift: reproducible without a dependency.
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..2000 {
        let jobs = 1 + next(8);
        let sizes: Vec<usize> = (0..jobs).map(|_| next(4)).collect();
        // Messages in tag order: jobs' items interleaved at random.
        let mut pending: Vec<(usize, usize)> = sizes
            .iter()
            .enumerate()
            .flat_map(|(j, &n)| (0..n).map(move |i| (j, i)))
            .collect();
        let mut order = Vec::new();
        while !pending.is_empty() {
            order.push(pending.remove(next(pending.len())));
        }
        let mut last = vec![None; jobs];
        for (tag, &(j, _)) in order.iter().enumerate() {
            last[j] = Some(tag);
        }
        let mut t = Tracker::new(
            order
                .iter()
                .map(|&(j, i)| sent(j, i, &format!("{j}.{i}"), "r"))
                .collect(),
            placeholders(&sizes),
        );
        let mut answered = vec![false; jobs];
        // Confirms resolve in random order, a few per round.
        let mut unresolved: Vec<usize> = (0..order.len()).collect();
        loop {
            let p = t.prefix();
            let mut got: Vec<usize> = t.answerable(p).into_iter().map(|(j, _)| j).collect();
            got.sort_unstable();
            assert_eq!(
                got,
                reference_answerable(&last, &mut answered, p),
                "{order:?}"
            );
            if unresolved.is_empty() {
                break;
            }
            for _ in 0..=next(3) {
                if !unresolved.is_empty() {
                    t.resolve(unresolved.remove(next(unresolved.len())), ack());
                }
            }
        }
        assert!(t.finished() && t.settled(), "{order:?}");
        assert!(answered.iter().all(|a| *a));
    }
}
