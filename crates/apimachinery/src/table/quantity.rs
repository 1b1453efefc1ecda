//! Canonical rendering of `resource.Quantity` strings.
//!
//! Upstream printers call `Quantity.String()` on a parsed quantity, which
//! yields the *canonical* form (`1024Mi` -> `1Gi`, `1000m` -> `1`, `0.5` ->
//! `500m`, `1000` -> `1k`) unless the input was already canonical, in which
//! case the original text is kept. Objects stored by rkube may still carry
//! the user's spelling, so PV/PVC capacity, ResourceQuota and HPA cells
//! re-canonicalize here to match a real cluster byte for byte.
//!
//! Values are held as `mantissa * 10^exponent` in `i128`, which covers every
//! quantity that fits upstream's int64 fast path and virtually all others;
//! anything larger falls back to the caller's original text.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    DecimalExponent,
    BinarySi,
    DecimalSi,
}

/// Returns the string upstream's `Quantity.String()` would produce for a
/// quantity parsed from `s`, or `None` if `s` is not a valid quantity (or
/// exceeds what this implementation can represent exactly).
pub fn canonical_quantity(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some("0".to_string());
    }
    let parts = parse_quantity_string(s)?;
    let (base, exponent, format) = interpret_suffix(parts.suffix)?;

    // Upstream's int64 fast path: decides whether the original text is kept
    // verbatim (already canonical) and otherwise produces the same numeric
    // value as the slow path below.
    let mut precision: i64 = -1;
    let mut scale: i64 = 0;
    let mut mantissa: i64 = 1;
    match format {
        Format::DecimalExponent | Format::DecimalSi => {
            scale = i64::from(exponent);
            precision = 18 - (parts.num.len() + parts.denom.len()) as i64;
        }
        Format::BinarySi => {
            if exponent >= 0 && parts.denom.is_empty() {
                mantissa = 1i64.checked_shl(u32::try_from(exponent).ok()?)?;
                // Go: int32(float32(exponent)*3/10)
                let approx = ((exponent as f32) * 3.0 / 10.0) as i64;
                precision = 15 - parts.num.len() as i64 - approx - 1;
            }
        }
    }
    if precision >= 0 {
        scale -= parts.denom.len() as i64;
        if scale >= -9 {
            let shifted = format!("{}{}", parts.num, parts.denom);
            let value: i64 = shifted.parse().ok()?;
            if let Some(result) = value.checked_mul(mantissa) {
                let result = if parts.positive { result } else { -result };
                let cached = match format {
                    Format::BinarySi => exponent % 10 == 0 && (value & 0x07) != 0,
                    _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
                };
                if cached {
                    return Some(s.to_string());
                }
                return Some(canonicalize(
                    Amount {
                        m: i128::from(result),
                        e: i32::try_from(scale).ok()?,
                    },
                    format,
                ));
            }
        }
    }

    // Slow path (upstream: inf.Dec arithmetic).
    let mut amount = parse_decimal(parts.value)?;
    if base == 10 {
        amount.e = amount.e.checked_add(exponent)?;
    } else {
        let factor = 1i128.checked_shl(u32::try_from(exponent).ok()?)?;
        amount.m = amount.m.checked_mul(factor)?;
    }
    let negative = amount.m < 0;
    amount.m = amount.m.abs();
    // Round non-zero values up (away from zero) to nano precision.
    if amount.m != 0 && amount.e < -9 {
        let shift = -9 - amount.e;
        amount.m = if shift > 38 {
            1
        } else {
            let div = 10i128.pow(u32::try_from(shift).ok()?);
            let q = amount.m / div;
            if amount.m % div != 0 {
                q + 1
            } else {
                q
            }
        };
        amount.e = -9;
    }
    let mut format = format;
    let max = Amount {
        m: i128::from(i64::MAX),
        e: 0,
    };
    if format == Format::BinarySi && amount.cmp_amount(&max) == std::cmp::Ordering::Greater {
        amount = max;
    }
    let one = Amount { m: 1, e: 0 };
    if format == Format::BinarySi && amount.m > 0 && amount.cmp_amount(&one).is_lt() {
        format = Format::DecimalSi;
    }
    if negative {
        amount.m = -amount.m;
    }
    Some(canonicalize(amount, format))
}

