//! The state in a SQLite file (`keygate serve --state FILE`).
//!
//! Durability: the file is in WAL mode with `synchronous=FULL`, so every
//! commit syncs the write-ahead log to disk before the write is answered:
//! an acknowledged write survives `kill -9` and a power cut. (`NORMAL` would
//! survive `kill -9` only.) Each write is one transaction.
//!
//! Each object is a row of JSON, in the form the API serves it, keyed by its
//! id; keys keep their value's SHA-256 digest, never the value. The schema
//! has a version (`PRAGMA user_version`) and migrations; a file from a newer
//! version, or one that is not a sound SQLite database, is refused before
//! anything is written to it. The connection holds an exclusive lock, so a
//! second server cannot open the same file.
//!
//! M2M applications keep their client secret's SHA-256 digest, never the
//! secret. The token signing keys are kept whole, private halves included
//! (PKCS#8 DER), so that tokens signed before a restart verify after it:
//! acceptable for an emulator, never for a real key service.
//!
//! The file holds webhook signing secrets and the token signing keys in the
//! clear, so on Unix it is created 0600 before SQLite opens it (SQLite gives its write-ahead log and
//! shared-memory files the database's mode), and a file or companion that
//! others may read is tightened to 0600 at start, with a warning.

use std::path::{Path, PathBuf};

use keygate_types::{ApiKey, Event, Organization, OrganizationMembership, Session, User};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::idempotency::IdempotencyRecord;
use super::keys::KeyRecord;
use super::tokens::ApplicationRecord;
use super::{Application, Changes, Policy, Registered, Row, State, Storage, WebhookEndpoint};
use crate::Error;
use crate::tokens::SigningKey;

