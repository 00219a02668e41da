//! Small HTTP plumbing shared by every endpoint of the simulator.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;

/// A fully read request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path exactly as sent, still percent-encoded.
    pub raw_path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    /// A header as a string, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The decoded query parameter.
    pub fn query(&self, name: &str) -> Option<String> {
        crate::sigv4::query_pairs(&self.raw_query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A form field of a query-protocol body (`application/x-www-form-urlencoded`, `+` a
    /// space); None when absent or empty.
    pub fn form_param(&self, key: &str) -> Option<String> {
        crate::sigv4::query_pairs(&String::from_utf8_lossy(&self.body).replace('+', "%20"))
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
    }

    /// Decoded path segments.
    pub fn segments(&self) -> Vec<String> {
        self.raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(crate::sigv4::percent_decode)
            .collect()
    }
}

/// The response type of every handler.
pub type Resp = Response<Full<Bytes>>;

/// A JSON response.
pub fn json(status: u16, body: &Value) -> Resp {
    with_type(status, "application/json", body.to_string())
}

/// A response with a content type.
pub fn with_type(status: u16, content_type: &str, body: String) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}
