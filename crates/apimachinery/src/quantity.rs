//! `resource.Quantity` values as numbers: what the scheduler, the kubelet and quota need to
//! add and compare requests (`100m`, `1.5`, `64Mi`, `1e3`, `2G`).

/// The quantity in thousandths (`"250m"` → 250, `"2"` → 2000, `"1Ki"` → 1_024_000), or
/// `None` when `s` is not a valid quantity. Fractions below a thousandth round up, as
/// upstream's `MilliValue` does.
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (sign, body) = match s.as_bytes()[0] {
        b'-' => (-1i128, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    // value = digits * 10^(exp10) * 2^(exp2)
    let digits: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        e if e.starts_with(['e', 'E']) => exp10 += e[1..].parse::<i32>().ok()?,
        _ => return None,
    }
    // Milli: one more factor of 10^3.
    exp10 += 3;
    let mut v = digits.checked_mul(1i128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        v = v.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        let d = 10i128.checked_pow((-exp10) as u32)?;
        v = (v + d - 1) / d;
    }
    Some(sign * v)
}

/// The quantity as a whole number, rounded up (`"1.5"` → 2, `"64Mi"` → 67108864).
pub fn parse_value(s: &str) -> Option<i128> {
    let m = parse_milli(s)?;
    Some(if m >= 0 { (m + 999) / 1000 } else { m / 1000 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_suffix() {
        assert_eq!(parse_milli("250m"), Some(250));
        assert_eq!(parse_milli("2"), Some(2000));
        assert_eq!(parse_milli("0.5"), Some(500));
        assert_eq!(parse_milli("1Ki"), Some(1_024_000));
        assert_eq!(parse_value("64Mi"), Some(64 << 20));
        assert_eq!(parse_value("1G"), Some(1_000_000_000));
        assert_eq!(parse_value("1e3"), Some(1000));
        assert_eq!(parse_value("1.5"), Some(2));
        assert_eq!(parse_milli("0.0001"), Some(1));
        assert_eq!(parse_milli("-1"), Some(-1000));
        for bad in ["", "m", "1x", "1..2", "Mi", "1 Mi"] {
            assert_eq!(parse_milli(bad), None, "{bad}");
        }
    }
}
