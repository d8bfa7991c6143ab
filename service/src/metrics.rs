//! Prometheus text exposition, hand-rolled: request counts and latency histograms per
//! route, decisions per outcome. Index size is read from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use earmark_index::StoreStats;
use earmark_rights::Decision;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS_S.len()],
    count: u64,
    sum_s: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    decisions: BTreeMap<&'static str, u64>,
}

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a finished request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut inner = self.lock();
        *inner
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let h = inner.latency.entry(route.to_owned()).or_default();
        let s = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS_S.iter().zip(h.counts.iter_mut()) {
            if s <= *bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum_s += s;
    }

    /// Counts a rights decision.
    pub fn observe_decision(&self, decision: Decision) {
        *self.lock().decisions.entry(decision.as_str()).or_default() += 1;
    }

    /// The text exposition, with the index's `stats` when available.
    pub fn render(&self, stats: Option<&StoreStats>) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str(
            "# HELP earmark_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE earmark_http_requests_total counter\n");
        for ((route, method, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "earmark_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str(
            "# HELP earmark_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE earmark_http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            let route = escape(route);
            for (bound, count) in BUCKETS_S.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "earmark_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "earmark_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "earmark_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_s
            );
            let _ = writeln!(
                out,
                "earmark_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP earmark_decisions_total Rights decisions by outcome.\n");
        out.push_str("# TYPE earmark_decisions_total counter\n");
        for d in [Decision::Allow, Decision::Block, Decision::Review] {
            let n = inner.decisions.get(d.as_str()).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "earmark_decisions_total{{decision=\"{}\"}} {n}",
                d.as_str()
            );
        }
        if let Some(s) = stats {
            out.push_str("# HELP earmark_index_tracks Tracks in the index.\n# TYPE earmark_index_tracks gauge\n");
            let _ = writeln!(out, "earmark_index_tracks {}", s.tracks);
            out.push_str("# HELP earmark_index_postings Postings in the index.\n# TYPE earmark_index_postings gauge\n");
            let _ = writeln!(out, "earmark_index_postings {}", s.postings);
            out.push_str("# HELP earmark_index_bytes Bytes the index takes.\n# TYPE earmark_index_bytes gauge\n");
            let _ = writeln!(out, "earmark_index_bytes {}", s.bytes);
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        assert!(text.contains(
            "earmark_http_requests_total{route=\"/v1/check\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "earmark_http_request_duration_seconds_bucket{route=\"/v1/check\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "earmark_http_request_duration_seconds_bucket{route=\"/v1/check\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("earmark_decisions_total{decision=\"block\"} 1"));
        assert!(text.contains("earmark_decisions_total{decision=\"review\"} 0"));
        assert!(text.contains("earmark_index_tracks 7"));
    }
}
