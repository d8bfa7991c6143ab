//! The suite every [`Store`] backend must pass.
//!
//! Call [`run_all`] from a backend's tests with a function that opens a fresh, empty
//! store for [`HashConfig::DEFAULT`](earmark_core::HashConfig::DEFAULT). Failures panic
//! with the invariant that broke.

use earmark_core::{Fingerprint, HashConfig, Landmark, Peak};

use crate::posting::Posting;
use crate::store::{NewTrack, PutOutcome, Store};
use crate::track::{TrackId, TrackMeta};

/// A synthetic track: `n` landmarks with hashes spread by a seeded generator.
pub fn synthetic_track(id: &str, seed: u32, n: usize) -> NewTrack {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let landmarks = (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            Landmark {
                hash: u64::from(state & 0x7f_ffff),
                frame: i as u32 / 4,
                aux: (state >> 16) as u16,
            }
        })
        .collect();
    NewTrack {
        id: TrackId::new(id).unwrap_or_else(|e| panic!("test id {id}: {e}")),
        meta: TrackMeta {
            title: Some(format!("Title of {id}")),
            rights_holder: Some("holder-a".into()),
            policy: Some("block".into()),
            ..TrackMeta::default()
        },
        duration_s: n as f64 / 100.0,
        content_hash: Some(format!("{seed:064x}")),
        landmarks,
        fingerprint: None,
    }
}

fn postings_of(store: &dyn Store, track: &NewTrack, idx: u32) -> usize {
    let hashes: Vec<u64> = track.landmarks.iter().map(|l| l.hash).collect();
    store
        .lookup(&hashes, usize::MAX)
        .unwrap_or_else(|e| panic!("lookup: {e}"))
        .iter()
        .map(|list| list.iter().filter(|p| p.track == idx).count())
        .sum()
}

/// Runs every check, each on a fresh store from `open`.
pub fn run_all(open: &dyn Fn() -> Box<dyn Store>) {
    put_then_lookup(open().as_ref());
    replace_keeps_one_copy(open().as_ref());
    delete_removes_every_posting(open().as_ref());
    metadata_and_listing(open().as_ref());
    common_hashes_are_capped(open().as_ref());
    stats_count(open().as_ref());
    shared_content_keeps_every_entry(open().as_ref());
    holder_usage_follows_every_write(open().as_ref());
    fingerprints_come_back_by_idx(open().as_ref());
}

/// The fingerprint a track was indexed from comes back by its internal number, for
/// verification; a track without one, or gone, gives `None`.
pub fn fingerprints_come_back_by_idx(store: &dyn Store) {
    let peaks: Vec<Peak> = (0..300u32)
        .map(|i| Peak {
            tick: i * 37,
            pitch: ((i * 733) % 2_900) as u16,
            rank: 0,
        })
        .collect();
    let fingerprint =
        Fingerprint::new(2, 25_000, peaks).unwrap_or_else(|e| panic!("test fingerprint: {e}"));
    let id = TrackId::new("printed").unwrap_or_else(|e| panic!("{e}"));
    let track = NewTrack::from_fingerprint(
        id.clone(),
        TrackMeta::default(),
        None,
        fingerprint.clone(),
        &HashConfig::DEFAULT,
    );
    let (_, printed) = store.put_track(&track).unwrap_or_else(|e| panic!("{e}"));
    let (_, bare) = store
        .put_track(&synthetic_track("bare", 3, 50))
        .unwrap_or_else(|e| panic!("{e}"));
    let found = store
        .fingerprints_by_idx(&[printed.idx, bare.idx, 999])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found, vec![Some(fingerprint), None, None]);
    store.delete_track(&id).unwrap_or_else(|e| panic!("{e}"));
    let gone = store
        .fingerprints_by_idx(&[printed.idx])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        gone,
        vec![None],
        "a deleted track's fingerprint is not returned"
    );
}

/// Two tracks made from the same file each keep their exact-content entry: adding
/// the second does not hide the first, and deleting either leaves the other.
pub fn shared_content_keeps_every_entry(store: &dyn Store) {
    let first = synthetic_track("first", 7, 100);
    let mut second = synthetic_track("second", 8, 100);
    second.content_hash = first.content_hash.clone();
    second.meta.rights_holder = Some("holder-b".into());
    let content = first.content_hash.clone().unwrap_or_default();
    store.put_track(&first).unwrap_or_else(|e| panic!("{e}"));
    store.put_track(&second).unwrap_or_else(|e| panic!("{e}"));
    let ids = |store: &dyn Store| -> Vec<String> {
        store
            .tracks_by_content(&content)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|r| r.id.to_string())
            .collect()
    };
    assert_eq!(ids(store), ["first", "second"], "first ingested first");
    assert!(
        store
            .delete_track(&second.id)
            .unwrap_or_else(|e| panic!("{e}"))
    );
    assert_eq!(ids(store), ["first"], "a delete removed another's entry");
    store.put_track(&second).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        store
            .delete_track(&first.id)
            .unwrap_or_else(|e| panic!("{e}"))
    );
    assert_eq!(ids(store), ["second"]);
}

