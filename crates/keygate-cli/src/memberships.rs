//! `keygate memberships`: what a user key needs, a user's membership in an
//! organization: create, list, deactivate, reactivate, delete.

use std::io::Write;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use futures_util::TryStreamExt;
use keygate_types::{
    CreateMembership, ListParams, MembershipId, OrganizationId, OrganizationMembership, UserId,
};
use serde_json::json;

use crate::output::{memberships_table, write_json};
use crate::remote::{self, CommandError, ServiceArgs, print};

/// Options of `keygate memberships`.
#[derive(Debug, Args)]
pub(crate) struct MembershipsArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: MembershipsCommand,
}

#[derive(Debug, Subcommand)]
enum MembershipsCommand {
    /// Add a user to an organization (active at once).
    Create {
        /// The user.
        #[arg(long, value_name = "USER_ID")]
        user: UserId,
        /// The organization.
        #[arg(long = "org", value_name = "ORG_ID")]
        organization: OrganizationId,
        /// The role's slug [default: member].
        #[arg(long, value_name = "SLUG")]
        role: Option<String>,
    },
    /// List a user's or an organization's memberships.
    #[command(group(ArgGroup::new("of").required(true).multiple(true).args(["user", "organization"])))]
    List {
        /// Memberships of this user.
        #[arg(long, value_name = "USER_ID")]
        user: Option<UserId>,
        /// Memberships in this organization.
        #[arg(long = "org", value_name = "ORG_ID")]
        organization: Option<OrganizationId>,
    },
    /// Deactivate a membership: the user's keys there stop validating.
    Deactivate {
        /// The membership's id.
        id: MembershipId,
    },
    /// Reactivate a membership: the user's keys there validate again.
    Reactivate {
        /// The membership's id.
        id: MembershipId,
    },
    /// Delete a membership, revoking the user's keys in that organization.
    Delete {
        /// The membership's id.
        id: MembershipId,
    },
}

pub(crate) fn run(args: MembershipsArgs) -> ExitCode {
    let json = args.service.json;
    remote::run(&args.service, move |client| async move {
        match args.command {
            MembershipsCommand::Create {
                user,
                organization,
                role,
            } => {
                let m = client
                    .create_membership(CreateMembership {
                        user_id: user,
                        organization_id: organization,
                        role_slug: role,
                    })
                    .await?;
                show_one(&m, json)
            }
            MembershipsCommand::List { user, organization } => {
                let params = ListParams {
                    limit: Some(keygate_types::MAX_LIMIT),
                    ..ListParams::default()
                };
                let all: Vec<OrganizationMembership> = client
                    .stream_memberships(user.as_ref(), organization.as_ref(), params)
                    .try_collect()
                    .await?;
                show_list(&all, json)
            }
            MembershipsCommand::Deactivate { id } => {
                show_one(&client.deactivate_membership(&id).await?, json)
            }
            MembershipsCommand::Reactivate { id } => {
                show_one(&client.reactivate_membership(&id).await?, json)
            }
            MembershipsCommand::Delete { id } => {
                client.delete_membership(&id).await?;
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

fn show_one(item: &OrganizationMembership, json: bool) -> Result<(), CommandError> {
    print(|out| {
        if json {
            write_json(out, item)
        } else {
            memberships_table(std::slice::from_ref(item)).write(out)
        }
    })
}

fn show_list(memberships: &[OrganizationMembership], json: bool) -> Result<(), CommandError> {
    print(|out| {
        if json {
            write_json(out, &memberships)
        } else {
            memberships_table(memberships).write(out)
        }
    })
}
