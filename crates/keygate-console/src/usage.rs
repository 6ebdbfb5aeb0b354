//! Each key's requests, read from the service's [`UsageSource`], for the
//! page (figures and a 30-day chart drawn on the server, in SVG: no script
//! needed) and the JSON API.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};
use keygate_auth::usage::{DAYS, KeyUsage, UsageSource};
use keygate_types::{ApiKey, ApiKeyId, Timestamp};
use serde::Serialize;

/// Keys whose figures are read at once.
const IN_FLIGHT: usize = 8;
/// The chart's size, in SVG units: one bar per day.
const BAR_WIDTH: u64 = 4;
const CHART_HEIGHT: u64 = 24;

/// Figures by key id; a key whose figures could not be read has none.
pub(crate) type Figures = HashMap<String, KeyUsage>;

/// Reads the figures of `keys` from `source`, a few at a time. A failure
/// leaves that key out (the page says "–") and is logged by key id.
pub(crate) async fn figures<'a>(
    source: Option<&dyn UsageSource>,
    keys: impl IntoIterator<Item = &'a ApiKey>,
) -> Figures {
    let Some(source) = source else {
        return Figures::new();
    };
    // Owned ids: the futures then borrow nothing but `source`.
    let ids: Vec<ApiKeyId> = keys.into_iter().map(|key| key.id.clone()).collect();
    let read: Vec<(ApiKeyId, Result<KeyUsage, _>)> = stream::iter(ids)
        .map(|id| async move {
            let read = source.usage(&id).await;
            (id, read)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    read.into_iter()
        .filter_map(|(id, read)| match read {
            Ok(usage) => Some((id.to_string(), usage)),
            Err(error) => {
                tracing::warn!(key_id = %id, %error, "request counts unavailable");
                None
            }
        })
        .collect()
}

/// A key's figures in the JSON API.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UsageJson {
    last_24_hours: u64,
    last_30_days: u64,
    /// Requests per day (UTC), oldest first, today last.
    daily: [u64; DAYS],
}

impl From<&KeyUsage> for UsageJson {
    fn from(usage: &KeyUsage) -> Self {
        Self {
            last_24_hours: usage.last_24_hours,
            last_30_days: usage.last_30_days,
            daily: usage.daily,
        }
    }
}

/// A key's figures on the page.
#[derive(Debug, Clone)]
pub(crate) struct UsageView {
    pub(crate) last_24_hours: u64,
    pub(crate) last_30_days: u64,
    pub(crate) bars: Vec<Bar>,
    pub(crate) width: u64,
    pub(crate) height: u64,
}

/// One day of the chart.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) x: u64,
    pub(crate) y: u64,
    pub(crate) width: u64,
    pub(crate) height: u64,
    /// `2026-12-07: 12 requests`, the bar's tooltip and its accessible name.
    pub(crate) title: String,
}

impl UsageView {
    pub(crate) fn of(usage: &KeyUsage, now: Timestamp) -> Self {
        let most = usage.daily.iter().copied().max().unwrap_or(0);
        let today = now.as_offset_date_time().date();
        let bars = usage
            .daily
            .iter()
            .enumerate()
            .map(|(i, &count)| {
                // Scaled to the busiest day; a day with any request shows.
                let height = if most == 0 {
                    0
                } else {
                    (count * CHART_HEIGHT).div_ceil(most)
                };
                let back = i64::try_from(DAYS - 1 - i).unwrap_or(0);
                let day = today - time::Duration::days(back);
                Bar {
                    x: i as u64 * BAR_WIDTH,
                    y: CHART_HEIGHT - height,
                    width: BAR_WIDTH - 1,
                    height,
                    title: format!(
                        "{day}: {count} request{}",
                        if count == 1 { "" } else { "s" }
                    ),
                }
            })
            .collect();
        Self {
            last_24_hours: usage.last_24_hours,
            last_30_days: usage.last_30_days,
            bars,
            width: DAYS as u64 * BAR_WIDTH,
            height: CHART_HEIGHT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_scales_to_the_busiest_day_and_names_each_day() {
        let mut daily = [0; DAYS];
        daily[DAYS - 1] = 10;
        daily[DAYS - 2] = 1;
        let usage = KeyUsage::from_buckets(Timestamp::now(), [], [], None);
        let usage = KeyUsage {
            daily,
            last_30_days: 11,
            ..usage
        };
        let now: Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let view = UsageView::of(&usage, now);
        assert_eq!(view.bars.len(), DAYS);
        let today = &view.bars[DAYS - 1];
        assert_eq!((today.height, today.y), (CHART_HEIGHT, 0));
        assert_eq!(today.title, "2026-12-07: 10 requests");
        assert!(view.bars[DAYS - 2].height > 0, "a quiet day still shows");
        assert_eq!(view.bars[DAYS - 2].title, "2026-12-06: 1 request");
        assert_eq!(view.bars[0].height, 0);
    }
}
