//! What the key-service commands print: aligned tables for people, JSON for
//! scripts, and their errors.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::{self, Write};

use keygate_client::ApiError;
use keygate_types::{
    ApiKey, FieldError, MAX_LIMIT, Organization, OrganizationMembership, Owner, Timestamp, User,
};
use serde::Serialize;

/// A table: a header row and rows of cells, printed with aligned columns.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: Vec<&'static str>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Prints `value` as pretty JSON.
pub(crate) fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    writeln!(out)
}

fn time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

fn owner(owner: &Owner) -> String {
    match owner {
        Owner::Organization { id } => id.to_string(),
        Owner::User {
            id,
            organization_id,
        } => format!("{id} in {organization_id}"),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// Keys, one per row. Never a value: an `ApiKey` has none.
pub(crate) fn keys_table(keys: &[ApiKey]) -> Table {
    let mut table = Table::new(vec![
        "ID",
        "NAME",
        "OWNER",
        "PERMISSIONS",
        "EXPIRES AT",
        "LAST USED AT",
        "CREATED AT",
    ]);
    for k in keys {
        table.row(vec![
            k.id.to_string(),
            k.name.clone(),
            owner(&k.owner),
            list(&k.permissions),
            time(k.expires_at),
            time(k.last_used_at),
            k.created_at.to_string(),
        ]);
    }
    table
}

/// One key as `field  value` lines.
pub(crate) fn key_details(key: &ApiKey) -> Table {
    let mut table = Table::new(vec!["FIELD", "VALUE"]);
    for (field, value) in [
        ("id", key.id.to_string()),
        ("name", key.name.clone()),
        (
            "owner",
            format!("{} {}", key.owner.kind(), owner(&key.owner)),
        ),
        ("obfuscated value", key.obfuscated_value.clone()),
        ("permissions", list(&key.permissions)),
        ("expires at", time(key.expires_at)),
        ("last used at", time(key.last_used_at)),
        ("created at", key.created_at.to_string()),
        ("updated at", key.updated_at.to_string()),
    ] {
        table.row(vec![field.to_owned(), value]);
    }
    table
}

/// M2M applications, one per row. Never a client secret.
pub(crate) fn m2m_applications_table(apps: &[crate::m2m::M2mApplication]) -> Table {
    let mut table = Table::new(vec![
        "CLIENT ID",
        "NAME",
        "ORGANIZATION",
        "SCOPES",
        "CREATED AT",
    ]);
    for a in apps {
        table.row(vec![
            a.client_id.clone(),
            a.name.clone().unwrap_or_else(|| "-".to_owned()),
            a.organization_id.to_string(),
            list(&a.scopes),
            a.created_at.to_string(),
        ]);
    }
    table
}

/// One M2M application as `field  value` lines, its client secret last
/// when the answer has it (a create's).
pub(crate) fn m2m_application_details(app: &crate::m2m::M2mApplication) -> Table {
    let mut table = Table::new(vec!["FIELD", "VALUE"]);
    for (field, value) in [
        ("client id", app.client_id.clone()),
        ("name", app.name.clone().unwrap_or_else(|| "-".to_owned())),
        ("organization", app.organization_id.to_string()),
        ("scopes", list(&app.scopes)),
        ("created at", app.created_at.to_string()),
    ] {
        table.row(vec![field.to_owned(), value]);
    }
    if let Some(secret) = &app.client_secret {
        table.row(vec!["client secret".to_owned(), secret.clone()]);
    }
    table
}

pub(crate) fn organizations_table(orgs: &[Organization]) -> Table {
    let mut table = Table::new(vec!["ID", "NAME", "CREATED AT"]);
    for o in orgs {
        table.row(vec![
            o.id.to_string(),
            o.name.clone(),
            o.created_at.to_string(),
        ]);
    }
    table
}

pub(crate) fn users_table(users: &[User]) -> Table {
    let mut table = Table::new(vec!["ID", "EMAIL", "NAME", "CREATED AT"]);
    for u in users {
        let name = [u.first_name.as_deref(), u.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        table.row(vec![
            u.id.to_string(),
            u.email.clone(),
            if name.is_empty() { "-".into() } else { name },
            u.created_at.to_string(),
        ]);
    }
    table
}

pub(crate) fn memberships_table(memberships: &[OrganizationMembership]) -> Table {
    let mut table = Table::new(vec!["ID", "USER", "ORGANIZATION", "STATUS", "ROLE"]);
    for m in memberships {
        let status = serde_json::to_value(m.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        table.row(vec![
            m.id.to_string(),
            m.user_id.to_string(),
            m.organization_id.to_string(),
            status,
            m.role.slug.clone(),
        ]);
    }
    table
}

/// Reports a failed command (on standard error): `keygate: ` and the message
/// on one line, then one `  field: problem` line per field error of the key
/// service's answer `api`, when the failure is one. With `json`, the key
/// service's error body as it sent it (`{code, message, errors[],
/// entity_id}`); errors that are not the key service's answer are the one
/// line in both modes.
pub(crate) fn write_error(
    out: &mut impl Write,
    error: &dyn Display,
    api: Option<&ApiError>,
    json: bool,
) -> io::Result<()> {
    match api {
        // An empty code: the body was not WorkOS's JSON, and the client kept
        // only a description of it, not a body to pass on.
        Some(api) if json && !api.code().is_empty() => write_json(out, &api.body),
        Some(api) => write_refusal(out, &refusal_headline(api), api.field_errors()),
        None => writeln!(out, "keygate: {}", one_line(&error.to_string())),
    }
}

/// The service's message first, then where it came from:
/// `name must not be empty. [422 invalid_request_parameters from POST /…]`.
fn refusal_headline(api: &ApiError) -> String {
    let message = one_line(api.message());
    let mut context = api.status.as_u16().to_string();
    if !api.code().is_empty() {
        context.push(' ');
        context.push_str(&one_line(api.code()));
    }
    context.push_str(&format!(" from {}", api.endpoint));
    if let Some(id) = &api.request_id {
        context.push_str(&format!(", request id {}", one_line(id)));
    }
    if message.trim().is_empty() {
        format!("the key service refused the request [{context}]")
    } else {
        format!("{} [{context}]", message.trim())
    }
}

fn write_refusal(out: &mut impl Write, headline: &str, fields: &[FieldError]) -> io::Result<()> {
    writeln!(out, "keygate: {headline}")?;
    for f in fields {
        writeln!(out, "  {}: {}", one_line(&f.field), field_problem(&f.code))?;
    }
    Ok(())
}

/// A readable text for the field error codes WorkOS and the emulator send;
/// other codes as they are.
fn field_problem(code: &str) -> Cow<'_, str> {
    let text = match code {
        "invalid_permission" => "is not a valid permission slug",
        "invalid_scope" => {
            "is not an OAuth scope (printable ASCII, no spaces, quotes or backslashes)"
        }
        "permission_not_allowed" => "is not enabled for this kind of key",
        "expires_at_not_in_future" => "must be in the future",
        "value_taken" => "is already another key's value",
        "email_invalid" => "is not an email address",
        "email_not_available" => "is already in use",
        "invalid_type" => "has the wrong type",
        "invalid_timestamp" => "is not an RFC 3339 time",
        "invalid_metadata" => "must be a string",
        "invalid_order" => "must be asc, desc or normal",
        "invalid_status" => "must be active, inactive or pending",
        "invalid_url" => "is not a URL",
        "role_slug_invalid" => "must not be empty",
        "role_slug_conflict" => "cannot be given with role_slug",
        "limit_out_of_range" => return format!("must be from 1 to {MAX_LIMIT}").into(),
        // `name_required`, `email_required`…: missing or blank.
        _ if code.ends_with("_required") => "must not be empty",
        _ => return one_line(code),
    };
    text.into()
}

/// `text` with control characters (a newline, a terminal escape) as spaces:
/// what the service sent stays on its line and cannot drive the terminal.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(field: &str, code: &str) -> FieldError {
        serde_json::from_value(serde_json::json!({"field": field, "code": code})).unwrap()
    }

    #[test]
    fn a_refusal_is_its_headline_then_one_line_per_field_error() {
        let mut out = Vec::new();
        write_refusal(
            &mut out,
            "invalid [422]",
            &[
                field("name", "name_required"),
                field("permissions[1]", "invalid_permission"),
                field("limit", "limit_out_of_range"),
                field("colour", "colour_too_loud"),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "keygate: invalid [422]\n\
             \x20 name: must not be empty\n\
             \x20 permissions[1]: is not a valid permission slug\n\
             \x20 limit: must be from 1 to 100\n\
             \x20 colour: colour_too_loud\n"
        );
    }

    #[test]
    fn what_the_service_sent_cannot_break_the_line_or_drive_the_terminal() {
        let mut out = Vec::new();
        write_refusal(&mut out, "ok", &[field("na\nme", "evil\x1b[2J\r\ncode")]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "keygate: ok\n  na me: evil [2J  code\n"
        );
        assert_eq!(one_line("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn errors_that_are_not_the_services_answer_are_one_line_in_both_modes() {
        for json in [false, true] {
            let mut out = Vec::new();
            write_error(&mut out, &"the key is not valid\nat all", None, json).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "keygate: the key is not valid at all\n"
            );
        }
    }

    #[test]
    fn columns_align_and_lines_are_trimmed() {
        let mut t = Table::new(vec!["ID", "NAME"]);
        t.row(vec!["a".into(), "first".into()]);
        t.row(vec!["longer".into(), "x".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ID      NAME\na       first\nlonger  x\n"
        );
    }
}
