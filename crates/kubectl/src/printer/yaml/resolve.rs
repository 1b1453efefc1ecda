//! What go-yaml v2 decides before emitting: whether a string read back as a plain scalar
//! would turn into another type (and so must be quoted), the order of map keys, and how
//! numbers are spelled.

use std::cmp::Ordering;

/// Whether `s`, written without quotes, would be read back as something other than a
/// string (null, bool, int, float, timestamp, merge key) or as a YAML 1.1 base-60 float.
/// Such strings are written double-quoted.
pub fn needs_quotes(s: &str) -> bool {
    !matches!(resolve_plain(s), Plain::Str) || is_base60_float(s)
}

/// What a plain scalar means to go-yaml v2. One place decides it, so that manifests
/// are read and objects printed by the same YAML 1.1 rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plain {
    Null,
    Bool(bool),
    Int(serde_json::Number),
    Float(f64),
    Timestamp,
    Str,
}

/// go-yaml's `resolve("", s)`.
pub(crate) fn resolve_plain(s: &str) -> Plain {
    let first = match s.as_bytes().first() {
        None => return Plain::Null,
        Some(b) => *b,
    };
    let hint = match first {
        b'+' | b'-' => 'S',
        b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return Plain::Str,
    };
    if let Some(p) = by_table(s) {
        return p;
    }
    match hint {
        'M' => Plain::Str,
        '.' if is_dot_float(s) => Plain::Float(s.parse().unwrap_or_default()),
        '.' => Plain::Str,
        _ => {
            if parse_timestamp(s) {
                return Plain::Timestamp;
            }
            let plain: String = s.chars().filter(|c| *c != '_').collect();
            if let Some(n) = parse_go_int(&plain) {
                return Plain::Int(n);
            }
            if is_yaml_float(&plain) {
                return Plain::Float(plain.parse().unwrap_or_default());
            }
            Plain::Str
        }
    }
}