/// Like [`canonical_quantity`] but never fails: unparsable input is shown
/// as-is, which is the most useful thing to print for a malformed value that
/// somehow got stored.
pub(crate) fn quantity_string(s: &str) -> String {
    canonical_quantity(s).unwrap_or_else(|| s.to_string())
}

/// `mantissa * 10^exponent`.
#[derive(Clone, Copy, Debug)]
struct Amount {
    m: i128,
    e: i32,
}

impl Amount {
    fn cmp_amount(&self, other: &Amount) -> std::cmp::Ordering {
        // Bring both to the smaller exponent; on overflow the side that had
        // to be scaled up is larger in magnitude.
        let e = self.e.min(other.e);
        let a = scale_up(self.m, self.e - e);
        let b = scale_up(other.m, other.e - e);
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (None, Some(_)) => {
                if self.m < 0 {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            }
            (Some(_), None) => {
                if other.m < 0 {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            }
            (None, None) => std::cmp::Ordering::Equal,
        }
    }

    /// Integer value if it is exact (upstream `AsScale(0)` with
    /// `exact == true`).
    fn as_exact_integer(&self) -> Option<i128> {
        if self.e >= 0 {
            return scale_up(self.m, self.e);
        }
        let shift = u32::try_from(-self.e).ok()?;
        if shift > 38 {
            return if self.m == 0 { Some(0) } else { None };
        }
        let div = 10i128.pow(shift);
        if self.m % div == 0 {
            Some(self.m / div)
        } else {
            None
        }
    }
}

fn scale_up(m: i128, by: i32) -> Option<i128> {
    if by <= 0 {
        return Some(m);
    }
    if m == 0 {
        return Some(0);
    }
    let p = 10i128.checked_pow(u32::try_from(by).ok()?)?;
    m.checked_mul(p)
}

/// Upstream `CanonicalizeBytes`.
fn canonicalize(q: Amount, format: Format) -> String {
    if q.m == 0 {
        return "0".to_string();
    }
    let mut format = format;
    let mut rounded = 0i128;
    if format == Format::BinarySi {
        let lo = Amount { m: -1024, e: 0 };
        let hi = Amount { m: 1024, e: 0 };
        if q.cmp_amount(&lo).is_gt() && q.cmp_amount(&hi).is_lt() {
            format = Format::DecimalSi;
        } else {
            match q.as_exact_integer() {
                Some(v) => rounded = v,
                None => format = Format::DecimalSi,
            }
        }
    }
    match format {
        Format::DecimalExponent | Format::DecimalSi => {
            let (number, exponent) = canonical_base10(q);
            let suffix = match format {
                Format::DecimalExponent => {
                    if exponent == 0 {
                        String::new()
                    } else {
                        format!("e{exponent}")
                    }
                }
                _ => decimal_si_suffix(exponent).to_string(),
            };
            format!("{number}{suffix}")
        }
        Format::BinarySi => {
            let (mut v, mut times) = (rounded, 0u32);
            while v.abs() >= 1024 && v % 1024 == 0 {
                v /= 1024;
                times += 1;
            }
            let suffix = match times {
                1 => "Ki",
                2 => "Mi",
                3 => "Gi",
                4 => "Ti",
                5 => "Pi",
                6 => "Ei",
                _ => "",
            };
            format!("{v}{suffix}")
        }
    }
}

/// Removes factors of ten from the mantissa, then lowers the exponent to a
/// multiple of three (upstream `AsCanonicalBytes`).
fn canonical_base10(q: Amount) -> (String, i32) {
    let mut m = q.m;
    let mut e = q.e;
    while m.abs() >= 10 && m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    // Work in strings so the final multiply by 10/100 cannot overflow.
    let mut digits = m.to_string();
    while e % 3 != 0 {
        digits.push('0');
        e -= 1;
    }
    (digits, e)
}

fn decimal_si_suffix(exponent: i32) -> &'static str {
    match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => "",
    }
}

struct QuantityParts<'a> {
    positive: bool,
    value: &'a str,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

