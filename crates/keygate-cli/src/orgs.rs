//! `keygate orgs`: create, list and delete organizations.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use futures_util::TryStreamExt;
use keygate_client::Client;
use keygate_types::{CreateOrganization, ListParams, Organization, OrganizationId};
use serde_json::json;

use crate::output::{organizations_table, write_json};
use crate::remote::{self, CommandError, ServiceArgs, print};

/// Options of `keygate orgs`.
#[derive(Debug, Args)]
pub(crate) struct OrgsArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: OrgsCommand,
}

#[derive(Debug, Subcommand)]
enum OrgsCommand {
    /// Create an organization.
    Create {
        /// Its display name.
        #[arg(long)]
        name: String,
        /// Your own id for it.
        #[arg(long, value_name = "ID")]
        external_id: Option<String>,
    },
    /// List organizations.
    List,
    /// Delete an organization, revoking all its keys.
    Delete {
        /// The organization's id.
        id: OrganizationId,
    },
}

pub(crate) fn run(args: OrgsArgs) -> ExitCode {
    let json = args.service.json;
    remote::run(&args.service, move |client| async move {
        match args.command {
            OrgsCommand::Create { name, external_id } => {
                let org = client
                    .create_organization(CreateOrganization {
                        name,
                        external_id,
                        metadata: None,
                    })
                    .await?;
                show_one(&org, json)
            }
            OrgsCommand::List => {
                let orgs = all(&client).await?;
                show_list(&orgs, json)
            }
            OrgsCommand::Delete { id } => {
                client.delete_organization(&id).await?;
                print(|out| {
                    if json {
                        write_json(out, &json!({"id": id, "deleted": true}))
                    } else {
                        writeln!(out, "deleted {id}")
                    }
                })
            }
        }
    })
}

async fn all(client: &Client) -> Result<Vec<Organization>, CommandError> {
    let params = ListParams {
        limit: Some(keygate_types::MAX_LIMIT),
        ..ListParams::default()
    };
    Ok(client.stream_organizations(params).try_collect().await?)
}

fn show_one(item: &Organization, json: bool) -> Result<(), CommandError> {
    print(|out| {
        if json {
            write_json(out, item)
        } else {
            organizations_table(std::slice::from_ref(item)).write(out)
        }
    })
}

fn show_list(orgs: &[Organization], json: bool) -> Result<(), CommandError> {
    print(|out| {
        if json {
            write_json(out, &orgs)
        } else {
            organizations_table(orgs).write(out)
        }
    })
}
