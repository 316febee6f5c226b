//! Amp routes (CLIProxyAPI v6.9's `ampcode` module). Amp is pointed at the gateway
//! (`amp.url`); its model calls under `/api/provider/{provider}/…` are served by the
//! user's own accounts when one serves the (mapped) model, everything else goes to
//! the Amp service with Amp's key ([`reverse`]). Which calls stay local is decided in
//! [`decide`]; facts about Amp are in `providers::amp`.
//!
//! Access: `/api/…` needs a client key like every API route; the root pages
//! (`/threads`, `/docs`, `/settings`, `/auth`) are opened by a browser and carry none.
//! With `restrict-management-to-localhost` Amp's service routes (not the model calls)
//! answer only peers on this machine, judged by the TCP peer address.

mod decide;
mod rename;
mod reverse;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{Method, Uri};

use super::error::{ApiError, Kind, Rejection, respond, route_dialect};
use super::gate::{self, Admitted, Gate};
use super::management::guard::is_local;
use super::proxy::{self, Call};
use super::state::AppState;
use super::usage_tap;
use crate::providers::Operation;
use crate::translate;
use decide::Choice;

pub fn router(state: Arc<AppState>, gate: Gate) -> Router<Arc<AppState>> {
    // Counted by the outer metrics layer (src/server/mod.rs), like every Amp route.
    let gate = Gate {
        metrics: false,
        ..gate
    };
    let models = Router::new()
        .route("/api/provider/{provider}/{*rest}", any(provider))
        .route_layer(middleware::from_fn_with_state(
            Gate {
                usage: true,
                ..gate.clone()
            },
            gate::admit,
        ));
    let mut api = Router::new();
    for name in decide::API_ROUTES {
        api = api
            .route(&format!("/api/{name}"), any(passthrough))
            .route(&format!("/api/{name}/{{*rest}}"), any(passthrough));
    }
    let api = api
        .route_layer(middleware::from_fn_with_state(
            Gate {
                usage: false,
                ..gate
            },
            gate::admit,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), local_only));
    let mut pages = Router::new()
        .route("/threads.rss", get(passthrough))
        .route("/news.rss", get(passthrough));
    for name in decide::ROOT_ROUTES {
        // The login flow posts to `/auth/…`; the pages are only read.
        let method = if *name == "auth" {
            any(passthrough)
        } else {
            get(passthrough)
        };
        pages = pages
            .route(&format!("/{name}"), method.clone())
            .route(&format!("/{name}/{{*rest}}"), method);
    }
    let pages = pages.route_layer(middleware::from_fn_with_state(state, local_only));
    models.merge(api).merge(pages)
}

/// `restrict-management-to-localhost`: by the TCP peer address only; forwarding
/// headers are the client's word and are not consulted. Without a peer address (not
/// served from a socket) the peer is not local.
async fn local_only(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let restricted = state
        .current()
        .config
        .ampcode
        .as_ref()
        .is_some_and(|a| a.restrict_management_to_localhost);
    if restricted {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if !peer.is_some_and(is_local) {
            tracing::warn!(peer = ?peer, path = %req.uri().path(), "Amp route refused: restricted to localhost");
            return respond(
                route_dialect(req.uri().path()),
                &ApiError::new(
                    Kind::Permission,
                    "Access denied: Amp management routes are restricted to localhost (ampcode.restrict-management-to-localhost)",
                ),
            );
        }
    }
    next.run(req).await
}

async fn passthrough(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    Admitted { headers, body }: Admitted,
) -> Response {
    let dialect = route_dialect(uri.path());
    reverse::forward(&state, dialect, method, &uri, &headers, body).await
}

/// Usage records of calls Amp served name this account (provider `amp`).
const AMP_ACCOUNT: &str = "amp";

/// A local answer to a mapped call: in Amp's model name, and recorded under it.
fn mapped_answer(mut resp: Response, asked: &str, json_array: bool) -> Response {
    if let Some(t) = resp.extensions_mut().get_mut::<usage_tap::Trace>() {
        t.set_asked(asked);
    }
    rename::answer_as(resp, asked, json_array)
}

/// A call under `/api/provider/{provider}/…`: local when [`decide`] says so, else Amp.
async fn provider(
    State(state): State<Arc<AppState>>,
    Path((provider, rest)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    Admitted { headers, body }: Admitted,
) -> Response {
    let dialect = route_dialect(uri.path());
    // Gemini carries the model in the path: served locally when an account serves it
    // (or its mapping), else Amp.
    if method == Method::POST
        && let Some(gemini_rest) = rest.strip_prefix("v1beta/")
        && let Ok(mut call) =
            super::routes::gemini_call(gemini_rest, uri.query(), headers.clone(), body.clone())
    {
        let snap = state.current();
        let amp = snap.config.ampcode.clone().unwrap_or_default();
        let op = call.op;
        let served = |m: &str| !snap.registry.resolve(m, op).is_empty();
        if let Choice::Local { model, mapped } = decide::choose(&call.model, &amp, served) {
            tracing::debug!(asked = %call.model, %model, "Amp Gemini call served locally");
            let asked = std::mem::replace(&mut call.model, model);
            let json_array = call.json_array;
            let resp = proxy::execute(&state, call).await;
            return if mapped {
                mapped_answer(resp, &asked, json_array)
            } else {
                resp
            };
        }
    }
    if method == Method::POST
        && let Some((dialect, op)) = decide::local_call(&rest)
    {
        let probe = match translate::probe(&body) {
            Ok(p) => p,
            Err(e) => {
                return Rejection(dialect, ApiError::new(Kind::InvalidRequest, e.to_string()))
                    .into_response();
            }
        };
        let snap = state.current();
        let amp = snap.config.ampcode.clone().unwrap_or_default();
        let served = |m: &str| !snap.registry.resolve(m, op).is_empty();
        if let Choice::Local { model, mapped } = decide::choose(&probe.model, &amp, served) {
            let body = if mapped {
                match translate::rewrite_model(&body, &model) {
                    Ok(b) => b,
                    Err(e) => {
                        return Rejection(
                            dialect,
                            ApiError::new(Kind::InvalidRequest, e.to_string()),
                        )
                        .into_response();
                    }
                }
            } else {
                body
            };
            tracing::debug!(asked = %probe.model, %model, mapped, "Amp model call served locally");
            let call = Call {
                dialect,
                op,
                model,
                stream: probe.stream && op != Operation::CountTokens,
                body,
                headers,
                json_array: false,
            };
            let resp = proxy::execute(&state, call).await;
            return if mapped {
                mapped_answer(resp, &probe.model, false)
            } else {
                resp
            };
        }
        tracing::info!(model = %probe.model, "no local account serves this Amp model call; forwarding to Amp (uses Amp credits)");
    }
    let (usage_dialect, model, stream) = decide::forwarded_usage(&provider, &rest, &body);
    let mut resp = reverse::forward(&state, dialect, method, &uri, &headers, body).await;
    usage_tap::Trace::forwarded(usage_dialect, &model, stream, AMP_ACCOUNT, AMP_ACCOUNT)
        .attach(&mut resp);
    resp
}
