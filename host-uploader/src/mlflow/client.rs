//! A small MLflow REST client over ureq: JSON calls, artifact transfer through
//! the server's `mlflow-artifacts` proxy, and retries.
//!
//! Connection errors, timeouts, 429 and 5xx answers are retried with
//! exponential backoff until [`Retry::max_elapsed`] has passed; any other
//! answer is final. That is what lets a drain ride out a server restart: the
//! caller keeps its records until a call returns `Ok`.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// An error answer from the server, in MLflow's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowError {
    /// HTTP status.
    pub status: u16,
    /// MLflow's error code (`RESOURCE_DOES_NOT_EXIST`, ...), or `HTTP_<status>`.
    pub code: String,
    /// The server's message.
    pub message: String,
}

impl fmt::Display for MlflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server answered {} {}: {}",
            self.status, self.code, self.message
        )
    }
}

impl std::error::Error for MlflowError {}

/// Whether `err` is the server saying the thing does not exist.
pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<MlflowError>()
        .is_some_and(|e| e.status == 404 || e.code == "RESOURCE_DOES_NOT_EXIST")
}

/// Whether `err` is the server saying the thing already exists.
pub fn is_already_exists(err: &anyhow::Error) -> bool {
    err.downcast_ref::<MlflowError>()
        .is_some_and(|e| e.code == "RESOURCE_ALREADY_EXISTS")
}

