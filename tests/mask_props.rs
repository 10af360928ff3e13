//! Property tests for the streaming masker: for random outputs, secret sets and chunkings,
//! streaming equals masking the whole output at once, and no secret of 8+ bytes survives.

use std::sync::Arc;

use jetlike::mask::Masker;
use jetlike::secret::Secret;
use proptest::prelude::*;

fn small_alphabet() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b'a'),
        Just(b'b'),
        Just(b'c'),
        Just(b' '),
        Just(b'_'),
        Just(b'\n'),
        Just(b'=')
    ]
}

fn case() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>, Vec<usize>)> {
    (
        prop::collection::vec(prop::collection::vec(small_alphabet(), 1..20), 1..4),
        prop::collection::vec(small_alphabet(), 0..120),
        prop::collection::vec(0usize..200, 0..8),
        prop::collection::vec((0usize..200, 0usize..4), 0..4),
    )
        .prop_map(|(secrets, mut text, cuts, plants)| {
            // Plant secrets into the text so they occur often.
            for (pos, which) in plants {
                let s = &secrets[which % secrets.len()];
                let at = pos % (text.len() + 1);
                text.splice(at..at, s.iter().copied());
            }
            (secrets, text, cuts)
        })
}

fn stream_mask(m: &Arc<Masker>, text: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    cuts.sort_unstable();
    let mut s = m.stream();
    let mut out = vec![];
    let mut pos = 0;
    for c in cuts {
        out.extend(s.push(&text[pos..c]));
        pos = c;
    }
    out.extend(s.push(&text[pos..]));
    out.extend(s.finish());
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn streaming_equals_whole_and_hides_secrets((secrets, text, cuts) in case()) {
        let owned: Vec<Secret> = secrets.iter().enumerate().map(|(i, s)| Secret::new(format!("ENV_{i}"), s.clone())).collect();
        let m = Arc::new(Masker::new(owned.iter()));
        let whole = m.mask(&text);
        prop_assert_eq!(&stream_mask(&m, &text, &cuts), &whole);
        let bytewise: Vec<usize> = (0..text.len()).collect();
        prop_assert_eq!(&stream_mask(&m, &text, &bytewise), &whole);
        for s in &secrets {
            let t = s.trim_ascii();
            if t.len() >= 8 {
                prop_assert!(!contains(&whole, t), "secret {:?} survived in {:?}", String::from_utf8_lossy(t), String::from_utf8_lossy(&whole));
            }
        }
    }
}