/// Port of upstream `parseQuantityString`: splits sign, integer digits,
/// fraction digits and suffix.
fn parse_quantity_string(s: &str) -> Option<QuantityParts<'_>> {
    let b = s.as_bytes();
    let end = b.len();
    let mut positive = true;
    let mut pos = 0;
    if pos < end {
        match b[0] {
            b'-' => {
                positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    // strip leading zeros
    loop {
        if pos >= end {
            return Some(QuantityParts {
                positive,
                value: "0",
                num: "0",
                denom: "",
                suffix: "",
            });
        }
        if b[pos] == b'0' {
            pos += 1;
        } else {
            break;
        }
    }
    // numerator
    let num_start = pos;
    let mut i = pos;
    while i < end && b[i].is_ascii_digit() {
        i += 1;
    }
    if i >= end {
        return Some(QuantityParts {
            positive,
            value: s,
            num: &s[num_start..],
            denom: "",
            suffix: "",
        });
    }
    let mut num = &s[num_start..i];
    pos = i;
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let d_start = pos;
        let mut j = pos;
        while j < end && b[j].is_ascii_digit() {
            j += 1;
        }
        if j >= end {
            return Some(QuantityParts {
                positive,
                value: s,
                num,
                denom: &s[d_start..],
                suffix: "",
            });
        }
        denom = &s[d_start..j];
        pos = j;
    }
    let value = &s[..pos];
    let suffix_start = pos;
    let mut k = pos;
    while k < end && b"eEinumkKMGTP".contains(&b[k]) {
        k += 1;
    }
    if k >= end {
        return Some(QuantityParts {
            positive,
            value,
            num,
            denom,
            suffix: &s[suffix_start..],
        });
    }
    pos = k;
    if b[pos] == b'-' || b[pos] == b'+' {
        pos += 1;
    }
    let mut l = pos;
    while l < end && b[l].is_ascii_digit() {
        l += 1;
    }
    if l >= end {
        return Some(QuantityParts {
            positive,
            value,
            num,
            denom,
            suffix: &s[suffix_start..],
        });
    }
    None
}

/// Upstream `quantitySuffixer.interpret`: (base, exponent, format).
fn interpret_suffix(suffix: &str) -> Option<(i32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSi));
    let bin = |e| Some((2, e, Format::BinarySi));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            if rest.is_empty() {
                return None;
            }
            let parsed: i64 = rest.parse().ok()?;
            // Go truncates with int32(parsed).
            Some((10, parsed as i32, Format::DecimalExponent))
        }
    }
}

/// Parses `[+-]digits[.digits]` (the `value` part) like `inf.Dec.SetString`.
fn parse_decimal(v: &str) -> Option<Amount> {
    let (neg, body) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let (int_part, frac_part) = match body.find('.') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let m: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let e = -i32::try_from(frac_part.len()).ok()?;
    Some(Amount {
        m: if neg { -m } else { m },
        e,
    })
}

#[cfg(test)]
mod tests {
    use super::canonical_quantity as q;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("0", "0"),
            ("00", "0"),
            ("1", "1"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1000m", "1"),
            ("500m", "500m"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("0.1", "100m"),
            ("100Mi", "100Mi"),
            ("1024Mi", "1Gi"),
            ("1Gi", "1Gi"),
            ("10Gi", "10Gi"),
            ("8Gi", "8Gi"),
            ("512Ki", "512Ki"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1Ki", "1Ki"),
            ("1000Ki", "1000Ki"),
            ("100", "100"),
            ("2k", "2k"),
            ("2000k", "2M"),
            ("1e3", "1e3"),
            ("1e4", "10e3"),
            ("1E6", "1E6"),
            ("123456789", "123456789"),
            ("5G", "5G"),
            ("1.5G", "1500M"),
            ("-1", "-1"),
            ("-1500m", "-1500m"),
            ("100n", "100n"),
            ("0.0000000001", "1n"),
            ("1Ei", "1Ei"),
            ("1Pi", "1Pi"),
            ("4096", "4096"),
            ("1M", "1M"),
            ("250m", "250m"),
            ("1Mi", "1Mi"),
            ("129e6", "129e6"),
            ("1200e6", "1200e6"),
            ("1000e6", "1e9"),
            ("64Mi", "64Mi"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).as_deref(), Some(want), "input {input}");
        }
    }

    #[test]
    fn invalid() {
        assert_eq!(q(""), None);
        assert_eq!(q("abc"), None);
        assert_eq!(q("1Gb"), None);
        assert_eq!(q("1.2.3"), None);
    }
}
