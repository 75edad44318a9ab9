//! A local Lambda Runtime API (2018-06-01): `/runtime/invocation/next`, `/response`,
//! `/error` and `/init/error`, enough to run the real binary as Lambda would.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// How an invocation ended, as the runtime reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Value, u64)>,
    replies: HashMap<String, Reply>,
    init_error: Option<Value>,
    polls: u64,
}

#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    event_ready: Arc<Notify>,
    replied: Arc<Notify>,
}

fn respond(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime api");
        let api = RuntimeApi {
            addr: listener.local_addr().expect("addr"),
            state: Default::default(),
            event_ready: Default::default(),
            replied: Default::default(),
        };
        let server = api.clone();
        super::serve_http(listener, move |req| {
            let api = server.clone();
            async move { api.route(req).await }
        });
        api
    }

    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
        let parts: Vec<&str> = path
            .trim_start_matches("/2018-06-01/runtime/")
            .split('/')
            .collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["invocation", "next"]) => {
                loop {
                    let notified = self.event_ready.notified();
                    {
                        let mut st = self.state.lock().unwrap();
                        st.polls += 1;
                        if let Some((id, payload, deadline)) = st.queue.pop_front() {
                            let mut r = respond(StatusCode::OK, &payload.to_string());
                            let h = r.headers_mut();
                            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
                            h.insert(
                                "lambda-runtime-deadline-ms",
                                deadline.to_string().parse().unwrap(),
                            );
                            h.insert(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:guardduty-forwarder".parse().unwrap(),
                        );
                            h.insert(
                                "lambda-runtime-trace-id",
                                "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap(),
                            );
                            return r;
                        }
                        st.polls -= 1;
                    }
                    notified.await;
                }
            }
            ("POST", ["invocation", id, "response"]) => {
                self.state
                    .lock()
                    .unwrap()
                    .replies
                    .insert(id.to_string(), Reply::Response(json));
                self.replied.notify_waiters();
                respond(StatusCode::ACCEPTED, "{}")
            }
            ("POST", ["invocation", id, "error"]) => {
                self.state
                    .lock()
                    .unwrap()
                    .replies
                    .insert(id.to_string(), Reply::Error(json));
                self.replied.notify_waiters();
                respond(StatusCode::ACCEPTED, "{}")
            }
            ("POST", ["init", "error"]) => {
                self.state.lock().unwrap().init_error = Some(json);
                self.replied.notify_waiters();
                respond(StatusCode::ACCEPTED, "{}")
            }
            _ => respond(StatusCode::NOT_FOUND, "{}"),
        }
    }

    /// Queues an event with `timeout` to run and waits for the runtime's reply.
    pub async fn invoke_with_timeout(&self, payload: Value, timeout: Duration) -> Reply {
        let id = format!("req-{}", fastrand::u64(..));
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + timeout.as_millis() as u64;
        self.state
            .lock()
            .unwrap()
            .queue
            .push_back((id.clone(), payload, deadline));
        self.event_ready.notify_waiters();
        let wait = async {
            loop {
                let notified = self.replied.notified();
                if let Some(r) = self.state.lock().unwrap().replies.remove(&id) {
                    return r;
                }
                // Wake periodically too: a notify can race with the check above.
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
                self.event_ready.notify_waiters();
            }
        };
        tokio::time::timeout(timeout + Duration::from_secs(30), wait)
            .await
            .expect("the runtime never replied")
    }

    pub async fn invoke(&self, payload: Value) -> Reply {
        self.invoke_with_timeout(payload, Duration::from_secs(60))
            .await
    }

    /// Waits for an `/init/error` report.
    pub async fn init_error(&self, within: Duration) -> Option<Value> {
        let end = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < end {
            if let Some(e) = self.state.lock().unwrap().init_error.clone() {
                return Some(e);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Waits until the runtime is polling `/next` (initialization done).
    pub async fn wait_for_poll(&self, within: Duration) -> bool {
        let end = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < end {
            if self.state.lock().unwrap().polls > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }
}
