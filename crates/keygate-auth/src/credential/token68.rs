//! RFC 7235 `token68` and the `Authorization: Bearer` form of RFC 6750 § 2.1.
//!
//! ```text
//! credentials = auth-scheme [ 1*SP ( token68 / … ) ]
//! token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! auth-scheme = token  ; compared case-insensitively
//! ```

use super::CredentialError;

/// `TOKEN68[b]`: whether byte `b` may appear in the body of a `token68`
/// (before any trailing `=`). A table, because every request's key goes
/// through this check byte by byte.
const TOKEN68: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < table.len() {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// Whether `b` may appear in the body of a `token68` (before any trailing `=`).
fn is_token68_char(b: u8) -> bool {
    TOKEN68[usize::from(b)]
}

/// [`is_token68_char`] in comparisons rather than a table look-up, which a
/// loop over many bytes turns into vector instructions.
fn in_token68_body(b: u8) -> bool {
    let lower = b | 0x20;
    (lower.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// Whether `b` is an RFC 9110 `tchar`, the alphabet of an auth scheme.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether `s` is a `token68`: at least one body character, then only `=`.
pub(crate) fn is_token68(s: &str) -> bool {
    let bytes = s.as_bytes();
    let body = bytes
        .iter()
        .position(|&b| !is_token68_char(b))
        .unwrap_or(bytes.len());
    body > 0 && bytes[body..].iter().all(|&b| b == b'=')
}

/// Reads the token out of an `Authorization` header value.
///
/// The value's surrounding whitespace is not part of the field (RFC 9110
/// § 5.5), so it is trimmed; between scheme and token one or more spaces are
/// allowed. A scheme other than `Bearer` is [`CredentialError::UnsupportedScheme`],
/// which RFC 6750 § 3.1 answers without an error code.
pub(crate) fn parse_bearer(value: &[u8]) -> Result<&str, CredentialError> {
    match plain_bearer(value) {
        Some(token) => Ok(token),
        None => parse_bearer_in_full(value),
    }
}

/// The common form, `Bearer <token68>` with one space and nothing around it,
/// in one pass over the bytes; `None` for anything else, which
/// [`parse_bearer_in_full`] then reads (and agrees on: a proptest checks).
fn plain_bearer(value: &[u8]) -> Option<&str> {
    let (scheme, token) = value.split_at_checked(b"Bearer ".len())?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    // The body is what precedes the trailing `=`s; checked without an early
    // exit, so that the compiler checks many bytes per instruction (a token
    // is up to a kilobyte, on every request).
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    if body.is_empty() || !body.iter().fold(true, |ok, &b| ok & in_token68_body(b)) {
        return None;
    }
    // Only ASCII bytes passed the checks: this cannot fail.
    std::str::from_utf8(token).ok()
}

/// [`parse_bearer`] for every form the grammar allows, with a precise error.
fn parse_bearer_in_full(value: &[u8]) -> Result<&str, CredentialError> {
    if !value.is_ascii() {
        return Err(CredentialError::NotAscii);
    }
    let value = std::str::from_utf8(value).map_err(|_| CredentialError::NotAscii)?;
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = match value.find(' ') {
        Some(at) => (&value[..at], &value[at..]),
        None => (value, ""),
    };
    if scheme.is_empty() || !scheme.bytes().all(is_tchar) {
        return Err(CredentialError::MalformedScheme);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(CredentialError::UnsupportedScheme);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(CredentialError::MissingToken);
    }
    if !is_token68(token) {
        return Err(CredentialError::NotToken68);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_two_token68_alphabets_agree_on_every_byte() {
        for b in 0..=u8::MAX {
            assert_eq!(in_token68_body(b), is_token68_char(b), "byte {b}");
        }
    }

    proptest! {
        #[test]
        fn the_plain_form_reads_as_the_full_grammar_does(
            value in "([Bb][Ee][Aa][Rr][Ee][Rr] )?[ -~\t]{0,40}",
        ) {
            if let Some(token) = plain_bearer(value.as_bytes()) {
                prop_assert_eq!(parse_bearer_in_full(value.as_bytes()), Ok(token));
            }
        }

        #[test]
        fn near_tokens_read_alike_on_both_paths(
            value in "[Bb][Ee][Aa][Rr][Ee][Rr][ \t]{0,2}[A-Za-z0-9._~+/= -]{0,40}",
        ) {
            if let Some(token) = plain_bearer(value.as_bytes()) {
                prop_assert_eq!(parse_bearer_in_full(value.as_bytes()), Ok(token));
            }
        }
    }

    #[test]
    fn accepts_the_documented_forms() {
        for (header, token) in [
            ("Bearer sk_abc", "sk_abc"),
            ("bearer sk_abc", "sk_abc"),
            ("BEARER sk_abc", "sk_abc"),
            ("Bearer    sk_abc", "sk_abc"),
            ("Bearer sk_abc  ", "sk_abc"),
            ("Bearer a-b.c_d~e+f/g==", "a-b.c_d~e+f/g=="),
        ] {
            assert_eq!(parse_bearer(header.as_bytes()), Ok(token), "{header}");
        }
    }

    #[test]
    fn tells_each_fault_apart() {
        use CredentialError::*;
        for (header, err) in [
            ("Basic dXNlcjpwYXNz", UnsupportedScheme),
            ("Token sk_abc", UnsupportedScheme),
            ("Bearer", MissingToken),
            ("Bearer   ", MissingToken),
            ("", MalformedScheme),
            ("Bea(rer sk", MalformedScheme),
            ("Bearer sk abc", NotToken68),
            ("Bearer =abc", NotToken68),
            ("Bearer ab=c", NotToken68),
            ("Bearer sk\tabc", NotToken68),
            ("Bearer \"sk\"", NotToken68),
        ] {
            assert_eq!(parse_bearer(header.as_bytes()), Err(err), "{header:?}");
        }
        assert_eq!(parse_bearer(b"Bearer sk_\xff"), Err(NotAscii));
        assert_eq!(parse_bearer("Bearer sk_é".as_bytes()), Err(NotAscii));
    }

    /// The grammar transcribed as plainly as possible, to check the parser against.
    // Written differently from the parser on purpose (no shared helpers).
    #[allow(clippy::manual_ignore_case_cmp)]
    fn reference(header: &str) -> Option<String> {
        const TCHAR: &str = "!#$%&'*+-.^_`|~";
        const T68: &str = "-._~+/";
        let trimmed = header.trim_matches(|c| c == ' ' || c == '\t');
        let mut parts = trimmed.splitn(2, ' ');
        let scheme = parts.next()?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || TCHAR.contains(c))
            || scheme.to_ascii_lowercase() != "bearer"
        {
            return None;
        }
        let token = parts.next()?.trim_start_matches(' ');
        let body = token.trim_end_matches('=');
        let ok = !body.is_empty()
            && body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || T68.contains(c));
        ok.then(|| token.to_owned())
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference_grammar(
            scheme in "(?i:bearer|basic|be@rer|)",
            gap in " {0,3}",
            token in "[A-Za-z0-9._~+/=\\- \t\"é]{0,20}",
            pad in "[ \t]{0,2}",
        ) {
            let header = format!("{pad}{scheme}{gap}{token}{pad}");
            let ours = parse_bearer(header.as_bytes()).ok().map(str::to_owned);
            prop_assert_eq!(ours, reference(&header), "header {:?}", header);
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_bearer(&bytes);
        }

        #[test]
        fn token68_agrees_with_reference(s in "[A-Za-z0-9._~+/=\\- ]{0,12}") {
            let body = s.trim_end_matches('=');
            let expected = !body.is_empty()
                && body.chars().all(|c| c.is_ascii_alphanumeric() || "-._~+/".contains(c));
            prop_assert_eq!(is_token68(&s), expected);
        }
    }
}