/// The migrations, in order: the file's `user_version` is how many ran.
const MIGRATIONS: &[&str] = &["
CREATE TABLE organizations (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE memberships (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE api_keys (id TEXT PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE events (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE webhook_endpoints (id TEXT PRIMARY KEY, body TEXT NOT NULL, secret TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
", "
CREATE TABLE m2m_applications (id TEXT PRIMARY KEY, digest BLOB NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sessions (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE signing_keys (position INTEGER PRIMARY KEY, kid TEXT NOT NULL UNIQUE, private_key BLOB NOT NULL);
"];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The tables emptied by a reset (webhook endpoints, signing keys and
/// settings stay).
const DATA_TABLES: &[&str] = &[
    "organizations",
    "users",
    "memberships",
    "api_keys",
    "events",
    "idempotency_keys",
    "m2m_applications",
    "sessions",
];

/// A SQLite state file.
#[derive(Debug)]
pub(crate) struct SqliteStorage {
    path: PathBuf,
    conn: Connection,
    /// Whether the file had no schema when opened.
    fresh: bool,
}

impl SqliteStorage {
    /// Opens (or creates) the state file at `path`, after checking that it
    /// is a sound database of a version this build reads; a refused file is
    /// left as it was.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::Storage(format!("state file {}: {what}: {e}", path.display()))
        };
        let existing = std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if existing {
            check_untouched(path)?;
        }
        keep_private(path)?;
        let conn = Connection::open(path).map_err(|e| fail("cannot open", &e))?;
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;",
        )
        .map_err(|e| fail("cannot set it up", &e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail("cannot read its version", &e))?;
        let mut storage = Self {
            path: path.to_owned(),
            conn,
            fresh: version == 0,
        };
        storage.migrate(version)?;
        Ok(storage)
    }

    fn migrate(&mut self, from: i64) -> Result<(), Error> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| {
            Error::Storage(format!(
                "state file {}: migration failed: {e}",
                path.display()
            ))
        };
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            let to = i + 1;
            let tx = self.conn.transaction().map_err(fail)?;
            tx.execute_batch(sql).map_err(fail)?;
            tx.pragma_update(None, "user_version", to as i64)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
            tracing::info!(path = %self.path.display(), version = to, "state file migrated");
        }
        Ok(())
    }

    fn error(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Storage(format!("state file {}: {e}", self.path.display()))
    }

    fn load_rows<T: DeserializeOwned>(
        &self,
        table: &str,
        mut each: impl FnMut(T, Vec<u8>),
    ) -> Result<(), Error> {
        let extra = if table == "api_keys" || table == "m2m_applications" {
            "digest"
        } else if table == "webhook_endpoints" {
            "CAST(secret AS BLOB)"
        } else {
            "x''"
        };
        let key = if table == "idempotency_keys" {
            "key"
        } else {
            "id"
        };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT body, {extra} FROM {table} ORDER BY {key}"))
            .map_err(|e| self.error(&e))?;
        let mut rows = stmt.query([]).map_err(|e| self.error(&e))?;
        while let Some(row) = rows.next().map_err(|e| self.error(&e))? {
            let body: String = row.get(0).map_err(|e| self.error(&e))?;
            let extra: Vec<u8> = row.get(1).map_err(|e| self.error(&e))?;
            let value = serde_json::from_str(&body)
                .map_err(|e| self.error(&format!("a row of {table} cannot be read: {e}")))?;
            each(value, extra);
        }
        Ok(())
    }

    /// The signing keys, oldest first.
    fn load_signing_keys(&self) -> Result<Vec<SigningKey>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT kid, private_key FROM signing_keys ORDER BY position")
            .map_err(|e| self.error(&e))?;
        let mut rows = stmt.query([]).map_err(|e| self.error(&e))?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.error(&e))? {
            let kid: String = row.get(0).map_err(|e| self.error(&e))?;
            let der: Vec<u8> = row.get(1).map_err(|e| self.error(&e))?;
            let key = SigningKey::from_private_der(&kid, &der)
                .map_err(|e| self.error(&format!("signing key {kid} cannot be read: {e}")))?;
            keys.push(key);
        }
        Ok(keys)
    }

    fn setting<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        let value: Option<String> = self
            .conn
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.error(&e))?;
        value
            .map(|v| serde_json::from_str(&v))
            .transpose()
            .map_err(|e| self.error(&format!("setting `{name}` cannot be read: {e}")))
    }
}

/// Refuses a file that is not a SQLite database, fails a quick integrity
/// check, or has a newer schema, reading it without writing anything.
/// Creates the file readable and writable by its owner only when missing,
/// and tightens it, and the write-ahead log and shared-memory files SQLite
/// keeps beside it, to 0600 when others may read them. A file that cannot be
/// tightened (owned by another user) is served with a warning.
#[cfg(unix)]
fn keep_private(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    const PRIVATE: u32 = 0o600;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(PRIVATE)
        .open(path)
        .map_err(|e| {
            Error::Storage(format!("state file {}: cannot create: {e}", path.display()))
        })?;
    let mut companions = [path.to_owned(), path.to_owned(), path.to_owned()];
    companions[1].as_mut_os_string().push("-wal");
    companions[2].as_mut_os_string().push("-shm");
    for file in &companions {
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            continue;
        }
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(PRIVATE)) {
            Ok(()) => tracing::warn!(
                file = %file.display(),
                was = format_args!("{mode:o}"),
                "the state file holds secrets (webhook and token signing keys) and others could read it: now 0600"
            ),
            Err(e) => tracing::warn!(
                file = %file.display(),
                mode = format_args!("{mode:o}"),
                error = %e,
                "the state file holds secrets (webhook and token signing keys) and others can \
                 read it; it could not be made 0600"
            ),
        }
    }
    Ok(())
}

/// SQLite creates the file with its platform's defaults.
#[cfg(not(unix))]
fn keep_private(_path: &Path) -> Result<(), Error> {
    Ok(())
}

