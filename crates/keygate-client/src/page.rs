//! One page of a list, and a stream over all of them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::{StreamExt, TryStreamExt, stream};
use keygate_types::{EventListMetadata, List, ListMetadata, ListParams};

use crate::Error;
use crate::call::Call;

/// One page of a list, with the cursors to its neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items on this page.
    pub data: Vec<T>,
    /// Pass as `before` for the previous page (never set for events).
    pub before: Option<String>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub after: Option<String>,
}

impl<T> Page<T> {
    /// Whether a next page exists.
    pub fn has_next(&self) -> bool {
        self.after.is_some()
    }
}

impl<T> From<List<T, ListMetadata>> for Page<T> {
    fn from(list: List<T, ListMetadata>) -> Self {
        Self {
            data: list.data,
            before: list.list_metadata.before,
            after: list.list_metadata.after,
        }
    }
}

impl<T> From<List<T, EventListMetadata>> for Page<T> {
    fn from(list: List<T, EventListMetadata>) -> Self {
        Self {
            data: list.data,
            before: None,
            after: list.list_metadata.after,
        }
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.data.into_iter()
    }
}

/// Every item of a list, fetched page by page following `after` until it is
/// `None`. Items come in the list's order; an error ends the stream.
///
/// ```
/// use futures_util::TryStreamExt;
/// use keygate_types::ListParams;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let emu = keygate_emulator::Emulator::start().await?;
/// # let org = emu.create_organization("Acme")?.id;
/// # for i in 0..5 { emu.create_organization_key(&org, &format!("k{i}"), &[])?; }
/// # let client = keygate_client::Client::builder()
/// #     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
/// let params = ListParams { limit: Some(2), ..ListParams::default() };
/// let keys: Vec<_> = client.stream_organization_api_keys(&org, params).try_collect().await?;
/// assert_eq!(keys.len(), 5); // three pages
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ItemStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T, Error>> + Send>>,
}

impl<T: Send + 'static> ItemStream<T> {
    /// Follows cursors from `first`: `fetch(cursor)` loads the page after
    /// `cursor` (`None` for the first page).
    pub(crate) fn new<F, Fut>(first: Option<String>, fetch: F) -> Self
    where
        F: Fn(Option<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Page<T>, Error>> + Send + 'static,
    {
        let pages = stream::try_unfold((Some(first), fetch), |(cursor, fetch)| async move {
            // `None`: the last page was read. `Some(c)`: read the page after `c`.
            let Some(cursor) = cursor else {
                return Ok::<_, Error>(None);
            };
            let page = fetch(cursor.clone()).await?;
            // A cursor that does not move would loop for ever: stop there.
            let next = page.after.filter(|after| Some(after) != cursor.as_ref());
            let items = stream::iter(page.data.into_iter().map(Ok::<T, Error>));
            Ok(Some((items, (next.map(Some), fetch))))
        });
        Self {
            inner: pages.try_flatten().boxed(),
        }
    }

    /// Every item of a list whose pages `fetch` loads, from `params.after`
    /// on: `fetch` gets `params` with `after` moved to each next cursor.
    pub(crate) fn paging<F, Fut>(params: ListParams, fetch: F) -> Self
    where
        F: Fn(ListParams) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Page<T>, Error>> + Send + 'static,
    {
        let first = params.after.clone();
        Self::new(first, move |cursor| fetch(with_cursor(&params, cursor)))
    }
}

/// Adds `?before&after&limit&order`.
pub(crate) fn list_query(call: Call, params: &ListParams) -> Call {
    call.query("before", params.before.as_deref())
        .query("after", params.after.as_deref())
        .query("limit", params.limit)
        .query("order", params.order)
}

/// `params` for the page after `cursor` (or the first page, for `None`).
fn with_cursor(params: &ListParams, cursor: Option<String>) -> ListParams {
    match cursor {
        Some(cursor) => params.after(cursor),
        None => params.clone(),
    }
}

impl<T> Stream for ItemStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> fmt::Debug for ItemStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemStream").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn page(data: Vec<u32>, after: Option<&str>) -> Page<u32> {
        Page {
            data,
            before: None,
            after: after.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn follows_after_until_none() {
        let stream = ItemStream::new(None, |cursor| async move {
            Ok(match cursor.as_deref() {
                None => page(vec![1, 2], Some("2")),
                Some("2") => page(vec![3, 4], Some("4")),
                Some("4") => page(vec![5], None),
                Some(other) => panic!("unexpected cursor {other}"),
            })
        });
        let items: Vec<u32> = stream.try_collect().await.unwrap();
        assert_eq!(items, vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn stops_on_a_stuck_cursor_and_on_errors() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let stream = ItemStream::new(Some("x".into()), move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok(page(vec![1], Some("x"))) }
        });
        let items: Vec<u32> = stream.try_collect().await.unwrap();
        assert_eq!(items, vec![1]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let mut stream =
            ItemStream::<u32>::new(None, |_| async { Err(Error::Config("boom".into())) });
        assert!(stream.next().await.unwrap().is_err());
        assert!(stream.next().await.is_none());
    }
}
