//! (d) What users would pick instead of API keys: a signed access token
//! verified on every request by `jsonwebtoken` (aws-lc-rs backend, its
//! fastest), HS256 and RS256 (2,048-bit). The middleware is as thin as the
//! floor's: parse the header, verify signature and claims, insert the claims
//! as an `Arc` principal. The token is shaped like a WorkOS AuthKit access
//! token.
//!
//! The RS256 pair in `keys/` was generated once for this bench
//! (`openssl genrsa -traditional 2048`) and protects nothing.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::Either;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

const RS256_PRIVATE: &[u8] = include_bytes!("keys/rs256_private.pem");
const RS256_PUBLIC: &[u8] = include_bytes!("keys/rs256_public.pem");
const HS256_SECRET: &[u8] = b"bench-only-hs256-secret-32-bytes";
const ISSUER: &str = "https://api.workos.com";

/// The signing algorithm of a bench token.
#[derive(Debug, Clone, Copy)]
pub enum Signing {
    Hs256,
    Rs256,
}

impl Signing {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Rs256 => "RS256",
        }
    }
}

/// The claims of a typical access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    iss: String,
    sub: String,
    sid: String,
    jti: String,
    org_id: String,
    role: String,
    permissions: Vec<String>,
    exp: u64,
    iat: u64,
}

/// The layer for `signing`, and a valid token for it (valid for an hour).
pub fn layer_and_token(signing: Signing) -> (JwtLayer, String) {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        iss: ISSUER.to_owned(),
        sub: "user_01HZY3K2J5QW8N7X6V4T3R2P1M".to_owned(),
        sid: "session_01HZY3K2J5QW8N7X6V4T3R2P1N".to_owned(),
        jti: "01HZY3K2J5QW8N7X6V4T3R2P1P".to_owned(),
        org_id: "org_01HZY3K2J5QW8N7X6V4T3R2P1M".to_owned(),
        role: "member".to_owned(),
        permissions: vec!["posts:read".to_owned(), "posts:write".to_owned()],
        exp: now + 3_600,
        iat: now,
    };
    let (algorithm, encoding, decoding) = match signing {
        Signing::Hs256 => (
            Algorithm::HS256,
            EncodingKey::from_secret(HS256_SECRET),
            DecodingKey::from_secret(HS256_SECRET),
        ),
        Signing::Rs256 => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(RS256_PRIVATE).expect("the bench's RSA private key"),
            DecodingKey::from_rsa_pem(RS256_PUBLIC).expect("the bench's RSA public key"),
        ),
    };
    let token =
        jsonwebtoken::encode(&Header::new(algorithm), &claims, &encoding).expect("a signed token");
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[ISSUER]);
    let layer = JwtLayer {
        key: Arc::new(decoding),
        validation: Arc::new(validation),
    };
    (layer, token)
}

/// Verifies a JWT access token on every request.
#[derive(Clone)]
pub struct JwtLayer {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl<S> Layer<S> for JwtLayer {
    type Service = Jwt<S>;

    fn layer(&self, inner: S) -> Jwt<S> {
        Jwt {
            inner,
            layer: self.clone(),
        }
    }
}

/// The JWT middleware's service.
#[derive(Clone)]
pub struct Jwt<S> {
    inner: S,
    layer: JwtLayer,
}

impl<S> Jwt<S> {
    fn claims(&self, request: &Request<Body>) -> Option<Arc<Claims>> {
        let header = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = header.split_at_checked("Bearer ".len())?;
        if !scheme.eq_ignore_ascii_case("bearer ") {
            return None;
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.layer.key, &self.layer.validation).ok()?;
        Some(Arc::new(data.claims))
    }
}

impl<S> Service<Request<Body>> for Jwt<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.claims(&request) {
            Some(claims) => {
                request.extensions_mut().insert(claims);
                Either::Left(self.inner.call(request))
            }
            None => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Either::Right(ready(Ok(response)))
            }
        }
    }
}
