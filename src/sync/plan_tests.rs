#![allow(clippy::unwrap_used)]

use super::*;

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn copy(hash: &str, refresh: Option<&str>) -> Obs {
    Obs::Present(Copy {
        hash: hash.into(),
        meta: Meta {
            valid: true,
            last_refresh: refresh.map(ts),
            ..Meta::default()
        },
    })
}

fn invalid(hash: &str) -> Obs {
    Obs::Present(Copy {
        hash: hash.into(),
        meta: Meta::default(),
    })
}

fn obs(pairs: &[(LocId, Obs)]) -> BTreeMap<LocId, Obs> {
    pairs.iter().cloned().collect()
}

fn base(hash: &str, refresh: Option<&str>, seen: &[(LocId, &str)]) -> BaseEntry {
    BaseEntry {
        hash: hash.into(),
        meta: Meta {
            valid: true,
            last_refresh: refresh.map(ts),
            ..Meta::default()
        },
        seen: seen.iter().map(|(l, h)| (*l, h.to_string())).collect(),
    }
}

fn all_seen(h: &str) -> Vec<(LocId, &str)> {
    LocId::ALL.iter().map(|l| (*l, h)).collect()
}

fn run(b: Option<&BaseEntry>, o: &BTreeMap<LocId, Obs>, t: Option<&Tombstone>) -> NamePlan {
    plan_name(
        &NameInput {
            name: "a.json",
            base: b,
            obs: o,
            tomb: t,
        },
        false,
    )
}

fn winner(p: &NamePlan) -> (&str, Vec<LocId>) {
    match &p.action {
        Action::Sync { winner, writes, .. } => (winner.as_str(), writes.clone()),
        other => panic!("expected sync, got {other:?}"),
    }
}

#[test]
fn unchanged_everywhere_writes_nothing() {
    let b = base("h1", None, &all_seen("h1"));
    let o = obs(&LocId::ALL.map(|l| (l, copy("h1", None))));
    let p = run(Some(&b), &o, None);
    assert_eq!(winner(&p), ("h1", vec![]));
}

#[test]
fn one_side_changed_propagates_even_if_older() {
    // A local edit (or a rollback) with an older last_refresh still wins: only it changed.
    let b = base("h1", Some("2026-01-02T00:00:00Z"), &all_seen("h1"));
    let o = obs(&[
        (LocId::Local, copy("h0", Some("2026-01-01T00:00:00Z"))),
        (LocId::Primary, copy("h1", Some("2026-01-02T00:00:00Z"))),
        (LocId::Backup, copy("h1", Some("2026-01-02T00:00:00Z"))),
    ]);
    let p = run(Some(&b), &o, None);
    assert_eq!(winner(&p), ("h0", vec![LocId::Primary, LocId::Backup]));
}

#[test]
fn local_refresh_beats_stale_remote() {
    // The seed's bug: the remote copy is the old one; local refreshed since the base.
    let b = base("old", Some("2026-01-01T00:00:00Z"), &all_seen("old"));
    let o = obs(&[
        (LocId::Local, copy("new", Some("2026-01-03T00:00:00Z"))),
        (LocId::Primary, copy("old", Some("2026-01-01T00:00:00Z"))),
        (LocId::Backup, copy("old", Some("2026-01-01T00:00:00Z"))),
        (LocId::Ccs, copy("old", Some("2026-01-01T00:00:00Z"))),
        (LocId::Dotfiles, copy("old", Some("2026-01-01T00:00:00Z"))),
    ]);
    let p = run(Some(&b), &o, None);
    assert_eq!(
        winner(&p),
        (
            "new",
            vec![LocId::Primary, LocId::Backup, LocId::Ccs, LocId::Dotfiles]
        )
    );
}

