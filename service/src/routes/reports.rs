//! `GET /v1/reports`: where a rights holder's music is being caught.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use earmark_rights::timestamp::parse_timestamp;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{blocking, query_params};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::reports::{Report, ReportQuery};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportParams {
    /// Admins: the holder to report on (default: everyone). Labels: their own only.
    rights_holder: Option<String>,
    /// RFC 3339 or unix seconds, inclusive.
    since: Option<String>,
    /// RFC 3339 or unix seconds, exclusive.
    until: Option<String>,
    /// Newest decisions to list, at most 1000 (default 50).
    recent: Option<usize>,
    /// List the decisions after this cursor: the `next` of the previous page.
    before: Option<String>,
}

/// The `since` or `until` parameter, named in the error.
fn time(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(parse_timestamp)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{name}: {e}")))
}

/// Decision counts per track, network and day, and the recent decisions.
///
/// Where a rights holder's music is being caught. Counts are kept per UTC day: they
/// cover the days that `since` and `until` fall in. The decisions are listed newest
/// first, a page at a time: `next` is the cursor of the following page, given back as
/// `before`. Roles: label (its own rights holder), admin.
#[utoipa::path(
    get,
    path = "/v1/reports",
    tag = "reports",
    params(ReportParams),
    responses((status = 200, description = "The report.", body = Report)),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<Report>, ApiError> {
    caller.require(&[Role::Label, Role::Admin])?;
    let p: ReportParams = query_params(&uri)?;
    let rights_holder = match (caller.label_holder(), p.rights_holder) {
        (Some(own), Some(asked)) if asked != own => {
            return Err(ApiError::Forbidden(
                "a label key sees only its own rights holder's reports".into(),
            ));
        }
        (Some(own), _) => Some(own.to_owned()),
        (None, asked) => asked,
    };
    let query = ReportQuery {
        rights_holder,
        since_unix_s: time("since", p.since.as_deref())?,
        until_unix_s: time("until", p.until.as_deref())?,
        recent: p.recent.unwrap_or(50).min(1000),
        before: p.before,
    };
    let log = state.reports.clone();
    let report = blocking(&state, move || {
        log.report(&query).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => {
                ApiError::bad_request("invalid_query", e.to_string())
            }
            _ => ApiError::Internal(format!("cannot read the decision log: {e}")),
        })
    })
    .await?;
    Ok(Json(report))
}