fn check_untouched(path: &Path) -> Result<(), Error> {
    let refuse = |why: String| {
        Error::Storage(format!(
            "state file {} refused, and left as it was: {why}",
            path.display()
        ))
    };
    let mut magic = [0u8; 16];
    let read =
        std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    if read.is_err() || &magic != b"SQLite format 3\0" {
        return Err(refuse("it is not a SQLite database".to_owned()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| refuse(format!("it cannot be opened: {e}")))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| {
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
                refuse("another process has it open (another `keygate serve`?)".to_owned())
            } else {
                refuse(format!("it is damaged: {e}"))
            }
        })?;
    if check != "ok" {
        return Err(refuse(format!("it is damaged: {check}")));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| refuse(format!("its version cannot be read: {e}")))?;
    if version > SCHEMA_VERSION {
        return Err(refuse(format!(
            "it was written by a newer keygate (schema version {version}; this one reads up to {SCHEMA_VERSION})"
        )));
    }
    Ok(())
}

/// A key's row: the key as the API serves it, and beside its fields, in the
/// same JSON object, the agent registration it was issued for (so files
/// written before the field read as keys without one).
#[derive(Serialize, serde::Deserialize)]
struct StoredKey {
    #[serde(flatten)]
    api_key: ApiKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_registration_id: Option<String>,
}

fn to_json<T: Serialize>(value: &T) -> Result<String, rusqlite::Error> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

impl Storage for SqliteStorage {
    fn load(&mut self, state: &mut State) -> Result<bool, Error> {
        if self.fresh {
            return Ok(false);
        }
        self.load_rows("organizations", |o: Organization, _| {
            state.directory.restore_organization(o);
        })?;
        self.load_rows("users", |u: User, _| state.directory.restore_user(u))?;
        self.load_rows("memberships", |m: OrganizationMembership, _| {
            state.directory.restore_membership(m);
        })?;
        let mut bad_digest = None;
        self.load_rows(
            "api_keys",
            |k: StoredKey, digest: Vec<u8>| match <[u8; 32]>::try_from(digest.as_slice()) {
                Ok(digest) => state.keys.restore(KeyRecord {
                    api_key: k.api_key,
                    digest,
                    agent_registration_id: k.agent_registration_id,
                }),
                Err(_) => bad_digest = Some(k.api_key.id),
            },
        )?;
        if let Some(id) = bad_digest {
            return Err(self.error(&format!("key {id} has a malformed digest")));
        }
        self.load_rows("events", |e: Event, _| state.events.restore(e))?;
        self.load_rows("idempotency_keys", |r: IdempotencyRecord, _| {
            state.idempotency.restore(r);
        })?;
        self.load_rows("webhook_endpoints", |endpoint: WebhookEndpoint, secret| {
            let secret = String::from_utf8_lossy(&secret).into_owned();
            state.webhook_endpoints.insert(
                endpoint.id.to_string(),
                Registered {
                    endpoint,
                    secret: secret.into(),
                },
            );
        })?;
        let mut bad_digest = None;
        self.load_rows("m2m_applications", |application: Application, digest| {
            match <[u8; 32]>::try_from(digest.as_slice()) {
                Ok(secret_digest) => {
                    state.tokens.applications.insert(
                        application.client_id.clone(),
                        ApplicationRecord {
                            application,
                            secret_digest,
                        },
                    );
                }
                Err(_) => bad_digest = Some(application.client_id),
            }
        })?;
        if let Some(id) = bad_digest {
            return Err(self.error(&format!("M2M application {id} has a malformed digest")));
        }
        self.load_rows("sessions", |session: Session, _| {
            state.tokens.sessions.insert(session.id.clone(), session);
        })?;
        state.tokens.signing_keys = self.load_signing_keys()?;
        state.tokens.client_id = self.setting("client_id")?;
        if let Some(policy) = self.setting::<Policy>("policy")? {
            state.policy = policy;
        }
        state.clock_offset_ms = self.setting("clock_offset_ms")?.unwrap_or(0);
        if let Some(last) = self.setting::<String>("last_id")? {
            let last = last
                .parse()
                .map_err(|e| self.error(&format!("setting `last_id` cannot be read: {e}")))?;
            state.ids.resume_after(last);
        }
        Ok(true)
    }

