//! `careplan audit …`: query the audit trail and verify its hash chain.

use std::fmt::Write;

use anyhow::bail;
use careplan_model::Timestamp;
use careplan_store::Store;
use careplan_store::audit::{AuditFilter, AuditRecord};

/// `careplan audit verify`: recomputes the whole chain. Prints how many entries were checked, or
/// fails with one sentence naming the first broken entry.
pub async fn verify(store: &Store) -> anyhow::Result<()> {
    let result = store.verify_audit().await?;
    match result.first_broken {
        None => {
            let n = result.checked;
            let entries = if n == 1 { "entry" } else { "entries" };
            println!("Audit trail intact: {n} {entries} checked.");
            Ok(())
        }
        Some(broken) => bail!(
            "the audit trail is broken at entry {}: {}",
            broken.seq,
            broken.reason
        ),
    }
}

/// `careplan audit list [PERSON]`: the latest `limit` entries (about one person's plan, given an
/// NHS number, person id or plan id), oldest first, as a table or JSON.
pub async fn list(
    store: &Store,
    person_or_plan: Option<&str>,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let plan_id = match person_or_plan {
        Some(key) => Some(store.find_plan(key).await?),
        None => None,
    };
    let mut records = store
        .audit_records(AuditFilter {
            plan_id,
            limit,
            newest_first: true,
            ..AuditFilter::default()
        })
        .await?;
    records.reverse();
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else if records.is_empty() {
        println!(
            "{}",
            match person_or_plan {
                Some(_) => "The audit trail has no entries about this plan.",
                None => "The audit trail has no entries.",
            }
        );
    } else {
        print!("{}", table(&records));
    }
    Ok(())
}

/// `2026-11-25T19:40:12.345Z` as `2026-11-25 19:40:12 UTC`; text that is not a time as it is.
fn when(at: &str) -> String {
    match Timestamp::parse(at) {
        Ok(t) => {
            let dt = t.datetime();
            format!(
                "{} {:02}:{:02}:{:02} UTC",
                dt.date(),
                dt.hour(),
                dt.minute(),
                dt.second()
            )
        }
        Err(_) => at.to_owned(),
    }
}

/// One line per entry, columns padded to their widest value; the detail last, unpadded.
fn table(records: &[AuditRecord]) -> String {
    const HEADERS: [&str; 9] = [
        "seq", "when", "who", "role", "action", "outcome", "plan", "override", "detail",
    ];
    let rows: Vec<[String; 9]> = records
        .iter()
        .map(|r| {
            let plan = match (&r.plan_id, r.version) {
                (Some(p), Some(v)) => format!("{p} v{v}"),
                (Some(p), None) => p.clone(),
                (None, Some(v)) => format!("v{v}"),
                (None, None) => "—".to_owned(),
            };
            [
                r.seq.to_string(),
                when(&r.at),
                r.actor_name.clone(),
                r.actor_role.replace('_', " "),
                r.action.clone(),
                r.outcome.clone(),
                plan,
                r.override_release.clone().unwrap_or_else(|| "—".to_owned()),
                r.detail.clone(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let last = cells.len() - 1;
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&HEADERS);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up_and_shows_who_what_and_any_override() {
        let record = AuditRecord {
            seq: 12,
            at: "2026-11-25T19:40:12.345Z".into(),
            actor_id: "acct:1".into(),
            actor_name: "Dee Controller".into(),
            actor_role: "data_controller".into(),
            action: "read_plan".into(),
            outcome: "allowed".into(),
            plan_id: Some("plan-1".into()),
            person_id: Some("person-1".into()),
            version: Some(3),
            detail: "concerns released".into(),
            override_release: Some("release-9".into()),
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        };
        let text = table(&[record]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("seq  when "), "{text}");
        assert!(
            lines[1].starts_with("12   2026-11-25 19:40:12 UTC  Dee Controller  data controller"),
            "{text}"
        );
        assert!(lines[1].contains("plan-1 v3"), "{text}");
        assert!(lines[1].contains("release-9"), "{text}");
        assert!(lines[1].ends_with("concerns released"), "{text}");
        // The detail column starts where its header does.
        assert_eq!(lines[0].find("detail"), lines[1].find("concerns"), "{text}");
    }
}
