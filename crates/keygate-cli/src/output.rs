//! What the key-service commands print: aligned tables for people, JSON for
//! scripts.

use std::io::{self, Write};

use keygate_types::{ApiKey, Organization, OrganizationMembership, Owner, Timestamp, User};
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

#[cfg(test)]
mod tests {
    use super::*;

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
