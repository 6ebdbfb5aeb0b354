//! Cursor pagination over objects kept in id order.
//!
//! Cursors are object ids compared by value: ULIDs sort by creation, so a
//! cursor whose object has since been deleted still marks a place.

use keygate_types::ListMetadata;

/// One page's worth of the list parameters, already checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageRequest {
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
    /// 1 to 100.
    pub(crate) limit: usize,
    /// Oldest first when true; newest first otherwise.
    pub(crate) ascending: bool,
}

/// A page of items and its cursors.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) data: Vec<T>,
    pub(crate) metadata: ListMetadata,
}

impl PageRequest {
    /// Cuts a page out of `items`, which come in ascending id order.
    ///
    /// `after` is set exactly when more items follow the page in the listing
    /// order, `before` exactly when items precede it.
    pub(crate) fn page<'a, T: 'a>(
        &self,
        items: impl DoubleEndedIterator<Item = (&'a str, &'a T)>,
    ) -> Page<&'a T> {
        let listing: Vec<(&str, &T)> = if self.ascending {
            items.collect()
        } else {
            items.rev().collect()
        };
        // "Comes after the cursor in listing order."
        let past = |id: &str, cursor: &str| {
            if self.ascending {
                id > cursor
            } else {
                id < cursor
            }
        };
        let lower = match &self.after {
            Some(c) => listing.partition_point(|(id, _)| !past(id, c)),
            None => 0,
        };
        let upper = match &self.before {
            // Items before the cursor in listing order: not past it and not it.
            Some(c) => listing.partition_point(|(id, _)| !past(id, c) && *id != c.as_str()),
            None => listing.len(),
        }
        .max(lower);
        let limit = self.limit.max(1);
        let (start, end) = if self.before.is_some() && self.after.is_none() {
            (upper.saturating_sub(limit).max(lower), upper)
        } else {
            (lower, (lower + limit).min(upper))
        };
        let slice = &listing[start..end];
        let metadata = ListMetadata {
            before: (start > 0 && !slice.is_empty()).then(|| slice[0].0.to_owned()),
            after: (end < listing.len() && !slice.is_empty())
                .then(|| slice[slice.len() - 1].0.to_owned()),
        };
        Page {
            data: slice.iter().map(|(_, t)| *t).collect(),
            metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("id_{i:03}"), i)).collect()
    }

    fn run(items: &[(String, usize)], req: &PageRequest) -> (Vec<usize>, ListMetadata) {
        let page = req.page(items.iter().map(|(id, v)| (id.as_str(), v)));
        (page.data.into_iter().copied().collect(), page.metadata)
    }

    #[test]
    fn walks_forward_in_both_orders_yielding_each_once() {
        let items = ids(23);
        for ascending in [true, false] {
            let mut seen = Vec::new();
            let mut req = PageRequest {
                limit: 7,
                ascending,
                ..Default::default()
            };
            loop {
                let (data, meta) = run(&items, &req);
                seen.extend(data);
                match meta.after {
                    Some(after) => req.after = Some(after),
                    None => break,
                }
            }
            let mut expected: Vec<usize> = (0..23).collect();
            if !ascending {
                expected.reverse();
            }
            assert_eq!(seen, expected);
        }
    }

    #[test]
    fn before_gives_the_items_just_before_the_cursor() {
        let items = ids(10);
        let req = PageRequest {
            before: Some("id_005".into()),
            limit: 2,
            ascending: true,
            ..Default::default()
        };
        let (data, meta) = run(&items, &req);
        assert_eq!(data, vec![3, 4]);
        assert_eq!(meta.before.as_deref(), Some("id_003"));
        assert_eq!(meta.after.as_deref(), Some("id_004"));
    }

    #[test]
    fn a_deleted_cursor_still_marks_its_place() {
        let items: Vec<_> = ids(10).into_iter().filter(|(_, v)| *v != 4).collect();
        let req = PageRequest {
            after: Some("id_004".into()),
            limit: 3,
            ascending: false,
            ..Default::default()
        };
        assert_eq!(run(&items, &req).0, vec![3, 2, 1]);
    }

    #[test]
    fn last_page_has_no_after_and_first_has_no_before() {
        let items = ids(5);
        let req = PageRequest {
            limit: 5,
            ascending: true,
            ..Default::default()
        };
        let (data, meta) = run(&items, &req);
        assert_eq!(data.len(), 5);
        assert_eq!(meta, ListMetadata::default());
        let (data, meta) = run(&[], &req);
        assert!(data.is_empty());
        assert_eq!(meta, ListMetadata::default());
    }
}