    fn commit(&mut self, state: &State, changes: &Changes) -> Result<(), Error> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| {
            Error::Storage(format!("state file {}: write failed: {e}", path.display()))
        };
        let tx = self.conn.transaction().map_err(fail)?;
        if changes.cleared {
            for table in DATA_TABLES {
                tx.execute(&format!("DELETE FROM {table}"), [])
                    .map_err(fail)?;
            }
        }
        for row in &changes.rows {
            write_row(&tx, state, row).map_err(fail)?;
        }
        let put_setting = |name: &str, value: String| {
            tx.prepare_cached("INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)")?
                .execute(params![name, value])
                .map(drop)
        };
        if changes.settings {
            put_setting("policy", to_json(&state.policy).map_err(fail)?).map_err(fail)?;
            put_setting("clock_offset_ms", state.clock_offset_ms.to_string()).map_err(fail)?;
            if let Some(client_id) = &state.tokens.client_id {
                put_setting("client_id", to_json(client_id).map_err(fail)?).map_err(fail)?;
            }
        }
        if let Some(last) = state.ids.last() {
            put_setting("last_id", to_json(&last.to_string()).map_err(fail)?).map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    fn durable(&self) -> bool {
        true
    }
}

/// Writes `row` as it is in `state`, or deletes it when it is gone.
fn write_row(tx: &rusqlite::Transaction<'_>, state: &State, row: &Row) -> rusqlite::Result<()> {
    let put = |table: &str, id: &str, body: Option<String>| -> rusqlite::Result<()> {
        let key = if table == "idempotency_keys" {
            "key"
        } else {
            "id"
        };
        match body {
            Some(body) => tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO {table} ({key}, body) VALUES (?1, ?2)"
                ))?
                .execute(params![id, body]),
            None => tx
                .prepare_cached(&format!("DELETE FROM {table} WHERE {key} = ?1"))?
                .execute([id]),
        }
        .map(drop)
    };
    match row {
        Row::Organization(id) => put(
            "organizations",
            id,
            state.directory.organizations.get(id.as_str()).map(to_json).transpose()?,
        ),
        Row::User(id) => put(
            "users",
            id,
            state.directory.users.get(id.as_str()).map(to_json).transpose()?,
        ),
        Row::Membership(id) => put(
            "memberships",
            id,
            state.directory.memberships.get(id.as_str()).map(to_json).transpose()?,
        ),
        Row::Event(id) => put("events", id, state.events.get(id).map(to_json).transpose()?),
        Row::Idempotency(key) => put(
            "idempotency_keys",
            key,
            state.idempotency.get(key).map(to_json).transpose()?,
        ),
        Row::ApiKey(id) => match state.keys.record(id) {
            Some(record) => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO api_keys (id, digest, body) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    id,
                    &record.digest[..],
                    to_json(&StoredKey {
                        api_key: record.api_key.clone(),
                        agent_registration_id: record.agent_registration_id.clone(),
                    })?
                ])
                .map(drop),
            None => put("api_keys", id, None),
        },
        Row::WebhookEndpoint(id) => match state.webhook_endpoints.get(id) {
            Some(r) => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO webhook_endpoints (id, body, secret) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![id, to_json(&r.endpoint)?, r.secret.expose_secret()])
                .map(drop),
            None => put("webhook_endpoints", id, None),
        },
        Row::M2mApplication(id) => match state.tokens.applications.get(id) {
            Some(record) => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO m2m_applications (id, digest, body) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    id,
                    &record.secret_digest[..],
                    to_json(&record.application)?
                ])
                .map(drop),
            None => put("m2m_applications", id, None),
        },
        Row::Session(id) => put(
            "sessions",
            id,
            state.tokens.sessions.get(id).map(to_json).transpose()?,
        ),
        // Signing keys are only ever added: a key's place is its position.
        Row::SigningKey(kid) => {
            let Some((position, key)) = state
                .tokens
                .signing_keys
                .iter()
                .enumerate()
                .find(|(_, k)| k.kid() == kid)
            else {
                return Ok(());
            };
            let der = key
                .private_der()
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO signing_keys (position, kid, private_key) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![position as i64, kid, der.as_bytes()])
            .map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &Path) -> String {
        match SqliteStorage::open(path) {
            Err(Error::Storage(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_from_a_newer_version_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let message = refused(&path);
        assert!(message.contains("newer keygate"), "{message}");
        assert!(message.contains("schema version 99"), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(
            files_in(dir.path()),
            vec!["state.db"],
            "no WAL or lock files"
        );
    }

    #[test]
    fn a_corrupt_file_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, b"this is not a database, just some text\n").unwrap();
        let before = std::fs::read(&path).unwrap();
        assert!(refused(&path).contains("not a SQLite database"));
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // A real database with a damaged page: the header is right, the rest is not.
        let damaged = dir.path().join("damaged.db");
        {
            let storage = SqliteStorage::open(&damaged).unwrap();
            storage
                .conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .unwrap();
        }
        let mut bytes = std::fs::read(&damaged).unwrap();
        let page = bytes.len() / 2;
        for b in &mut bytes[page..page + 64] {
            *b = 0xA5;
        }
        bytes[100..120].fill(0xFF);
        std::fs::write(&damaged, &bytes).unwrap();
        let message = refused(&damaged);
        assert!(message.contains("damaged"), "{message}");
        assert_eq!(std::fs::read(&damaged).unwrap(), bytes);
    }

    #[test]
    fn a_file_in_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let _first = SqliteStorage::open(&path).unwrap();
        let message = refused(&path);
        assert!(message.contains("another process"), "{message}");
    }

    #[test]
    fn a_file_of_the_first_schema_is_migrated_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut state = State::default();
        let org = state
            .create_organization(
                keygate_types::CreateOrganization {
                    name: "Acme".to_owned(),
                    ..Default::default()
                },
                keygate_types::Timestamp::now(),
            )
            .unwrap();
        {
            // A file as the first schema's build wrote it.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute(
                "INSERT INTO organizations (id, body) VALUES (?1, ?2)",
                params![org.id.as_str(), to_json(&org).unwrap()],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let mut storage = SqliteStorage::open(&path).unwrap();
        let version: i64 = storage
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let mut loaded = State::default();
        assert!(storage.load(&mut loaded).unwrap(), "not a new file");
        assert!(loaded.directory.organization(org.id.as_str()).is_ok());
        assert!(
            loaded.tokens.client_id.is_none(),
            "made at start, then kept"
        );
        // The new tables take rows.
        let client_id = loaded.client_id_or_new();
        loaded.add_signing_key(crate::tokens::SigningKey::generate());
        let changes = std::mem::take(&mut loaded.changes);
        storage.commit(&loaded, &changes).unwrap();
        drop(storage);
        let mut storage = SqliteStorage::open(&path).unwrap();
        let mut again = State::default();
        storage.load(&mut again).unwrap();
        assert_eq!(again.tokens.client_id, Some(client_id));
        assert_eq!(again.tokens.signing_keys.len(), 1);
    }

    #[test]
    fn a_new_file_gets_the_current_schema_and_reopens_without_migrating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let first = SqliteStorage::open(&path).unwrap();
        assert!(first.fresh);
        drop(first);
        let again = SqliteStorage::open(&path).unwrap();
        assert!(!again.fresh);
        let version: i64 = again
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let mode: String = again
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
