//! Numbers for people: the one formatter every table, message and page
//! uses. A missing value prints as `-`; a non-finite one as what it is
//! (`inf`, `-inf`, `NaN`), never as a made-up number.

/// `v` with `prec` decimals.
pub fn fixed(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.prec$}"),
        Some(x) => format!("{x}"),
        None => "-".into(),
    }
}

/// Up to 6 significant digits without trailing zeros, exponent form when
/// very large or small (messages, the HTML page).
pub fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
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
        assert_eq!(significant(1.5e-7), "1.50000e-7");
    }
}