/// The fixed spellings go-yaml v2 resolves by table lookup.
fn by_table(s: &str) -> Option<Plain> {
    Some(match s {
        "~" | "null" | "Null" | "NULL" => Plain::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Plain::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Plain::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" => Plain::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Plain::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Plain::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// Go's `strconv.ParseFloat` succeeding on a string starting with `.`: only `.digits`
/// with an optional exponent.
fn is_dot_float(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('.') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let exp = &rest[digits..];
    exp.is_empty() || is_exponent(exp)
}

/// `[eE][-+]?[0-9]+`.
fn is_exponent(s: &str) -> bool {
    let Some(rest) = s.strip_prefix(['e', 'E']) else {
        return false;
    };
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` whose value is finite (Go's
/// ParseFloat fails on overflow).
fn is_yaml_float(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let int_digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let mut rest = &body[int_digits..];
    if int_digits == 0 {
        let Some(r) = rest.strip_prefix('.') else {
            return false;
        };
        let frac = r.bytes().take_while(u8::is_ascii_digit).count();
        if frac == 0 {
            return false;
        }
        rest = &r[frac..];
    } else if let Some(r) = rest.strip_prefix('.') {
        let frac = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[frac..];
    }
    if !(rest.is_empty() || is_exponent(rest)) {
        return false;
    }
    s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`: an optional sign
/// (ParseInt only), then `0x`/`0o`/`0b` or a leading `0` for octal, else decimal.
fn parse_go_int(s: &str) -> Option<serde_json::Number> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        // `1 << 63` wraps to i64::MIN, which is what it negates to.
        (mag <= 1u64 << 63).then(|| (mag as i64).wrapping_neg().into())
    } else if mag <= i64::MAX as u64 || !s.starts_with('+') {
        // ParseUint takes what ParseInt cannot, but only without a sign.
        Some(mag.into())
    } else {
        None
    }
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    if !s.contains(':') {
        return false;
    }
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) && i - start < 2 {
            i += 1;
        }
        let n = &s[start..i];
        let ok = match n.len() {
            1 => true,
            2 => n.as_bytes()[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v2's timestamp check: `YYYY-` and then one of the layouts
/// `2006-1-2T15:4:5.999999999Z07:00` (also with `t`), `2006-1-2 15:4:5.999999999` or
/// `2006-1-2`, as Go's `time.Parse` accepts them.
fn parse_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year: i64 = s[..4].parse().unwrap_or(0);
    let mut p = Parser { b, i: 5 };
    let Some(month) = p.num(1, 12) else {
        return false;
    };
    if !p.lit(b'-') {
        return false;
    }
    let Some(day) = p.num(1, 31) else {
        return false;
    };
    if day > days_in(month, year) {
        return false;
    }
    if p.done() {
        return true;
    }
    let zoned = match p.peek() {
        Some(b'T' | b't') => true,
        Some(b' ') => false,
        _ => return false,
    };
    p.i += 1;
    if !zoned {
        // A layout space matches a run of spaces.
        while p.peek() == Some(b' ') {
            p.i += 1;
        }
    }
    if p.num(0, 23).is_none() || !p.lit(b':') || p.num(0, 59).is_none() || !p.lit(b':') {
        return false;
    }
    if p.num(0, 59).is_none() {
        return false;
    }
    if matches!(p.peek(), Some(b'.' | b',')) && p.b.get(p.i + 1).is_some_and(u8::is_ascii_digit) {
        p.i += 1;
        while p.peek().is_some_and(|c| c.is_ascii_digit()) {
            p.i += 1;
        }
    }
    if !zoned {
        return p.done();
    }
    if p.lit(b'Z') {
        return p.done();
    }
    let rest = &b[p.i..];
    rest.len() == 6
        && matches!(rest[0], b'+' | b'-')
        && rest[1].is_ascii_digit()
        && rest[2].is_ascii_digit()
        && rest[3] == b':'
        && rest[4].is_ascii_digit()
        && rest[5].is_ascii_digit()
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn lit(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Go's `getnum(s, false)`: one or two digits, then a range check.
    fn num(&mut self, min: i64, max: i64) -> Option<i64> {
        let d1 = self.peek().filter(u8::is_ascii_digit)?;
        self.i += 1;
        let mut n = i64::from(d1 - b'0');
        if let Some(d2) = self.peek().filter(u8::is_ascii_digit) {
            self.i += 1;
            n = n * 10 + i64::from(d2 - b'0');
        }
        (min..=max).contains(&n).then_some(n)
    }
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// go-yaml v2's map key order: letters sort after other characters, and runs of digits
/// compare by numeric value, so `a2` comes before `a10`.
pub fn key_order(a: &str, b: &str) -> Ordering {
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            // A zero inside a number that started earlier counts as part of it.
            let earlier_nonzero = ar[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .any(|c| *c != '0');
            if earlier_nonzero {
                an = 1;
                bn = 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// A JSON number as it reaches the YAML output: kubectl writes it as Go's JSON does
/// (integral values below 1e21 without a fraction) and go-yaml reads that back as an int
/// when it fits 64 bits, else as a float printed with `%g`'s shortest form.
pub fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f >= i64::MIN as f64 && f < i64::MAX as f64 {
            return (f as i64).to_string();
        }
        if f >= 0.0 && f < u64::MAX as f64 {
            return (f as u64).to_string();
        }
    }
    format_g(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's -1 precision.
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if f < 0.0 { "-" } else { "" };
    // Shortest %g switches to the exponent form below 1e-4 and from 1e6 on.
    if !(-4..6).contains(&exp) {
        return format!("{sign}{}", e_form(&digits, exp));
    }
    format!("{sign}{}", f_form(&digits, exp))
}

fn e_form(digits: &str, exp: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let mant = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

/// The digits placed around the decimal point (no exponent).
fn f_form(digits: &str, exp: i32) -> String {
    let nd = digits.len() as i32;
    let dp = exp + 1;
    if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}
