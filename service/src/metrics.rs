//! Prometheus metrics in the OpenMetrics text format (`prometheus-client`): request
//! counts and latency histograms per route, decisions per outcome, and the index's
//! size, read from the store at scrape time.

use std::time::Duration;

use earmark_index::StoreStats;
use earmark_rights::Decision;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The media type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, seconds.
const BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

/// The `method` label of a request: one of the methods the API knows, or `other`.
/// HTTP lets a client send any token as its method, and each distinct label value is a
/// series kept for the life of the process.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS_S)
}

/// The service's counters.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    decisions: Family<DecisionLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "earmark_http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "earmark_http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "earmark_decisions",
            "Rights decisions by outcome",
            decisions.clone(),
        );
        // Every outcome from the start, so that a rate over them is defined at 0.
        for d in [Decision::Allow, Decision::Block, Decision::Review] {
            let _ = decisions.get_or_create(&DecisionLabels {
                decision: d.as_str(),
            });
        }
        Self {
            registry,
            requests,
            latency,
            decisions,
        }
    }
}

impl Metrics {
    /// Counts a finished request. `route` must come from a bounded set (a route
    /// template, or one word for requests no route matched); a method outside the
    /// usual ones is counted as `other`.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a rights decision.
    pub fn observe_decision(&self, decision: Decision) {
        self.decisions
            .get_or_create(&DecisionLabels {
                decision: decision.as_str(),
            })
            .inc();
    }

    /// The text exposition ([`CONTENT_TYPE`]), with the index's `stats` when available.
    pub fn render(&self, stats: Option<&StoreStats>) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        if let Some(stats) = stats {
            let mut index = Registry::default();
            for (name, help, value) in [
                ("earmark_index_tracks", "Tracks in the index", stats.tracks),
                (
                    "earmark_index_postings",
                    "Postings in the index",
                    stats.postings,
                ),
                ("earmark_index_bytes", "Bytes the index takes", stats.bytes),
            ] {
                let gauge = Gauge::<i64>::default();
                gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
                index.register(name, help, gauge);
            }
            let _ = encode_registry(&mut out, &index);
        }
        let _ = encode_eof(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("/v1/check", "POST", 200, Duration::from_millis(3));
        m.observe_request("/v1/check", "POST", 200, Duration::from_millis(300));
        m.observe_decision(Decision::Block);
        let text = m.render(Some(&StoreStats {
            tracks: 7,
            ..StoreStats::default()
        }));
        assert!(
            text.contains(
                "earmark_http_requests_total{route=\"/v1/check\",method=\"POST\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "earmark_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/v1/check\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "earmark_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/v1/check\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("earmark_decisions_total{decision=\"block\"} 1"));
        assert!(text.contains("earmark_decisions_total{decision=\"review\"} 0"));
        assert!(text.contains("earmark_index_tracks 7"));
        assert!(text.ends_with("# EOF\n"), "{text}");
        m.observe_request("/v1/check", "BREW", 405, Duration::from_millis(1));
        m.observe_request("/v1/check", "get", 405, Duration::from_millis(1));
        assert!(
            m.render(None).contains(
                "earmark_http_requests_total{route=\"/v1/check\",method=\"other\",status=\"405\"} 2"
            ),
            "methods outside the usual ones share one label"
        );
        assert!(
            !Metrics::default()
                .render(None)
                .contains("earmark_index_tracks")
        );
    }
}
