//! Tests of the postings' byte layout.

use super::*;

fn collect(value: &[u8]) -> Vec<(u16, u32, u32)> {
    let mut v = Vec::new();
    decode(value, |r, p| {
        // Every test's aux is its frame's low bits, checked here.
        assert_eq!(p.aux, aux_of(p.frame));
        v.push((r, p.track, p.frame));
    })
    .expect("decodes");
    v
}

fn aux_of(frame: u32) -> u16 {
    (frame.wrapping_mul(40_503) >> 7) as u16
}

fn operand(residual: u16, track: u32, frames: &[u32]) -> Vec<u8> {
    let entries: Vec<(u32, u16)> = frames.iter().map(|&f| (f, aux_of(f))).collect();
    let mut out = Vec::new();
    encode_operand(&mut out, residual, track, &entries).expect("track in range");
    out
}

/// A value made of `blocks` (residual, track, frames), each merged in as its own
/// operand.
fn value(blocks: &[(u16, u32, &[u32])]) -> Vec<u8> {
    let operands: Vec<Vec<u8>> = blocks.iter().map(|&(r, t, f)| operand(r, t, f)).collect();
    merge(None, operands.iter().map(Vec::as_slice)).expect("valid operands")
}

#[test]
fn hashes_split_into_bucket_and_residual() {
    assert_eq!(split_hash(0x12_3456_789a), (0x12_3456, 0x789a));
    assert_eq!(split_hash(0xffff), (0, 0xffff));
    assert_eq!(split_hash(u64::MAX), (u64::MAX >> 16, 0xffff));
}

#[test]
fn operands_drop_the_count_of_single_postings() {
    let plain = |track: u32, entries: &[(u32, u16)]| {
        let mut out = Vec::new();
        encode_operand(&mut out, 0x0102, track, entries).expect("track in range");
        out
    };
    assert_eq!(plain(5, &[(100, 0)]), [1, 2, 10, 100, 0]);
    assert_eq!(
        plain(5, &[(100, 3), (130, 1)]),
        [1, 2, 11, 2, 100, 3, 30, 1]
    );
    assert_eq!(
        plain(MAX_TRACK, &[(9, 0)]),
        [1, 2, 0xfe, 0xff, 0xff, 0xff, 0x0f, 9, 0]
    );
    let mut out = vec![1];
    assert!(matches!(
        encode_operand(&mut out, 0, MAX_TRACK + 1, &[(9, 0)]),
        Err(Error::Exhausted)
    ));
    assert_eq!(out, vec![1], "nothing appended");
}

#[test]
fn values_merge_in_residual_and_track_order() {
    // Out-of-order operands, some concatenated in one buffer, and a value merged
    // again with more of them: postings end up ascending by residual and track,
    // equal ones in arrival order.
    let first = value(&[(3, 9, &[1]), (3, 2, &[5, 6]), (0, 7, &[4])]);
    let more = [
        operand(3, 4, &[2]),
        operand(3, 2, &[8]),
        operand(900, 1, &[0]),
    ]
    .concat();
    let merged = merge(Some(&first), [more.as_slice()]).expect("valid");
    assert_eq!(
        collect(&merged),
        vec![
            (0, 7, 4),
            (3, 2, 5),
            (3, 2, 6),
            (3, 2, 8),
            (3, 4, 2),
            (3, 9, 1),
            (900, 1, 0)
        ]
    );
    assert_eq!(count_postings(&merged).expect("counts"), 7);
    let max = value(&[(u16::MAX, MAX_TRACK, &[u32::MAX]), (0, 3, &[1])]);
    assert_eq!(
        collect(&max),
        vec![(0, 3, 1), (u16::MAX, MAX_TRACK, u32::MAX)]
    );
}

#[test]
fn lists_share_one_buffer_hold_one_residual_and_cap_common_hashes() {
    let value = value(&[(7, 1, &[1, 2, 3]), (7, 2, &[4]), (2, 5, &[9]), (8, 1, &[6])]);
    let mut lists = PostingLists::new();
    lists.push_decoded(&value, 7, 4).expect("valid");
    lists.push_decoded(&value, 7, 3).expect("valid");
    lists.push([]);
    lists.push([Posting {
        track: 9,
        frame: 8,
        aux: aux_of(8),
    }]);
    lists.push_decoded(&value, 7, 0).expect("valid");
    lists.push_decoded(&value, 2, 10).expect("valid");
    lists.push_decoded(&value, 5, 10).expect("valid");
    assert!(lists.push_decoded(&[0x00], 7, 10).is_err());
    assert_eq!(lists.len(), 7, "a corrupt value adds no list");
    assert_eq!(lists.total_postings(), 6);
    let lens: Vec<usize> = lists.iter().map(<[Posting]>::len).collect();
    assert_eq!(lens, vec![4, 0, 0, 1, 0, 1, 0]);
    assert_eq!(
        lists[0][3],
        Posting {
            track: 2,
            frame: 4,
            aux: aux_of(4),
        }
    );
    assert_eq!(lists[5][0].track, 5);
    assert_eq!(
        lists[3],
        [Posting {
            track: 9,
            frame: 8,
            aux: aux_of(8),
        }]
    );
    assert_eq!(lists.get(7), None);
}

#[test]
fn removing_a_track_keeps_the_others() {
    let both = value(&[(1, 1, &[5]), (1, 2, &[6, 7]), (40, 4, &[9]), (41, 1, &[3])]);
    let left = remove_track(&both, 1).expect("valid").expect("non-empty");
    assert_eq!(collect(&left), vec![(1, 2, 6), (1, 2, 7), (40, 4, 9)]);
    let same = remove_track(&left, 3).expect("valid").expect("non-empty");
    assert_eq!(
        collect(&same),
        collect(&left),
        "an absent track changes nothing"
    );
    let single = value(&[(0, 4, &[2])]);
    assert_eq!(remove_track(&single, 4).expect("valid"), None);
}

#[test]
fn damage_is_an_error_not_a_panic() {
    // Damaged values: empty, no closing bit, escapes running past the end.
    for bytes in [&[][..], &[0], &[0xff; 12]] {
        assert!(decode(bytes, |_, _| {}).is_err(), "{bytes:?}");
        assert!(remove_track(bytes, 0).is_err(), "{bytes:?}");
        assert!(merge(Some(bytes), []).is_err(), "{bytes:?}");
    }
    // Damaged operands: a truncated residual, a truncated varint, a count past the
    // bytes, a varint too long for a u32, an aux past 16 bits.
    for bytes in [
        &[0][..],
        &[0, 0, 0x80],
        &[0, 0, 3, 200, 1],
        &[0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        &[0, 0, 0, 5, 0xff, 0xff, 0x07],
    ] {
        assert!(merge(None, [bytes]).is_err(), "{bytes:?}");
    }
}

#[test]
fn grouping_caps_repeats() {
    let lms: Vec<earmark_core::Landmark> = (0..20)
        .map(|i| earmark_core::Landmark {
            hash: 7,
            frame: i,
            aux: 0,
        })
        .chain([earmark_core::Landmark {
            hash: 3,
            frame: 1,
            aux: 0,
        }])
        .collect();
    let groups = group_by_hash(&lms, 4);
    assert_eq!(
        groups,
        vec![(3, vec![(1, 0)]), (7, vec![(0, 0), (1, 0), (2, 0), (3, 0)])]
    );
}
