//! Permission labels: each slug's name and description from the key
//! service's catalogue (`GET /authorization/permissions`), so people read
//! "Write posts" rather than `posts:write`. Which permissions a caller may
//! grant is still the scope's alone; the catalogue only names them.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use keygate_client::Client;
use keygate_types::{ListParams, MAX_LIMIT};
use serde::Serialize;

/// A permission's name and description, for people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Label {
    pub(crate) name: String,
    pub(crate) description: String,
}

/// Labels by slug.
pub(crate) type Labels = HashMap<String, Label>;

/// The environment's labels. A key service without the catalogue, or one
/// that fails to answer it, gives none: the page then shows slugs, as it
/// would for a slug the catalogue does not define.
pub(crate) async fn labels(client: &Client) -> Labels {
    let params = ListParams {
        limit: Some(MAX_LIMIT),
        ..ListParams::default()
    };
    match client
        .stream_permissions(params)
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(all) => all
            .into_iter()
            .map(|p| {
                let label = Label {
                    name: p.name,
                    description: p.description.unwrap_or_default(),
                };
                (p.slug, label)
            })
            .collect(),
        Err(error) => {
            tracing::debug!(%error, "no permission catalogue; the console shows slugs");
            Labels::new()
        }
    }
}
