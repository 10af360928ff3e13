//! The forms of a secret worth masking: case and Unicode forms, UTF-16, the reversed value,
//! and the encodings a careless command might print it in (base64, JSON, URL, shell quoting).

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::engine::GeneralPurpose;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::{Bytes, MIN_LINE};

/// Every form of `value` worth masking, appended to `out` (unfiltered, undeduplicated).
pub(super) fn variants(value: &[u8], out: &mut Vec<Bytes>) {
    let trimmed = value.trim_ascii();
    out.push(Zeroizing::new(value.to_vec()));
    encodings(value, out);
    if trimmed != value {
        out.push(Zeroizing::new(trimmed.to_vec()));
        encodings(trimmed, out);
    }
    // A multi-line value (a PEM key) is often printed one line at a time.
    if value.contains(&b'\n') {
        for line in value.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.len() >= MIN_LINE {
                out.push(Zeroizing::new(line.to_vec()));
            }
        }
    }
    text_forms(trimmed, out);
    // Reversed (`|reverse` in a template, `rev` on the target): masked from the start, before
    // any template derives it.
    let reversed: Zeroizing<Vec<u8>> = match std::str::from_utf8(trimmed) {
        Ok(s) => Zeroizing::new(s.chars().rev().collect::<String>().into_bytes()),
        Err(_) => Zeroizing::new(trimmed.iter().rev().copied().collect()),
    };
    if reversed[..] != *trimmed {
        out.push(reversed);
    }
}

/// Forms of a UTF-8 value that other programs produce from it: its Unicode upper and lower
/// case (ASCII case needs no pattern: matching ignores it), its normalisation forms (NFC,
/// NFD, NFKC, NFKD), each raw and JSON-escaped, and the UTF-16 LE and BE encodings of all of
/// these (`iconv -t UTF-16LE`, Windows tools, PowerShell). A value that is not UTF-8 gets
/// the UTF-16 of its bytes read as Latin-1.
pub(super) fn text_forms(v: &[u8], out: &mut Vec<Bytes>) {
    use unicode_normalization::UnicodeNormalization;
    let mut forms: Vec<Zeroizing<String>> = Vec::new();
    match std::str::from_utf8(v) {
        Ok(s) => {
            forms.push(Zeroizing::new(s.to_string()));
            if !s.is_ascii() {
                let base = [s.to_string(), s.to_uppercase(), s.to_lowercase()];
                for b in &base {
                    forms.push(Zeroizing::new(b.clone()));
                    forms.push(Zeroizing::new(b.nfc().collect()));
                    forms.push(Zeroizing::new(b.nfd().collect()));
                    forms.push(Zeroizing::new(b.nfkc().collect()));
                    forms.push(Zeroizing::new(b.nfkd().collect()));
                }
                let mut base = base;
                base.iter_mut().for_each(zeroize::Zeroize::zeroize);
                forms.sort_unstable_by(|a, b| a[..].cmp(&b[..]));
                forms.dedup_by(|a, b| a[..] == b[..]);
            }
        }
        Err(_) => forms.push(Zeroizing::new(v.iter().map(|&b| char::from(b)).collect())),
    }
    for f in &forms {
        if f.as_bytes() != v {
            out.push(Zeroizing::new(f.as_bytes().to_vec()));
            out.extend(json_escape(f.as_bytes(), false, None));
            out.extend(json_escape(f.as_bytes(), false, Some(false)));
        }
        let mut le = Zeroizing::new(Vec::with_capacity(2 * f.len()));
        let mut be = Zeroizing::new(Vec::with_capacity(2 * f.len()));
        for unit in f.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        out.push(le);
        out.push(be);
    }
}

/// The encoded forms of one value.
pub(super) fn encodings(v: &[u8], out: &mut Vec<Bytes>) {
    // `echo "$S" | base64` encodes the value plus a newline.
    let mut with_nl = Zeroizing::new(v.to_vec());
    with_nl.push(b'\n');
    for input in [v, &with_nl[..]] {
        for engine in [&STANDARD, &URL_SAFE] {
            base64_forms(engine, input, out);
        }
    }
    for (slash, unicode) in [
        (false, None),
        (true, None),
        (false, Some(false)),
        (false, Some(true)),
        (true, Some(false)),
    ] {
        out.extend(json_escape(v, slash, unicode));
    }
    for upper in [true, false] {
        for (plus, keep_slash) in [(false, false), (true, false), (false, true)] {
            out.push(url_encode(v, upper, plus, keep_slash, b""));
        }
    }
    // JavaScript's encodeURIComponent leaves these unescaped.
    out.push(url_encode(v, true, false, false, b"!'()*"));
    out.push(replace_byte(v, b'\'', b"'\\''"));
    out.push(replace_byte(v, b'\'', b"'\"'\"'"));
    out.push(double_quote_inner(v));
    out.push(printf_q(v));
    out.extend(ansi_c_inner(v));
    out.push(markup_escape(v, b"&#39;"));
    out.push(markup_escape(v, b"&apos;"));
    out.push(hex(v, b"0123456789abcdef"));
    out.push(hex(v, b"0123456789ABCDEF"));
}

/// Full encodings (with and without `=`), the stable middles at offsets 0/1/2, and for the
/// standard alphabet the lines of the output wrapped at 76 (coreutils) and 64 (PEM, openssl).
pub(super) fn base64_forms(engine: &GeneralPurpose, v: &[u8], out: &mut Vec<Bytes>) {
    let full = Zeroizing::new(engine.encode(v).into_bytes());
    let unpadded = full.iter().position(|&b| b == b'=').unwrap_or(full.len());
    out.push(Zeroizing::new(full[..unpadded].to_vec()));
    for offset in 0..3 {
        out.push(base64_middle(engine, v, offset));
    }
    if std::ptr::eq(engine, &STANDARD) {
        for width in [76, 64] {
            if full.len() > width {
                for line in full.chunks(width) {
                    out.push(Zeroizing::new(line.to_vec()));
                }
            }
        }
    }
    out.push(full);
}

