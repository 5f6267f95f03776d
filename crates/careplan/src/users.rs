//! `careplan user add` and `careplan token create`: accounts and bearer tokens.
//!
//! A password comes from standard input, one line, so it never appears in the process list or
//! shell history: `printf '%s\n' "$PW" | careplan user add NAME --role practitioner`. Every role
//! but `system` needs one; a system account signs in with bearer tokens only.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use careplan_model::Role;
use careplan_store::Store;
use careplan_store::accounts::{MIN_PASSWORD_CHARS, NewAccount};

/// Adds an account. `person` (NHS number, person id or plan id) links a person, representative
/// or carer account to that person; the password is read from standard input.
pub async fn add(
    store: &Store,
    name: &str,
    role: &str,
    person: Option<&str>,
    organisation: Option<&str>,
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let role = parse_role(role)?;
    let person_id = match person {
        Some(key) => {
            let plan = store.find_plan(key).await?;
            Some(store.current(&plan).await?.details.person_id)
        }
        None => None,
    };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!(
            "Password for {} (at least {MIN_PASSWORD_CHARS} characters; typing is not hidden): ",
            name.trim()
        );
        std::io::stderr().flush().ok();
    }
    let password = read_password(stdin.lock(), role)?;
    let account = store
        .create_account(NewAccount {
            username: name.to_owned(),
            display_name: display_name.map(str::to_owned),
            role,
            person_id,
            organisation: organisation.map(str::to_owned),
            password,
        })
        .await?;
    let mut line = format!(
        "Added the {} account “{}” ({}), id {}",
        role.label().trim_start_matches("the "),
        account.username,
        account.display_name,
        account.id
    );
    if let Some(person) = &account.person_id {
        line.push_str(&format!(", linked to person {person}"));
    }
    if let Some(organisation) = &account.organisation {
        line.push_str(&format!(", of {organisation}"));
    }
    println!("{line}.");
    Ok(())
}

/// Makes a bearer token for an account and prints it alone on standard output, so a script can
/// capture it; the note that it is shown once goes to standard error.
pub async fn create_token(store: &Store, name: &str, label: Option<&str>) -> anyhow::Result<()> {
    let label = label
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("made with careplan token create");
    let (token, account) = store.create_token(name, label).await?;
    println!("{token}");
    eprintln!(
        "careplan: this token acts as “{}” ({}); it is shown only now, and only its hash is kept.",
        account.username,
        account.role.label()
    );
    Ok(())
}

/// A role by its snake_case name (`data_controller`; `data-controller` also works).
/// `careplan user list`: every account, one line each, or JSON.
pub async fn list(store: &Store, json: bool) -> anyhow::Result<()> {
    let accounts = store.accounts().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&accounts)?);
        return Ok(());
    }
    if accounts.is_empty() {
        println!("No accounts yet. Add one with: careplan user add NAME --role ROLE");
        return Ok(());
    }
    println!(
        "{:<24} {:<16} {:<28} {:<10} Linked to / organisation",
        "Username", "Role", "Name", "Status"
    );
    for a in accounts {
        let link = match (&a.person_id, &a.organisation) {
            (Some(p), _) => format!("person {p}"),
            (None, Some(o)) => o.clone(),
            (None, None) => String::new(),
        };
        let status = if a.disabled { "disabled" } else { "active" };
        println!(
            "{:<24} {:<16} {:<28} {:<10} {link}",
            a.username,
            role_name(a.role),
            a.display_name,
            status
        );
    }
    Ok(())
}

/// `careplan user disable|enable NAME`: a disabled account cannot sign in, and its sessions end.
pub async fn set_disabled(store: &Store, name: &str, disabled: bool) -> anyhow::Result<()> {
    store.set_disabled(name, disabled).await?;
    let what = if disabled {
        "disabled: it can no longer sign in, and its sessions have ended"
    } else {
        "enabled"
    };
    println!("The account “{name}” is {what}.");
    Ok(())
}

/// `careplan token revoke`: the token (read from standard input, so it stays out of the shell's
/// history) stops working at once.
pub async fn revoke_token(store: &Store, token: &str) -> anyhow::Result<()> {
    if store.revoke_token(token.trim()).await? {
        println!("The token is revoked.");
        Ok(())
    } else {
        anyhow::bail!("no such token: it may already be revoked, or it was mistyped")
    }
}

fn parse_role(text: &str) -> anyhow::Result<Role> {
    let wanted = text.trim().to_ascii_lowercase().replace('-', "_");
    Role::ALL
        .into_iter()
        .find(|role| role_name(*role) == wanted)
        .with_context(|| {
            let names: Vec<String> = Role::ALL.into_iter().map(role_name).collect();
            format!(
                "“{}” is not a role: use one of {}",
                text.trim(),
                names.join(", ")
            )
        })
}

/// The role's name on the command line and in JSON (its serde name).
fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One line from `input`, without its line ending; an empty line (or none) means no password,
/// which only a system account may have.
fn read_password(mut input: impl BufRead, role: Role) -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("the password could not be read from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        if role == Role::System {
            return Ok(None);
        }
        bail!(
            "a {} account needs a password: give it on standard input, one line",
            role.label()
        );
    }
    Ok(Some(password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_named_as_in_the_model() {
        assert_eq!(parse_role("practitioner").unwrap(), Role::Practitioner);
        assert_eq!(
            parse_role(" Data-Controller ").unwrap(),
            Role::DataController
        );
        assert_eq!(parse_role("data_controller").unwrap(), Role::DataController);
        let err = parse_role("nurse").unwrap_err().to_string();
        assert!(err.contains("“nurse” is not a role"), "{err}");
        assert!(err.contains("representative"), "{err}");
    }

    #[test]
    fn the_password_is_one_line_without_its_ending() {
        let read = |text: &str, role| read_password(text.as_bytes(), role);
        assert_eq!(
            read("  spaces kept  \r\nsecond line\n", Role::Practitioner).unwrap(),
            Some("  spaces kept  ".into())
        );
        assert_eq!(
            read("no newline", Role::Person).unwrap(),
            Some("no newline".into())
        );
        assert_eq!(read("", Role::System).unwrap(), None);
        assert_eq!(read("\n", Role::System).unwrap(), None);
        let err = read("\n", Role::Carer).unwrap_err().to_string();
        assert_eq!(
            err,
            "a carer account needs a password: give it on standard input, one line"
        );
    }
}
