//! `keygate keys`: create, list, validate, expire and revoke API keys.

use std::io::Write;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use futures_util::TryStreamExt;
use keygate_client::{Client, IdempotencyKey};
use keygate_types::{
    ApiKey, ApiKeyId, CreateOrganizationApiKey, CreateUserApiKey, Expiry, ListParams,
    OrganizationId, SecretString, Timestamp, UserId,
};
use serde_json::json;

use crate::output::{key_details, keys_table, write_json};
use crate::remote::{self, CommandError, ServiceArgs, print};

/// Options of `keygate keys`.
#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key for an organization, or with --user for a user in that
    /// organization. Its value is shown this once.
    Create(CreateArgs),
    /// List an organization's keys (--org), or a user's (--user, optionally
    /// only those in --org).
    List(ListArgs),
    /// Validate a key value; exits 1 when it is not valid.
    Validate(ValidateArgs),
    /// Expire a key now, or schedule (--at) or clear (--clear) its expiry.
    Expire(ExpireArgs),
    /// Revoke (delete) a key: it stops validating at once.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The organization that owns the key, or that a user key acts in.
    #[arg(long = "org", value_name = "ORG_ID")]
    organization: OrganizationId,
    /// Make a user key for this user (who needs an active membership in --org).
    #[arg(long, value_name = "USER_ID")]
    user: Option<UserId>,
    /// The key's name.
    #[arg(long)]
    name: String,
    /// A permission to grant (repeatable or comma-separated).
    #[arg(long = "permission", value_delimiter = ',', value_name = "P")]
    permissions: Vec<String>,
    /// When the key expires (RFC 3339, e.g. 2030-01-01T00:00:00Z).
    #[arg(long, value_name = "T")]
    expires_at: Option<Timestamp>,
    /// Send this Idempotency-Key, which also lets the client retry the create.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<IdempotencyKey>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("owner").required(true).multiple(true).args(["organization", "user"])))]
struct ListArgs {
    /// An organization: its own keys, or with --user that user's keys in it.
    #[arg(long = "org", value_name = "ORG_ID")]
    organization: Option<OrganizationId>,
    /// A user: their keys.
    #[arg(long, value_name = "USER_ID")]
    user: Option<UserId>,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// The key value; `-` reads it from standard input (keeps it out of
    /// shell history). A `SecretString`, so `Debug` never shows it.
    value: SecretString,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("when").args(["at", "clear"])))]
struct ExpireArgs {
    /// The key's id.
    id: ApiKeyId,
    /// Expire at this time instead of now (RFC 3339).
    #[arg(long, value_name = "T")]
    at: Option<Timestamp>,
    /// Clear a scheduled expiry.
    #[arg(long)]
    clear: bool,
}

#[derive(Debug, Args)]
struct RevokeArgs {
    /// The key's id.
    id: ApiKeyId,
}

pub(crate) fn run(args: KeysArgs) -> ExitCode {
    let json = args.service.json;
    remote::run(&args.service, move |client| async move {
        match args.command {
            KeysCommand::Create(a) => create(&client, a, json).await,
            KeysCommand::List(a) => list(&client, a, json).await,
            KeysCommand::Validate(a) => validate(&client, a, json).await,
            KeysCommand::Expire(a) => expire(&client, a, json).await,
            KeysCommand::Revoke(a) => revoke(&client, a, json).await,
        }
    })
}

async fn create(client: &Client, a: CreateArgs, json: bool) -> Result<(), CommandError> {
    let request = match a.user {
        None => client.create_organization_api_key(
            &a.organization,
            CreateOrganizationApiKey {
                name: a.name,
                permissions: a.permissions,
                expires_at: a.expires_at,
            },
        ),
        Some(user) => client.create_user_api_key(
            &user,
            CreateUserApiKey {
                name: a.name,
                organization_id: a.organization,
                permissions: a.permissions,
                expires_at: a.expires_at,
            },
        ),
    };
    let request = match a.idempotency_key {
        Some(key) => request.idempotency_key(key),
        None => request,
    };
    let created = request.await?;
    // The value is printed on purpose: this is the one time it exists outside
    // the service, and the person or script that asked must store it.
    print(|out| {
        if json {
            return write_json(out, &created);
        }
        let mut details = key_details(&created);
        details.row(vec![
            "value".into(),
            created.value.expose_secret().to_owned(),
        ]);
        details.write(out)?;
        writeln!(out)?;
        writeln!(out, "Store the value now: it is not shown again.")
    })
}

async fn list(client: &Client, a: ListArgs, json: bool) -> Result<(), CommandError> {
    let params = ListParams {
        limit: Some(keygate_types::MAX_LIMIT),
        ..ListParams::default()
    };
    let keys: Vec<ApiKey> = match (a.user, a.organization) {
        (Some(user), organization) => {
            client
                .stream_user_api_keys(&user, organization.as_ref(), params)
                .try_collect()
                .await?
        }
        (None, Some(organization)) => {
            client
                .stream_organization_api_keys(&organization, params)
                .try_collect()
                .await?
        }
        (None, None) => return Err(CommandError::Input("give --org or --user".into())),
    };
    print(|out| {
        if json {
            write_json(out, &keys)
        } else {
            keys_table(&keys).write(out)
        }
    })
}

async fn validate(client: &Client, a: ValidateArgs, json: bool) -> Result<(), CommandError> {
    let value = remote::secret_or_stdin(a.value)?;
    let answer = client.validation(value.expose_secret()).await?;
    let valid = answer.api_key.is_some();
    print(|out| match &answer.api_key {
        _ if json => write_json(out, &answer),
        Some(key) => {
            writeln!(out, "valid")?;
            key_details(key).write(out)
        }
        None => Ok(()),
    })?;
    if valid {
        Ok(())
    } else {
        Err(CommandError::InvalidKey)
    }
}

async fn expire(client: &Client, a: ExpireArgs, json: bool) -> Result<(), CommandError> {
    let expiry = match (a.at, a.clear) {
        (Some(at), _) => Expiry::At(at),
        (None, true) => Expiry::Clear,
        (None, false) => Expiry::Now,
    };
    let key = client.expire_api_key(&a.id, expiry).await?;
    print(|out| {
        if json {
            write_json(out, &key)
        } else {
            key_details(&key).write(out)
        }
    })
}

async fn revoke(client: &Client, a: RevokeArgs, json: bool) -> Result<(), CommandError> {
    client.delete_api_key(&a.id).await?;
    print(|out| {
        if json {
            write_json(out, &json!({"id": a.id, "revoked": true}))
        } else {
            writeln!(out, "revoked {}", a.id)
        }
    })
}
