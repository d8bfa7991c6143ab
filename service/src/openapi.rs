//! The OpenAPI document: paths and schemas come from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives (collected by the route table in
//! `lib.rs`); this module adds what every route shares: the document's header, the
//! two ways to present a key, and the error answers common to many routes.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi as _, ToSchema};

use crate::error::ErrorBody;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Earmark rights-filtering API",
        description = "Identify recordings and decide whether they may be shared. \
            Authenticate with `Authorization: Bearer <key>` or `X-Api-Key: <key>`. \
            Errors are `{\"error\": {\"code\", \"message\"}}`. TLS is left to a reverse proxy.",
    ),
    components(schemas(ErrorBody)),
    modifiers(&KeySchemes),
    tags(
        (name = "match", description = "What is this, and may it be shared?"),
        (name = "catalog", description = "Labels manage their tracks and policies."),
        (name = "reports", description = "Where a rights holder's music is being caught."),
        (name = "operations", description = "Health, readiness, metrics, this document."),
    ),
)]
struct Header;

/// The security schemes the paths' `security(...)` name.
struct KeySchemes;

impl Modify for KeySchemes {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// The document for `paths` (as the route table collected them).
pub(crate) fn document(paths: OpenApi) -> OpenApi {
    let mut doc = Header::openapi().merge_from(paths);
    add_common_responses(&mut doc);
    doc
}

fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}

/// Every keyed route may answer 400, 401, 403, 429 and 503; every route with a body
/// also 413 and 415. A route's own description of a status wins.
fn add_common_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            if op.security.as_ref().is_none_or(Vec::is_empty) {
                continue;
            }
            let mut common = vec![
                (
                    "400",
                    error("Malformed request: parameters, JSON, audio or fingerprint."),
                ),
                ("401", error("Missing or unknown API key.")),
                (
                    "403",
                    error("The key's role or rights holder may not do this."),
                ),
                (
                    "429",
                    error("The key's rate limit is used up; see `Retry-After`."),
                ),
                (
                    "503",
                    error("Overloaded, timed out, or the index is read-only."),
                ),
            ];
            if op.request_body.is_some() {
                common.push(("413", error("The body is over the size limit.")));
                common.push(("415", error("The content type is not accepted here.")));
            }
            for (status, response) in common {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert(response.into());
            }
        }
    }
}