#[test]
fn same_change_on_two_sides_converges_silently() {
    let b = base("h1", None, &all_seen("h1"));
    let o = obs(&[
        (LocId::Local, copy("h2", None)),
        (LocId::Primary, copy("h2", None)),
        (LocId::Backup, copy("h1", None)),
    ]);
    let p = run(Some(&b), &o, None);
    match p.action {
        Action::Sync {
            winner,
            writes,
            conflict,
            keep,
            ..
        } => {
            assert_eq!(winner, "h2");
            assert_eq!(writes, vec![LocId::Backup]);
            assert!(!conflict);
            assert!(keep.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn conflict_goes_to_the_freshest_and_keeps_the_loser() {
    let b = base("h1", Some("2026-01-01T00:00:00Z"), &all_seen("h1"));
    let o = obs(&[
        (LocId::Local, copy("mine", Some("2026-01-02T00:00:00Z"))),
        (LocId::Primary, copy("theirs", Some("2026-01-03T00:00:00Z"))),
    ]);
    let p = run(Some(&b), &o, None);
    match p.action {
        Action::Sync {
            winner,
            keep,
            conflict,
            source,
            ..
        } => {
            assert_eq!(winner, "theirs");
            assert_eq!(source, LocId::Primary);
            assert!(conflict);
            assert_eq!(keep, vec![(LocId::Local, "mine".to_string())]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn freshness_order_refresh_then_expiry_then_mtime_then_hash() {
    let mk = |h: &str, r: Option<&str>, e: Option<&str>, m: Option<&str>| Copy {
        hash: h.into(),
        meta: Meta {
            valid: true,
            last_refresh: r.map(ts),
            expiry: e.map(ts),
            mtime: m.map(ts),
        },
    };
    let t1 = Some("2026-01-01T00:00:00Z");
    let t2 = Some("2026-01-02T00:00:00Z");
    assert_eq!(
        freshness(&mk("a", t2, None, None), &mk("b", t1, t2, t2)),
        Ordering::Greater
    );
    assert_eq!(
        freshness(&mk("a", t1, t2, None), &mk("b", t1, t1, t2)),
        Ordering::Greater
    );
    assert_eq!(
        freshness(&mk("a", t1, t1, t2), &mk("b", t1, t1, t1)),
        Ordering::Greater
    );
    assert_eq!(
        freshness(&mk("b", t1, t1, t1), &mk("a", t1, t1, t1)),
        Ordering::Greater
    );
    let bad = Copy {
        hash: "z".into(),
        meta: Meta {
            valid: false,
            last_refresh: Some(ts("2030-01-01T00:00:00Z")),
            ..Meta::default()
        },
    };
    assert_eq!(freshness(&bad, &mk("a", None, None, None)), Ordering::Less);
}

#[test]
fn invalid_json_never_wins_and_is_repaired_and_kept() {
    let b = base("good", None, &all_seen("good"));
    let o = obs(&[
        (LocId::Local, invalid("trunc")),
        (LocId::Primary, copy("good", None)),
    ]);
    let p = run(Some(&b), &o, None);
    match p.action {
        Action::Sync {
            winner,
            writes,
            keep,
            ..
        } => {
            assert_eq!(winner, "good");
            assert_eq!(writes, vec![LocId::Local]);
            assert_eq!(keep, vec![(LocId::Local, "trunc".to_string())]);
        }
        other => panic!("{other:?}"),
    }
    assert!(!p.notes.is_empty());
    // Only an invalid copy anywhere: nothing moves.
    let o = obs(&[
        (LocId::Local, invalid("trunc")),
        (LocId::Primary, Obs::Absent),
    ]);
    assert_eq!(run(None, &o, None).action, Action::None);
}

#[test]
fn absence_never_deletes_it_restores() {
    let b = base("h1", None, &all_seen("h1"));
    let o = obs(&[
        (LocId::Local, Obs::Absent),
        (LocId::Primary, Obs::Absent),
        (LocId::Backup, copy("h1", None)),
        (LocId::Ccs, Obs::Unknown),
    ]);
    let p = run(Some(&b), &o, None);
    assert_eq!(winner(&p), ("h1", vec![LocId::Local, LocId::Primary]));
}

#[test]
fn no_base_is_a_union_with_the_freshest_winning() {
    let o = obs(&[
        (LocId::Local, copy("l", Some("2026-01-01T00:00:00Z"))),
        (LocId::Primary, copy("p", Some("2026-01-05T00:00:00Z"))),
        (LocId::Backup, Obs::Absent),
    ]);
    let p = run(None, &o, None);
    assert_eq!(winner(&p), ("p", vec![LocId::Local, LocId::Backup]));
}

#[test]
fn stale_copy_of_unknown_provenance_does_not_beat_base() {
    let b = base(
        "cur",
        Some("2026-01-05T00:00:00Z"),
        &[(LocId::Local, "cur")],
    );
    let o = obs(&[
        (LocId::Local, copy("cur", Some("2026-01-05T00:00:00Z"))),
        (LocId::Ccs, copy("old", Some("2026-01-01T00:00:00Z"))),
    ]);
    let p = run(Some(&b), &o, None);
    assert_eq!(winner(&p), ("cur", vec![LocId::Ccs]));
}

#[test]
fn location_that_missed_an_update_is_brought_forward() {
    // Primary was unreachable when base moved to h2; it still holds h1 (its seen).
    let mut b = base("h2", None, &all_seen("h2"));
    b.seen.insert(LocId::Primary, "h1".into());
    let o = obs(&[
        (LocId::Local, copy("h2", None)),
        (LocId::Primary, copy("h1", None)),
    ]);
    assert_eq!(
        winner(&run(Some(&b), &o, None)),
        ("h2", vec![LocId::Primary])
    );
}

#[test]
fn dotfiles_is_a_sink_unless_bootstrapping() {
    let o = obs(&[
        (LocId::Local, Obs::Absent),
        (LocId::Primary, Obs::Absent),
        (LocId::Dotfiles, copy("d", None)),
    ]);
    assert_eq!(run(None, &o, None).action, Action::None);
    let p = plan_name(
        &NameInput {
            name: "a.json",
            base: None,
            obs: &o,
            tomb: None,
        },
        true,
    );
    assert_eq!(winner(&p), ("d", vec![LocId::Local, LocId::Primary]));
    let counts: BTreeMap<LocId, Option<usize>> = [
        (LocId::Local, Some(0)),
        (LocId::Primary, None),
        (LocId::Dotfiles, Some(3)),
    ]
    .into_iter()
    .collect();
    assert!(is_bootstrap(&counts));
}

#[test]
fn tombstone_deletes_everywhere_but_backup() {
    let t = Tombstone {
        name: "a.json".into(),
        deleted_at: ts("2026-01-10T00:00:00Z"),
        hash: "h1".into(),
        machine: "m".into(),
    };
    let o = obs(&[
        (LocId::Local, copy("h1", Some("2026-01-01T00:00:00Z"))),
        (LocId::Primary, copy("h1", Some("2026-01-01T00:00:00Z"))),
        (LocId::Backup, copy("h1", Some("2026-01-01T00:00:00Z"))),
        (LocId::Ccs, copy("h0", Some("2025-12-01T00:00:00Z"))),
        (LocId::Dotfiles, copy("h1", Some("2026-01-01T00:00:00Z"))),
    ]);
    let b = base("h1", None, &all_seen("h1"));
    let p = run(Some(&b), &o, Some(&t));
    assert_eq!(
        p.action,
        Action::Delete {
            from: vec![LocId::Local, LocId::Primary, LocId::Ccs, LocId::Dotfiles],
            keep: vec![(LocId::Ccs, "h0".into())],
        }
    );
}

#[test]
fn old_backup_copy_never_resurrects_but_a_new_login_does() {
    let t = Tombstone {
        name: "a.json".into(),
        deleted_at: ts("2026-01-10T00:00:00Z"),
        hash: "h1".into(),
        machine: "m".into(),
    };
    let o = obs(&[
        (LocId::Local, Obs::Absent),
        (LocId::Backup, copy("h0", Some("2026-01-01T00:00:00Z"))),
    ]);
    assert_eq!(run(None, &o, Some(&t)).action, Action::None);
    let o = obs(&[
        (LocId::Local, copy("new", Some("2026-01-11T00:00:00Z"))),
        (LocId::Primary, Obs::Absent),
        (LocId::Backup, copy("h1", Some("2026-01-01T00:00:00Z"))),
    ]);
    let p = run(None, &o, Some(&t));
    assert!(p.drop_tombstone);
    assert_eq!(winner(&p), ("new", vec![LocId::Primary, LocId::Backup]));
}

#[test]
fn guards_stop_mass_delete_and_empty_remote_listing() {
    let del = |n: &str| NamePlan {
        name: n.into(),
        action: Action::Delete {
            from: vec![LocId::Local],
            keep: vec![],
        },
        drop_tombstone: false,
        notes: vec![],
    };
    let keep = |n: &str| NamePlan {
        name: n.into(),
        action: Action::None,
        drop_tombstone: false,
        notes: vec![],
    };
    let base_map: BTreeMap<String, BaseEntry> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| (n.to_string(), base("h", None, &all_seen("h"))))
        .collect();
    let counts: BTreeMap<LocId, Option<usize>> = [(LocId::Primary, Some(4))].into_iter().collect();
    let plans = vec![del("a"), del("b"), del("c"), keep("d")];
    assert!(guard(&plans, &base_map, &counts, 0.5).is_some());
    let plans = vec![del("a"), keep("b"), keep("c"), keep("d")];
    assert!(guard(&plans, &base_map, &counts, 0.5).is_none());
    let counts: BTreeMap<LocId, Option<usize>> = [(LocId::Primary, Some(0))].into_iter().collect();
    assert!(guard(&plans, &base_map, &counts, 0.5).is_some());
}

#[test]
fn meta_reads_fields() {
    let m = Meta::of(
        br#"{"type":"claude","last_refresh":"2026-01-01T00:00:00Z","expires_at":"2026-01-02T00:00:00Z"}"#,
        None,
    );
    assert!(m.valid);
    assert_eq!(m.expiry, Some(ts("2026-01-02T00:00:00Z")));
    assert!(!Meta::of(b"{\"type\":\"cla", None).valid);
}