/// A holder's usage counts its tracks through puts, replaces, deletes and a change
/// of holder, and no one else's.
pub fn holder_usage_follows_every_write(store: &dyn Store) {
    let usage = |holder: &str| store.holder_usage(holder).unwrap_or_else(|e| panic!("{e}"));
    let a = synthetic_track("a", 1, 360);
    let b = synthetic_track("b", 2, 720);
    let mut other = synthetic_track("other", 3, 100);
    other.meta.rights_holder = Some("holder-b".into());
    let (_, ra) = store.put_track(&a).unwrap_or_else(|e| panic!("{e}"));
    let (_, rb) = store.put_track(&b).unwrap_or_else(|e| panic!("{e}"));
    let (_, ro) = store.put_track(&other).unwrap_or_else(|e| panic!("{e}"));
    let mine = usage("holder-a");
    assert_eq!(mine.tracks, 2);
    assert_eq!(mine.postings, ra.landmarks + rb.landmarks);
    assert!((mine.hours - (3.6 + 7.2) / 3600.0).abs() < 1e-9);
    assert_eq!(usage("holder-b").tracks, 1);
    assert_eq!(usage("holder-b").postings, ro.landmarks);
    assert_eq!(usage("nobody"), crate::HolderUsage::default());

    // A replace counts the new audio only; a delete gives its share back.
    let (_, ra2) = store
        .put_track(&synthetic_track("a", 4, 100))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(usage("holder-a").tracks, 2);
    assert_eq!(usage("holder-a").postings, ra2.landmarks + rb.landmarks);
    assert!(store.delete_track(&b.id).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(usage("holder-a").tracks, 1);
    assert_eq!(usage("holder-a").postings, ra2.landmarks);

    // Handing a track to another holder moves its share.
    let meta = TrackMeta {
        rights_holder: Some("holder-b".into()),
        ..ra2.meta.clone()
    };
    store
        .update_meta(&ra2.id, &meta)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(usage("holder-a").tracks, 0);
    assert_eq!(usage("holder-a").postings, 0);
    assert_eq!(usage("holder-b").tracks, 2);
    assert_eq!(usage("holder-b").postings, ro.landmarks + ra2.landmarks);
}

/// Stored landmarks come back as postings of the stored track.
pub fn put_then_lookup(store: &dyn Store) {
    let a = synthetic_track("a", 1, 400);
    let (outcome, record) = store.put_track(&a).unwrap_or_else(|e| panic!("put: {e}"));
    assert_eq!(outcome, PutOutcome::Inserted);
    assert_eq!(record.hash_config_id, store.hash_config_id());
    let lm = a.landmarks[10];
    let found = store
        .lookup(&[lm.hash], usize::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        found[0].contains(&Posting {
            track: record.idx,
            frame: lm.frame,
            aux: lm.aux,
        }),
        "a stored landmark is not found"
    );
    assert!(postings_of(store, &a, record.idx) >= a.landmarks.len());
    let missing = store
        .lookup(&[0xffff_ffff], usize::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(missing[0].is_empty());
}

/// Re-ingesting an id replaces the track instead of duplicating its postings.
pub fn replace_keeps_one_copy(store: &dyn Store) {
    let a = synthetic_track("a", 1, 300);
    let (_, first) = store.put_track(&a).unwrap_or_else(|e| panic!("{e}"));
    let (outcome, second) = store.put_track(&a).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome, PutOutcome::Replaced);
    assert_eq!(postings_of(store, &a, first.idx), 0, "old postings remain");
    let unique: std::collections::HashSet<(u64, u32, u16)> = a
        .landmarks
        .iter()
        .map(|l| (l.hash, l.frame, l.aux))
        .collect();
    let hashes: std::collections::HashSet<u64> = a.landmarks.iter().map(|l| l.hash).collect();
    let hashes: Vec<u64> = hashes.into_iter().collect();
    let total: usize = store
        .lookup(&hashes, usize::MAX)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|l| l.iter().filter(|p| p.track == second.idx).count())
        .sum();
    assert_eq!(total, unique.len(), "postings duplicated on replace");
    assert_eq!(store.stats().unwrap_or_else(|e| panic!("{e}")).tracks, 1);
}

