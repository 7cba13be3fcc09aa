//! The five ways a `check` result is written: a human summary naming each
//! violation, JSON (the `CheckReport` struct), JUnit XML (one `testsuite`
//! per rule, one `testcase` per rule × matrix), SARIF 2.1.0 for
//! code-scanning pages (one result per violation or skipped check), and
//! GitHub Actions annotation lines pointing at the rule's line in the
//! config file.

use super::eval::{CheckReport, Status};
use std::io::Write;

/// The human summary: one line per rule, then one indented line per
/// violation (and per skipped check), then the totals.
pub fn write_human(r: &CheckReport, mut w: impl Write) -> std::io::Result<()> {
    let base = r
        .baseline
        .as_deref()
        .map_or(String::new(), |b| format!(" (baseline {b})"));
    writeln!(w, "specscope check: {} against {}{base}", r.input, r.config)?;
    for rule in &r.rules {
        let tag = match rule.status {
            Status::Fail => "FAIL",
            _ => "PASS",
        };
        let on = match rule.scope {
            super::config::Scope::Model => "the model".to_string(),
            super::config::Scope::Matrix => {
                let n = rule
                    .checks
                    .iter()
                    .filter(|c| c.subject != "(selection)")
                    .count();
                format!("{n} matri{}", if n == 1 { "x" } else { "ces" })
            }
        };
        let mut tail = String::new();
        if rule.violations > 0 {
            tail += &format!(
                ": {} violation{}",
                rule.violations,
                if rule.violations == 1 { "" } else { "s" }
            );
        }
        if rule.skipped > 0 {
            tail += &format!(", {} skipped", rule.skipped);
        }
        writeln!(
            w,
            "{tag}  {} (line {}): {} on {on}{tail}",
            rule.name, rule.line, rule.condition
        )?;
        for c in rule.checks.iter().filter(|c| c.status != Status::Pass) {
            let mark = if c.status == Status::Skip {
                "skipped "
            } else {
                ""
            };
            writeln!(w, "      {mark}{}: {}", c.subject, c.message)?;
        }
    }
    let c = &r.counts;
    writeln!(
        w,
        "{} rule{}: {} passed, {} failed ({} violation{} in {} check{}, {} skipped)",
        c.rules,
        if c.rules == 1 { "" } else { "s" },
        c.rules - c.rules_failed,
        c.rules_failed,
        c.violations,
        if c.violations == 1 { "" } else { "s" },
        c.checks,
        if c.checks == 1 { "" } else { "s" },
        c.skipped
    )
}

pub fn write_json(r: &CheckReport, mut w: impl Write) -> Result<(), crate::report::ReportError> {
    serde_json::to_writer_pretty(&mut w, r)?;
    writeln!(w)?;
    Ok(())
}

/// XML 1.0 text and attribute escaping; characters XML 1.0 cannot hold
/// (most C0 controls) become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: `<testsuites>` with one `<testsuite>` per rule (named after
/// it) and one `<testcase>` per checked matrix (`name` = the matrix, or
/// `model`; `classname` = `specscope.check.<rule>`), with a `<failure>`
/// or `<skipped>` child when it did not pass. `file` and `line` point at
/// the rule in the config.
pub fn write_junit(r: &CheckReport, mut w: impl Write) -> std::io::Result<()> {
    let c = &r.counts;
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<testsuites name="specscope check" tests="{}" failures="{}" errors="0" skipped="{}">"#,
        c.checks, c.violations, c.skipped
    )?;
    for rule in &r.rules {
        writeln!(
            w,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="{}">"#,
            xml_escape(&rule.name),
            rule.checks.len(),
            rule.violations,
            rule.skipped
        )?;
        writeln!(w, "    <properties>")?;
        for (k, v) in [
            ("kind", rule.kind.to_string()),
            ("condition", rule.condition.clone()),
            ("input", r.input.clone()),
        ] {
            writeln!(
                w,
                r#"      <property name="{k}" value="{}"/>"#,
                xml_escape(&v)
            )?;
        }
        writeln!(w, "    </properties>")?;
        for check in &rule.checks {
            let open = format!(
                r#"    <testcase classname="specscope.check.{}" name="{}" file="{}" line="{}""#,
                xml_escape(&rule.name),
                xml_escape(&check.subject),
                xml_escape(&r.config),
                rule.line
            );
            match check.status {
                Status::Pass => writeln!(w, "{open}/>")?,
                Status::Fail => {
                    writeln!(w, "{open}>")?;
                    writeln!(
                        w,
                        r#"      <failure type="{}" message="{}">{}</failure>"#,
                        rule.kind,
                        xml_escape(&check.message),
                        xml_escape(&format!("{}: {}", rule.condition, check.message))
                    )?;
                    writeln!(w, "    </testcase>")?;
                }
                Status::Skip => {
                    writeln!(w, "{open}>")?;
                    writeln!(
                        w,
                        r#"      <skipped message="{}"/>"#,
                        xml_escape(&check.message)
                    )?;
                    writeln!(w, "    </testcase>")?;
                }
            }
        }
        writeln!(w, "  </testsuite>")?;
    }
    writeln!(w, "</testsuites>")
}

