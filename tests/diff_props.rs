//! Property: whatever the target's current content looks like, the rendered diff of a
//! secret-bearing template shows neither the new secret nor an old one planted anywhere in
//! the current content, in any layout, human or JSON.

use base64::Engine as _;
use jetlike::diff::file_diff;
use jetlike::taint::Hole;
use proptest::prelude::*;

/// Layouts of a secret-bearing line; `S` stands for the secret.
const SECRET_LAYOUTS: &[&str] = &[
    "password = S",
    "url: postgres://app:S@db/app",
    "S",
    "token=S;",
    "k: \"S\"",
    "x S y S",
    "  - S # rotated",
    "SS",
];

/// Literal lines of the template, and their small edits in the current content.
const LITERALS: &[&str] = &[
    "[db]",
    "host = db2",
    "port: 5433",
    "# managed by jetlike",
    "",
    "pool = 5",
];
const OLD_LITERALS: &[&str] = &["[db]", "host = db1", "port: 5432", "# old", "", "pool = 10"];

/// How an old secret may stand in a line of the current content; `O` the old secret, `N`
/// the new one.
const OLD_LAYOUTS: &[&str] = &[
    "password = O",
    "password: O",
    "url: postgres://app:O@db/app",
    "O",
    "token=O;",
    "x O y O",
    "k: \"O\"",
    "NO",
    "N-O",
    "ON",
    "password = N O",
    "pw O tail",
    "host = O",
    "O O O",
];

fn secret() -> impl Strategy<Value = String> {
    "[A-Z][a-z][0-9][A-Za-z0-9_+/=.-]{7,24}"
}

#[derive(Debug, Clone)]
enum TLine {
    Lit(usize),
    Secret(usize),
}

fn template() -> impl Strategy<Value = Vec<TLine>> {
    let line = prop_oneof![
        (0..LITERALS.len()).prop_map(TLine::Lit),
        (0..SECRET_LAYOUTS.len()).prop_map(TLine::Secret),
    ];
    prop::collection::vec(line, 1..8).prop_filter("a secret line", |t| {
        t.iter().any(|l| matches!(l, TLine::Secret(_)))
    })
}

#[derive(Debug, Clone)]
enum OLine {
    Lit(usize),
    OldLit(usize),
    Secret(usize),
}

fn current() -> impl Strategy<Value = Vec<OLine>> {
    let line = prop_oneof![
        (0..LITERALS.len()).prop_map(OLine::Lit),
        (0..OLD_LITERALS.len()).prop_map(OLine::OldLit),
        (0..OLD_LAYOUTS.len()).prop_map(OLine::Secret),
        (0..OLD_LAYOUTS.len()).prop_map(OLine::Secret),
    ];
    prop::collection::vec(line, 0..10)
}

/// Renders the template with `value`, recording the holes.
fn render(t: &[TLine], value: &str, eol: &str, final_eol: bool) -> (String, Vec<Hole>) {
    let mut out = String::new();
    let mut holes = vec![];
    for (k, l) in t.iter().enumerate() {
        match l {
            TLine::Lit(i) => out.push_str(LITERALS[*i]),
            TLine::Secret(i) => {
                for c in SECRET_LAYOUTS[*i].chars() {
                    if c == 'S' {
                        holes.push(Hole::new(out.len()..out.len() + value.len(), "ENV_P"));
                        out.push_str(value);
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        if k + 1 < t.len() || final_eol {
            out.push_str(eol);
        }
    }
    (out, holes)
}

fn plant(c: &[OLine], old: &str, new: &str, eol: &str) -> String {
    let mut out = String::new();
    for l in c {
        match l {
            OLine::Lit(i) => out.push_str(LITERALS[*i]),
            OLine::OldLit(i) => out.push_str(OLD_LITERALS[*i]),
            OLine::Secret(i) => out.push_str(&OLD_LAYOUTS[*i].replace('O', old).replace('N', new)),
        }
        out.push_str(eol);
    }
    out
}

fn forms(s: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    vec![
        s.to_string(),
        STANDARD.encode(s),
        STANDARD_NO_PAD.encode(s),
        URL_SAFE_NO_PAD.encode(s),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn neither_the_old_nor_the_new_secret_is_shown(
        t in template(),
        c in current(),
        new in secret(),
        old in secret(),
        crlf_new in any::<bool>(),
        crlf_old in any::<bool>(),
        final_eol in any::<bool>(),
    ) {
        prop_assume!(!new.contains(&old) && !old.contains(&new));
        let (content, holes) = render(&t, &new, if crlf_new { "\r\n" } else { "\n" }, final_eol);
        let current = plant(&c, &old, &new, if crlf_old { "\r\n" } else { "\n" });
        let d = file_diff("/etc/app.conf", Some(current.as_bytes()), content.as_bytes(), &holes, false);
        let human = d.render(false);
        let json = serde_json::to_string(&d).unwrap();
        for f in forms(&old).into_iter().chain(forms(&new)) {
            prop_assert!(!human.contains(&f), "{f:?} in\n{human}\ncurrent:\n{current}");
            prop_assert!(!json.contains(&f), "{f:?} in {json}");
        }
        // Never a fake variable.
        prop_assert!(d.secrets_changed.iter().chain(&d.secrets_may_change).all(|v| v == "ENV_P"));
    }
}
