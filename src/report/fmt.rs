//! Numbers for people: the one formatter every table, message and page
//! uses. A missing value prints as `-`; a non-finite one as what it is
//! (`inf`, `-inf`, `NaN`), never as a made-up number. A value that rounds
//! to zero prints without a sign (`0.000`, never `-0.000`), and exponent
//! forms have a signed two-digit exponent so a column keeps its width.

/// `v` with `prec` decimals.
pub fn fixed(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => unsigned_zero(format!("{x:.prec$}")),
        Some(x) => format!("{x}"),
        None => "-".into(),
    }
}

/// `v` in exponent form with `prec` decimals and a signed two-digit
/// exponent (`3.659e-01`, `1.270e+00`), so every value of a column has
/// the same width.
pub fn sci(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let s = format!("{x:.prec$e}");
            let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            unsigned_zero(format!("{mant}e{sign}{digits:0>2}"))
        }
        Some(x) => format!("{x}"),
        None => "-".into(),
    }
}

/// `-0.000` → `0.000`: a sign on a printed zero says nothing.
fn unsigned_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| matches!(c, '0' | '.')) => rest.to_string(),
        Some(rest)
            if rest
                .split_once('e')
                .is_some_and(|(m, _)| m.chars().all(|c| matches!(c, '0' | '.'))) =>
        {
            rest.to_string()
        }
        _ => s,
    }
}

/// `n` followed by `one` or `many` as `n` asks (`1 matrix`, `2 matrices`).
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Up to 6 significant digits without trailing zeros, exponent form when
/// very large or small (messages, the HTML page).
pub fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{}", if x == 0.0 { 0.0 } else { x });
    }
    let a = x.abs();
    if (1e-4..1e6).contains(&a) {
        let digits = (5 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.5e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_finite_values_are_shown_as_such() {
        assert_eq!(fixed(None, 3), "-");
        assert_eq!(fixed(Some(f64::INFINITY), 3), "inf");
        assert_eq!(fixed(Some(f64::NAN), 3), "NaN");
        assert_eq!(fixed(Some(1.23456), 2), "1.23");
        assert_eq!(significant(2.0610822), "2.06108");
        assert_eq!(significant(0.0), "0");
        assert_eq!(significant(-0.0), "0");
        assert_eq!(significant(1.5e-7), "1.50000e-7");
    }

    #[test]
    fn zeros_have_no_sign_and_exponents_a_fixed_width() {
        assert_eq!(fixed(Some(-0.0), 1), "0.0");
        assert_eq!(fixed(Some(-0.0004), 3), "0.000");
        assert_eq!(fixed(Some(-0.0006), 3), "-0.001");
        assert_eq!(sci(Some(1.27), 3), "1.270e+00");
        assert_eq!(sci(Some(0.3659), 3), "3.659e-01");
        assert_eq!(sci(Some(-2.5e-12), 1), "-2.5e-12");
        assert_eq!(sci(Some(-0.0), 3), "0.000e+00");
        assert_eq!(sci(None, 3), "-");
        assert_eq!(plural(1, "matrix", "matrices"), "1 matrix");
        assert_eq!(plural(0, "matrix", "matrices"), "0 matrices");
    }
}