/// SARIF 2.1.0 (OASIS): one run whose driver lists every rule (its
/// condition as the short description), and one result per violation
/// (`level` error, `kind` fail) or skipped check (`kind` notApplicable,
/// `level` none), located at the rule's line in the config file. Passing
/// checks are counted in the run's properties, not listed.
pub fn write_sarif(r: &CheckReport, mut w: impl Write) -> Result<(), crate::report::ReportError> {
    use serde_json::json;
    let rules: Vec<_> = r
        .rules
        .iter()
        .map(|rule| {
            json!({
                "id": rule.name,
                "name": rule.name,
                "shortDescription": { "text": rule.condition },
                "properties": { "kind": rule.kind, "line": rule.line },
            })
        })
        .collect();
    let mut results = Vec::new();
    for (index, rule) in r.rules.iter().enumerate() {
        for c in rule.checks.iter().filter(|c| c.status != Status::Pass) {
            let (level, kind) = match c.status {
                Status::Fail => ("error", "fail"),
                _ => ("none", "notApplicable"),
            };
            let mut physical = json!({ "artifactLocation": { "uri": r.config } });
            if rule.line > 0 {
                physical["region"] = json!({ "startLine": rule.line });
            }
            results.push(json!({
                "ruleId": rule.name,
                "ruleIndex": index,
                "level": level,
                "kind": kind,
                "message": { "text": format!("{}: {} ({})", c.subject, c.message, rule.condition) },
                "locations": [{ "physicalLocation": physical }],
                "properties": { "subject": c.subject, "value": c.value, "baseline": c.baseline },
            }));
        }
    }
    let c = &r.counts;
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "specscope",
                "version": r.tool.version,
                "rules": rules,
            }},
            "invocations": [{ "executionSuccessful": true }],
            "results": results,
            "properties": {
                "input": r.input,
                "baseline": r.baseline,
                "passed": r.passed,
                "rules": c.rules,
                "rules_failed": c.rules_failed,
                "checks": c.checks,
                "violations": c.violations,
                "skipped": c.skipped,
            },
        }],
    });
    serde_json::to_writer_pretty(&mut w, &doc)?;
    writeln!(w)?;
    Ok(())
}

/// Escapes a GitHub workflow-command message.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a GitHub workflow-command property value.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error` line per violation, attached to the rule's line in the
/// config file, then a `::notice` with the totals.
pub fn write_github(r: &CheckReport, mut w: impl Write) -> std::io::Result<()> {
    for rule in &r.rules {
        for c in rule.checks.iter().filter(|c| c.status == Status::Fail) {
            writeln!(
                w,
                "::error file={},line={},title={}::{}",
                gh_property(&r.config),
                rule.line,
                gh_property(&format!("specscope check: {}", rule.name)),
                gh_data(&format!("{}: {}", c.subject, c.message))
            )?;
        }
    }
    let c = &r.counts;
    writeln!(
        w,
        "::notice title={}::{}",
        gh_property("specscope check"),
        gh_data(&format!(
            "{}, {} failed; {} in {}",
            crate::report::fmt::plural(c.rules, "rule", "rules"),
            c.rules_failed,
            crate::report::fmt::plural(c.violations, "violation", "violations"),
            crate::report::fmt::plural(c.checks, "check", "checks"),
        ))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            xml_escape("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
        assert_eq!(gh_data("50%\nx"), "50%25%0Ax");
        assert_eq!(gh_property("a:b,c"), "a%3Ab%2Cc");
    }
}