/// Deleting a track leaves none of its postings and none of its records.
pub fn delete_removes_every_posting(store: &dyn Store) {
    let a = synthetic_track("a", 1, 300);
    let b = synthetic_track("b", 2, 300);
    let (_, ra) = store.put_track(&a).unwrap_or_else(|e| panic!("{e}"));
    let (_, rb) = store.put_track(&b).unwrap_or_else(|e| panic!("{e}"));
    let before = store.stats().unwrap_or_else(|e| panic!("{e}")).postings;
    assert!(store.delete_track(&a.id).unwrap_or_else(|e| panic!("{e}")));
    assert!(!store.delete_track(&a.id).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(postings_of(store, &a, ra.idx), 0, "postings survive delete");
    assert!(
        postings_of(store, &b, rb.idx) > 0,
        "delete touched another track"
    );
    assert!(
        store
            .track(&a.id)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    let content = a.content_hash.clone().unwrap_or_default();
    assert!(
        store
            .tracks_by_content(&content)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    assert!(
        store
            .tracks_by_idx(&[ra.idx])
            .unwrap_or_else(|e| panic!("{e}"))[0]
            .is_none()
    );
    let after = store.stats().unwrap_or_else(|e| panic!("{e}")).postings;
    assert_eq!(before - after, ra.landmarks, "posting count after delete");
}

/// Records, content lookups, listing with paging and metadata updates.
pub fn metadata_and_listing(store: &dyn Store) {
    for (i, id) in ["c", "a", "b", "d"].iter().enumerate() {
        store
            .put_track(&synthetic_track(id, i as u32 + 10, 50))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let id = TrackId::new("b").unwrap_or_else(|e| panic!("{e}"));
    let record = store
        .track(&id)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("b missing"));
    assert_eq!(record.meta.title.as_deref(), Some("Title of b"));
    let by_content = store
        .tracks_by_content(&format!("{:064x}", 12))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_content.iter().map(|r| &r.id).collect::<Vec<_>>(), [&id]);
    let by_idx = store
        .tracks_by_idx(&[record.idx, 999_999])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_idx[0].as_ref().map(|r| &r.id), Some(&id));
    assert!(by_idx[1].is_none());
    let page1 = store.list_tracks(None, 2).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = page1.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let page2 = store
        .list_tracks(Some(&page1[1].id), 10)
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = page2.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["c", "d"]);
    let meta = TrackMeta {
        policy: Some("allow".into()),
        ..record.meta.clone()
    };
    let updated = store
        .update_meta(&id, &meta)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.meta.policy.as_deref(), Some("allow"));
    let reread = store
        .track(&id)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("b missing"));
    assert_eq!(reread.meta.policy.as_deref(), Some("allow"));
    let missing = TrackId::new("zz").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        store.update_meta(&missing, &meta),
        Err(crate::Error::NotFound(_))
    ));
}

/// A hash with more postings than the cap comes back empty.
pub fn common_hashes_are_capped(store: &dyn Store) {
    for i in 0..5 {
        let mut t = synthetic_track(&format!("t{i}"), 100 + i, 20);
        t.landmarks.push(Landmark {
            hash: 0x42,
            frame: 7,
            aux: 3,
        });
        store.put_track(&t).unwrap_or_else(|e| panic!("{e}"));
    }
    let all = store
        .lookup(&[0x42], usize::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all[0].len(), 5);
    let capped = store.lookup(&[0x42], 4).unwrap_or_else(|e| panic!("{e}"));
    assert!(capped[0].is_empty());
}

/// Stats count tracks, postings and hours.
pub fn stats_count(store: &dyn Store) {
    let a = synthetic_track("a", 1, 360);
    let b = synthetic_track("b", 2, 720);
    let (_, ra) = store.put_track(&a).unwrap_or_else(|e| panic!("{e}"));
    let (_, rb) = store.put_track(&b).unwrap_or_else(|e| panic!("{e}"));
    let stats = store.stats().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.tracks, 2);
    assert_eq!(stats.postings, ra.landmarks + rb.landmarks);
    assert!((stats.hours - (3.6 + 7.2) / 3600.0).abs() < 1e-9);
    assert!(stats.bytes > 0);
}
