//! A Lambda runtime API on loopback, for running the real `bootstrap` binary as Lambda runs it:
//! it hands out queued events on `GET .../invocation/next` and records what the function posts
//! back (`.../response` or `.../error`), and when it first asked for work (its init is done).
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>
//!
//! With no event left, `next` is held open, as Lambda holds it between invocations.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// What the function posted for one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The invocation's request id.
    pub request_id: String,
    /// `response` or `error`.
    pub kind: String,
    pub body: String,
}

#[derive(Default)]
struct State {
    events: VecDeque<(String, String)>,
    posted: Vec<Posted>,
    first_next: Option<Instant>,
    deadline_ms: Option<u64>,
}

/// A running runtime API; its listener thread lives as long as the process.
pub struct RuntimeApi {
    port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
    function_arn: String,
}

impl RuntimeApi {
    /// Listens on a free loopback port; `function_arn` is what each invocation names as the
    /// invoked function.
    pub fn start(function_arn: &str) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let api = RuntimeApi {
            port,
            state: state.clone(),
            function_arn: function_arn.to_string(),
        };
        let arn = api.function_arn.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, arn) = (state.clone(), arn.clone());
                std::thread::spawn(move || serve(stream, &state, &arn));
            }
        });
        Ok(api)
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queues one invocation of `event` under `request_id`.
    pub fn push(&self, request_id: &str, event: &serde_json::Value) {
        let (lock, ready) = &*self.state;
        lock.lock()
            .expect("runtime API lock")
            .events
            .push_back((request_id.to_string(), event.to_string()));
        ready.notify_all();
    }

    /// Sends this `Lambda-Runtime-Deadline-Ms` with every invocation from now on, instead of a
    /// minute ahead (cargo-lambda's emulator sends 600000: a time in 1970).
    pub fn set_deadline_ms(&self, ms: u64) {
        self.state.0.lock().expect("runtime API lock").deadline_ms = Some(ms);
    }

    /// When the function first asked for an invocation (its init was over), if it did.
    pub fn first_next(&self) -> Option<Instant> {
        self.state.0.lock().expect("runtime API lock").first_next
    }

    /// Waits until `n` invocations were answered (or failed), at most `limit`; answers all that
    /// were posted by then.
    pub fn wait_posted(&self, n: usize, limit: Duration) -> Vec<Posted> {
        let (lock, ready) = &*self.state;
        let until = Instant::now() + limit;
        let mut state = lock.lock().expect("runtime API lock");
        while state.posted.len() < n {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = ready.wait_timeout(state, left).expect("runtime API lock").0;
        }
        state.posted.clone()
    }
}

/// Serves one connection's requests (the runtime client keeps its connection alive).
fn serve(stream: TcpStream, state: &(Mutex<State>, Condvar), function_arn: &str) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut first = String::new();
        if reader.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = first.split_whitespace().nth(1).unwrap_or_default();
        let answer = if first.starts_with("GET") && path.ends_with("/invocation/next") {
            let (request_id, event, fixed) = next(state);
            let deadline = fixed.map(u128::from).unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis()
                    + 60_000
            });
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {request_id}\r\nlambda-runtime-deadline-ms: {deadline}\r\nlambda-runtime-invoked-function-arn: {function_arn}\r\ncontent-length: {}\r\n\r\n{event}", event.len())
        } else {
            let mut parts = path.rsplit('/');
            let kind = parts.next().unwrap_or_default().to_string();
            let request_id = parts.next().unwrap_or_default().to_string();
            if kind == "response" || kind == "error" {
                let (lock, ready) = state;
                lock.lock().expect("runtime API lock").posted.push(Posted {
                    request_id,
                    kind,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                ready.notify_all();
            }
            "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}".to_string()
        };
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The next queued event, waiting for one (as Lambda holds `next` between invocations).
fn next(state: &(Mutex<State>, Condvar)) -> (String, String, Option<u64>) {
    let (lock, ready) = state;
    let mut s = lock.lock().expect("runtime API lock");
    s.first_next.get_or_insert_with(Instant::now);
    loop {
        if let Some((id, event)) = s.events.pop_front() {
            return (id, event, s.deadline_ms);
        }
        s = ready.wait(s).expect("runtime API lock");
    }
}
