//! `keygate users`: create and list users.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use futures_util::TryStreamExt;
use keygate_types::{CreateUser, ListParams, OrganizationId, User};

use crate::output::{users_table, write_json};
use crate::remote::{self, CommandError, ServiceArgs, print};

/// Options of `keygate users`.
#[derive(Debug, Args)]
pub(crate) struct UsersArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create a user.
    Create {
        /// Their email address (unique).
        #[arg(long)]
        email: String,
        /// Given name.
        #[arg(long)]
        first_name: Option<String>,
        /// Family name.
        #[arg(long)]
        last_name: Option<String>,
    },
    /// List users, or only members of one organization.
    List {
        /// Only members of this organization.
        #[arg(long = "org", value_name = "ORG_ID")]
        organization: Option<OrganizationId>,
    },
}

pub(crate) fn run(args: UsersArgs) -> ExitCode {
    let json = args.service.json;
    remote::run(&args.service, move |client| async move {
        match args.command {
            UsersCommand::Create {
                email,
                first_name,
                last_name,
            } => {
                let user = client
                    .create_user(CreateUser {
                        email,
                        first_name,
                        last_name,
                        ..CreateUser::default()
                    })
                    .await?;
                show_one(&user, json)
            }
            UsersCommand::List { organization } => {
                let params = ListParams {
                    limit: Some(keygate_types::MAX_LIMIT),
                    ..ListParams::default()
                };
                let users: Vec<User> = client
                    .stream_users(organization.as_ref(), params)
                    .try_collect()
                    .await?;
                show_list(&users, json)
            }
        }
    })
}

fn show_one(item: &User, json: bool) -> Result<(), CommandError> {
    print(|out| {
        if json {
            write_json(out, item)
        } else {
            users_table(std::slice::from_ref(item)).write(out)
        }
    })
}

fn show_list(users: &[User], json: bool) -> Result<(), CommandError> {
    print(|out| {
        if json {
            write_json(out, &users)
        } else {
            users_table(users).write(out)
        }
    })
}
