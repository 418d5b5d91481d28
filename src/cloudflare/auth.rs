//! The MCP endpoint's settings as the runtime runs them, built once per isolate so that the OAuth
//! verifier's caches (the issuer's metadata, its key set, verified tokens) live as long as the
//! isolate; and the [`Fetcher`] the verifier reaches the authorization server with (`fetch`, with a
//! time limit: a server that hangs is unavailable, not a hung request).

use std::cell::RefCell;
use std::rc::Rc;

use base64::Engine as _;
use futures::future::{select, Either, LocalBoxFuture};
use worker::{Fetch, Headers, Method, Request, RequestInit};

use super::stubs::platform;
use super::timer::sleep;
use crate::auth::{max_age_secs, AuthSettings, Fetched, Fetcher, NoAuth, OAuthVerifier};
use crate::config::MeshConfig;
use crate::error::{MeshError, Result};
use crate::mcp::endpoint::{EndpointConfig, OAuthResource};

/// How long a call to the authorization server may take.
const AUTH_SERVER_TIMEOUT_MS: u32 = 5_000;

thread_local! {
    static ENDPOINT: RefCell<Option<EndpointConfig>> = const { RefCell::new(None) };
}

/// The endpoint's settings for this isolate (vars do not change while it lives); `tool_scopes` lists
/// the scopes the server's tools declare, for the metadata.
pub fn endpoint_config(config: &MeshConfig, tool_scopes: impl FnOnce() -> Vec<String>) -> EndpointConfig {
    if let Some(endpoint) = ENDPOINT.with(|cached| cached.borrow().clone()) {
        return endpoint;
    }
    let mut endpoint =
        EndpointConfig::open(config.origins.clone(), config.max_body_bytes, config.request_state_secret.as_bytes());
    match &config.auth {
        AuthSettings::Off => endpoint.auth = Rc::new(NoAuth),
        AuthSettings::Tokens(tokens) => endpoint.auth = Rc::new(tokens.clone()),
        AuthSettings::OAuth(oauth) => {
            let mut scopes_supported = oauth.required_scopes.clone();
            scopes_supported.extend(tool_scopes());
            scopes_supported.sort();
            scopes_supported.dedup();
            endpoint.oauth = Some(OAuthResource {
                issuer: oauth.issuer.clone(),
                audience: oauth.audience.clone(),
                required_scopes: oauth.required_scopes.clone(),
                scopes_supported,
            });
            endpoint.auth = Rc::new(OAuthVerifier::new(oauth.clone(), WorkerFetcher));
        }
    }
    ENDPOINT.with(|cached| *cached.borrow_mut() = Some(endpoint.clone()));
    endpoint
}

/// Reaches the authorization server with the runtime's `fetch`.
pub struct WorkerFetcher;

impl Fetcher for WorkerFetcher {
    fn get<'a>(&'a self, url: &'a str) -> LocalBoxFuture<'a, Result<Fetched>> {
        Box::pin(async move {
            let headers = Headers::new();
            headers.set("accept", "application/json").map_err(platform("headers"))?;
            let mut init = RequestInit::new();
            init.with_method(Method::Get).with_headers(headers);
            send(Request::new_with_init(url, &init).map_err(platform("auth request"))?).await
        })
    }

    fn post_form<'a>(
        &'a self,
        url: &'a str,
        client: (&'a str, &'a str),
        form: &'a [(&'a str, &'a str)],
    ) -> LocalBoxFuture<'a, Result<Fetched>> {
        Box::pin(async move {
            // RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined and encoded.
            let encode = |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", encode(client.0), encode(client.1)));
            let headers = Headers::new();
            headers.set("accept", "application/json").map_err(platform("headers"))?;
            headers.set("content-type", "application/x-www-form-urlencoded").map_err(platform("headers"))?;
            headers.set("authorization", &format!("Basic {basic}")).map_err(platform("headers"))?;
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form.iter()).finish();
            let mut init = RequestInit::new();
            init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
            send(Request::new_with_init(url, &init).map_err(platform("auth request"))?).await
        })
    }
}

async fn send(request: Request) -> Result<Fetched> {
    let url = request.url().map(|u| u.to_string()).unwrap_or_default();
    let call = Box::pin(async move {
        let mut response = Fetch::Request(request).send().await.map_err(platform("auth fetch"))?;
        let max_age = response.headers().get("cache-control").ok().flatten().as_deref().and_then(max_age_secs);
        let body = response.text().await.map_err(platform("auth response"))?;
        Ok::<_, MeshError>(Fetched { status: response.status_code(), body, max_age_secs: max_age })
    });
    match select(call, sleep(AUTH_SERVER_TIMEOUT_MS)).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => Err(MeshError::AuthUnavailable(format!("{url} did not answer in time"))),
    }
}