/// The characters of base64(`offset` other bytes + `v`) that depend only on `v`'s bits: the
/// part that is the same whatever precedes or follows the value. Characters carrying bits of
/// the preceding bytes or of what follows (or padding) are dropped, as GitHub Actions does.
pub(super) fn base64_middle(engine: &GeneralPurpose, v: &[u8], offset: usize) -> Bytes {
    let mut input = Zeroizing::new(vec![0u8; offset]);
    input.extend_from_slice(v);
    let enc = Zeroizing::new(engine.encode(&input[..]).into_bytes());
    let first = (8 * offset).div_ceil(6);
    let last = 8 * (offset + v.len()) / 6;
    Zeroizing::new(enc[first..last.max(first)].to_vec())
}

/// JSON string escaping as `serde_json` does it (`\"` `\\` `\n` `\r` `\t` `\b` `\f`, other
/// control characters as `\u00xx`); optionally `/` as `\/` (PHP), and optionally every
/// non-ASCII character as `\uXXXX` UTF-16 units in lower or upper case (Python, PHP, Java).
/// None when `unicode` is asked for and the value is not UTF-8.
pub(super) fn json_escape(v: &[u8], slash: bool, unicode: Option<bool>) -> Option<Bytes> {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    let digits: &[u8; 16] = if unicode == Some(true) {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let u_escape = |out: &mut Vec<u8>, unit: u16| {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(digits[usize::from((unit >> shift) & 0xf)]);
        }
    };
    let ascii = |out: &mut Vec<u8>, b: u8| match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'/' if slash => out.extend_from_slice(b"\\/"),
        c if c < 0x20 => u_escape(out, u16::from(c)),
        c => out.push(c),
    };
    if unicode.is_none() {
        for &b in v {
            ascii(&mut out, b);
        }
    } else {
        let text = std::str::from_utf8(v).ok()?;
        let mut units = [0u16; 2];
        for ch in text.chars() {
            if ch.is_ascii() {
                ascii(&mut out, ch as u8);
            } else {
                for &unit in ch.encode_utf16(&mut units).iter() {
                    u_escape(&mut out, unit);
                }
            }
        }
    }
    Some(out)
}

/// Percent-encoding of everything but `A-Za-z0-9-._~` (and `keep`), in upper- or lower-case
/// hex; `plus` writes space as `+` (HTML forms), `keep_slash` leaves `/` alone (paths).
pub(super) fn url_encode(
    v: &[u8],
    upper: bool,
    plus: bool,
    keep_slash: bool,
    keep: &[u8],
) -> Bytes {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() * 3));
    for &b in v {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b);
        } else if b == b' ' && plus {
            out.push(b'+');
        } else if b == b'/' && keep_slash {
            out.push(b'/');
        } else {
            out.extend_from_slice(&[
                b'%',
                digits[usize::from(b >> 4)],
                digits[usize::from(b & 15)],
            ]);
        }
    }
    out
}

/// `v` with each `from` byte replaced by `to`: the inside of a single-quoted shell word
/// (`'\''` in sh, `'"'"'` as Python's `shlex.quote` writes it). The inside is registered rather
/// than the quoted word because it is a substring of it, so it masks at least as much.
pub(super) fn replace_byte(v: &[u8], from: u8, to: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        if b == from {
            out.extend_from_slice(to);
        } else {
            out.push(b);
        }
    }
    out
}

/// The inside of a double-quoted shell word: `\` before `"`, `\`, `$` and `` ` ``.
pub(super) fn double_quote_inner(v: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        if b"\"\\$`".contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Bash `printf %q` for printable values: a backslash before each shell metacharacter,
/// blank and newline (bash's `bstab`), and before a leading `#` or `~`.
pub(super) fn printf_q(v: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for (i, &b) in v.iter().enumerate() {
        if b"\t\n !\"$&'()*,;<>?[\\]^`{|}".contains(&b) || (i == 0 && (b == b'#' || b == b'~')) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The inside of bash's `$'...'`, which `printf %q` uses for values with control characters
/// (a multi-line key): C escapes, `\\`, `\'`, other control bytes in octal. None when the
/// value has no control character (then `printf %q` backslash-quotes instead).
pub(super) fn ansi_c_inner(v: &[u8]) -> Option<Bytes> {
    if !v.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        let esc = match b {
            0x1b => Some(b'E'),
            0x07 => Some(b'a'),
            0x0b => Some(b'v'),
            0x08 => Some(b'b'),
            0x0c => Some(b'f'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' => Some(b't'),
            b'\\' | b'\'' => Some(b),
            _ => None,
        };
        match esc {
            Some(e) => out.extend_from_slice(&[b'\\', e]),
            None if b < 0x20 || b == 0x7f => out.extend_from_slice(&[
                b'\\',
                b'0' + (b >> 6),
                b'0' + ((b >> 3) & 7),
                b'0' + (b & 7),
            ]),
            None => out.push(b),
        }
    }
    Some(out)
}

/// HTML/XML text escaping (`&amp; &lt; &gt; &quot;` and the given form for `'`).
pub(super) fn markup_escape(v: &[u8], apos: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(apos),
            _ => out.push(b),
        }
    }
    out
}

pub(super) fn hex(v: &[u8], digits: &[u8; 16]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() * 2));
    for &b in v {
        out.extend_from_slice(&[digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]);
    }
    out
}