/// How long to keep retrying.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// Delay before the first retry; it doubles each time.
    pub first_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_elapsed: Duration::from_secs(600),
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// What an HTTP request sends.
enum Body<'a> {
    None,
    Json(&'a [u8]),
    File(&'a std::path::Path),
    Bytes(&'a [u8]),
}

/// A client of one tracking server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
    retry: Retry,
    /// Whether retries go unannounced (the caller reports the outcome).
    quiet: bool,
}

/// How long a client keeps trying before it reports a failure.
#[derive(Debug, Clone, Copy)]
enum Patience {
    /// Minutes: a drain rides out a server restart.
    Drain,
    /// Seconds: a person is waiting.
    Interactive,
    /// One short try per call: a delivery loop retries later.
    Background,
}

/// The longest an interactive call takes to report an unreachable or
/// silent server (connect or answer timeouts plus the retries between).
pub const INTERACTIVE_BOUND: Duration = Duration::from_secs(10);

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Largest JSON answer read (search results of many runs can be large).
const MAX_ANSWER: u64 = 512 << 20;

impl Client {
    /// A client of the server at `base` (`http(s)://host:port[/prefix]`).
    /// The bearer token comes from RUNLOG_TRACKING_TOKEN or MLFLOW_TRACKING_TOKEN.
    pub fn new(base: &str) -> Result<Self> {
        Self::with_token(base, Self::env_token())
    }

    /// A client with an explicit token (or none).
    pub fn with_token(base: &str, token: Option<String>) -> Result<Self> {
        Self::build(base, token, Patience::Drain)
    }

    /// A client for a person waiting at a terminal (`runlog history`): an
    /// unreachable or silent server is reported within [`INTERACTIVE_BOUND`],
    /// naming the URI and the cause, instead of being retried for minutes.
    pub fn interactive(base: &str) -> Result<Self> {
        Self::build(base, Self::env_token(), Patience::Interactive)
    }

    /// A client for background delivery (`runlog sync`, `runlog run`'s
    /// delivery loop): each call gives up quickly when the server is away,
    /// since the caller's loop tries again later and nothing waits on it.
    pub fn background(base: &str) -> Result<Self> {
        Self::build(base, Self::env_token(), Patience::Background)
    }

    fn env_token() -> Option<String> {
        ["RUNLOG_TRACKING_TOKEN", "MLFLOW_TRACKING_TOKEN"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|t| !t.trim().is_empty()))
            .map(|t| t.trim().to_string())
    }

    fn build(base: &str, token: Option<String>, patience: Patience) -> Result<Self> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("tracking URI {base:?} is not http(s)://");
        }
        let (connect, response, retry) = match patience {
            Patience::Drain => (Duration::from_secs(10), None, Retry::default()),
            Patience::Interactive => (
                Duration::from_secs(3),
                Some(Duration::from_secs(4)),
                Retry {
                    max_elapsed: Duration::from_secs(4),
                    first_delay: Duration::from_millis(200),
                    max_delay: Duration::from_secs(1),
                },
            ),
            Patience::Background => (
                Duration::from_secs(3),
                Some(Duration::from_secs(60)),
                Retry {
                    max_elapsed: Duration::from_secs(2),
                    first_delay: Duration::from_millis(200),
                    max_delay: Duration::from_secs(1),
                },
            ),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(connect))
            .timeout_recv_response(response)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
            token,
            retry,
            quiet: !matches!(patience, Patience::Drain),
        })
    }

    /// Changes how long calls retry.
    pub fn set_retry(&mut self, retry: Retry) {
        self.retry = retry;
    }

    /// The server's base URI.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs JSON to `/api/2.0/mlflow/<endpoint>`.
    pub fn post(&self, endpoint: &str, body: &Value) -> Result<Value> {
        self.post_raw(endpoint, body.to_string().as_bytes())
    }

    /// POSTs already-encoded JSON to `/api/2.0/mlflow/<endpoint>`.
    pub fn post_raw(&self, endpoint: &str, body: &[u8]) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let bytes = self.request("POST", &url, Body::Json(body), None)?;
        parse_json(&url, &bytes)
    }

    /// GETs `/api/2.0/mlflow/<endpoint>?<query>`.
    pub fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        let url = format!(
            "{}/api/2.0/mlflow/{endpoint}{}",
            self.base,
            encode_query(query)
        );
        let bytes = self.request("GET", &url, Body::None, None)?;
        parse_json(&url, &bytes)
    }

    /// The proxied artifact URL of `artifact_uri` (`mlflow-artifacts:/...`) joined with `path`.
    pub fn artifact_url(&self, artifact_uri: &str, path: &str) -> Result<String> {
        let Some(root) = artifact_uri.strip_prefix("mlflow-artifacts:") else {
            bail!(
                "the server keeps this run's artifacts at {artifact_uri:?}, which runlog cannot reach; \
                 start `mlflow server` with --serve-artifacts (artifact URIs mlflow-artifacts:/...)"
            );
        };
        // mlflow-artifacts://host:port/path names another server; runlog only
        // uses the tracking server itself.
        let root = match root.strip_prefix("//") {
            Some(r) => r.split_once('/').map_or("", |(_, p)| p),
            None => root,
        };
        let mut url = format!("{}/api/2.0/mlflow-artifacts/artifacts", self.base);
        for seg in root
            .split('/')
            .chain(path.split('/'))
            .filter(|s| !s.is_empty())
        {
            url.push('/');
            url.push_str(&encode_segment(seg));
        }
        Ok(url)
    }

    /// Uploads a file's content to `url` (from [`Client::artifact_url`]).
    pub fn put_file(&self, url: &str, path: &std::path::Path) -> Result<()> {
        self.request("PUT", url, Body::File(path), None).map(|_| ())
    }

    /// Uploads bytes to `url` (from [`Client::artifact_url`]).
    pub fn put_bytes(&self, url: &str, data: &[u8]) -> Result<()> {
        self.request("PUT", url, Body::Bytes(data), None)
            .map(|_| ())
    }

    /// Downloads `url` (from [`Client::artifact_url`]) into `out`; returns the byte count.
    pub fn download(&self, url: &str, out: &mut dyn Write) -> Result<u64> {
        let mut n = 0;
        self.request(
            "GET",
            url,
            Body::None,
            Some(&mut |r: &mut dyn Read| {
                n = std::io::copy(r, out)?;
                Ok(())
            }),
        )?;
        Ok(n)
    }

    /// One request with retries. With `sink`, a 200 body is streamed into it
    /// (once; an error while streaming is not retried).
    fn request(
        &self,
        method: &str,
        url: &str,
        body: Body<'_>,
        mut sink: BodySink<'_>,
    ) -> Result<Vec<u8>> {
        let start = Instant::now();
        let mut delay = self.retry.first_delay;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let failure = match self.once(method, url, &body, &mut sink) {
                Ok((_, bytes)) => return Ok(bytes),
                Err(f) => f,
            };
            let (retryable, err) = match failure {
                Failure::Transport(e) => (
                    true,
                    anyhow!("cannot reach the tracking server {} ({e})", self.base),
                ),
                Failure::Status(e) => (e.status >= 500 || e.status == 429, anyhow!(e)),
                Failure::Final(e) => return Err(e.context(format!("{method} {url}"))),
            };
            if !retryable || start.elapsed() + delay > self.retry.max_elapsed {
                return Err(
                    err.context(format!("{method} {url} failed after {attempt} attempt(s)"))
                );
            }
            if !self.quiet && (attempt == 1 || attempt.is_multiple_of(10)) {
                eprintln!("runlog: {method} {url}: {err:#}; retrying");
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(self.retry.max_delay);
        }
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        body: &Body<'_>,
        sink: &mut BodySink<'_>,
    ) -> std::result::Result<(u16, Vec<u8>), Failure> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let resp = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (m, b) => {
                let mut r = match m {
                    "PUT" => self.agent.put(url),
                    _ => self.agent.post(url),
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                match b {
                    Body::None => r.send_empty(),
                    Body::Json(j) => r.header("Content-Type", "application/json").send(*j),
                    Body::Bytes(d) => r
                        .header("Content-Type", "application/octet-stream")
                        .send(*d),
                    Body::File(p) => {
                        let f = File::open(p)
                            .with_context(|| format!("cannot open {}", p.display()))
                            .map_err(Failure::Final)?;
                        r.header("Content-Type", "application/octet-stream").send(f)
                    }
                }
            }
        };
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => return Err(classify(e)),
        };
        let status = resp.status().as_u16();
        if status == 200 {
            if let Some(s) = sink.as_mut() {
                let mut reader = resp.body_mut().as_reader();
                s(&mut reader).map_err(Failure::Final)?;
                return Ok((status, Vec::new()));
            }
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(classify)?;
        if (200..300).contains(&status) {
            return Ok((status, bytes));
        }
        let (code, message) = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => (
                v["error_code"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP_{status}")),
                v["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            ),
            Err(_) => (
                format!("HTTP_{status}"),
                String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned(),
            ),
        };
        Err(Failure::Status(MlflowError {
            status,
            code,
            message,
        }))
    }
}

/// Receives a successful answer's body as it streams in.
type BodySink<'a> = Option<&'a mut dyn FnMut(&mut dyn Read) -> Result<()>>;

enum Failure {
    /// Could not talk to the server (retryable).
    Transport(String),
    /// The server answered with an error.
    Status(MlflowError),
    /// Not worth retrying (bad URL, local file missing, ...).
    Final(anyhow::Error),
}

fn classify(e: ureq::Error) -> Failure {
    use ureq::Error as E;
    match e {
        E::BadUri(_)
        | E::Http(_)
        | E::RequireHttpsOnly(_)
        | E::InvalidProxyUrl
        | E::BodyExceedsLimit(_) => Failure::Final(anyhow!(e)),
        other => Failure::Transport(other.to_string()),
    }
}

fn parse_json(url: &str, bytes: &[u8]) -> Result<Value> {
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(bytes)
        .with_context(|| format!("{url} answered with something that is not JSON"))
}

fn encode_segment(s: &str) -> String {
    crate::protocol::url::percent_encode(s)
}

fn encode_query(q: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in q.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&encode_segment(k));
        out.push('=');
        out.push_str(&encode_segment(v));
    }
    out
}
