//! Faults on a real control plane, for the fault harness (issue 32): its processes killed
//! (SIGKILL) and restarted as a kubelet restarts a static pod, or paused (SIGSTOP) and resumed;
//! and a proxy in front of kube-apiserver (the endpoint DescribeCluster hands out) that cuts,
//! resets or delays a chosen request, or fires a process fault at it, before it reaches the
//! apiserver or after the apiserver answered and before the client gets the answer.
//!
//! The proxy ends TLS with a certificate of the cluster's own CA and opens a new TLS connection
//! to the apiserver for each request, so it sees methods and paths: a fault fires at a point of
//! the mapper's read-modify-write (the GET of aws-auth, the PUT, the PUT's answer), and every
//! firing is recorded with the request it met, so a test asserts that it fired, and where.
//! Without an armed rule it only forwards, and records each request's status (the real 409s).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::process::Child;
use tokio::task::JoinHandle;

use super::{https_request, spawn, ControlPlane, START_TIMEOUT};
use crate::error::{Error, Result};

/// A process of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Etcd,
    Apiserver,
    Authenticator,
}

/// Where a rule fires on a request through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before the request reaches the apiserver.
    Request,
    /// After the apiserver answered (a write is stored), before the client has the answer.
    Answer,
}

/// What a rule does where it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Close the connection without an answer (a NAT gateway dropping it).
    Drop,
    /// Reset the connection (RST).
    Reset,
    /// Wait this long, then go on (a slow path, or one slower than the client's call timeout).
    Delay(Duration),
    /// SIGKILL the component, which restarts at once in the background; the request then goes on
    /// (meeting whatever is left), and an answer is lost with the process.
    Kill(Component),
    /// SIGSTOP the component for this long, then SIGCONT; the request goes on into it.
    Pause(Component, Duration),
}

/// A fault armed on the proxy: the `skip`+1-th request of `method` whose path ends with `path`
/// meets `action` at `when`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: String,
    pub path: String,
    pub when: When,
    pub action: Action,
    pub skip: u32,
}

/// A fault that fired: what, where, on which request, and when.
#[derive(Debug, Clone)]
pub struct Fired {
    pub action: Action,
    pub when: When,
    pub method: String,
    pub path: String,
    pub at: Instant,
}

/// A request that went through the proxy and the status it was answered with (0: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// How one process is started again.
struct Proc {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    log: &'static str,
    pid: u32,
}

/// The fault state one control plane shares with its proxy's tasks.
pub(super) struct Faults {
    procs: Mutex<HashMap<Component, Proc>>,
    restarted: Mutex<Vec<Child>>,
    restarts: Mutex<Vec<JoinHandle<Result<()>>>>,
    rules: Mutex<Vec<Rule>>,
    fired: Mutex<Vec<Fired>>,
    pub(super) passed: Mutex<Vec<Passed>>,
    dir: PathBuf,
    pub(super) endpoint: String,
    ca_pem: String,
    admin_token: String,
    authenticator_port: u16,
    etcd_port: u16,
    pub(super) upstream: Arc<rustls::ClientConfig>,
}

impl Faults {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        dir: PathBuf,
        endpoint: String,
        ca_pem: String,
        admin_token: String,
        authenticator_port: u16,
        etcd_port: u16,
    ) -> Result<Faults> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots
                .add(cert?)
                .map_err(|e| Error::Tls(format!("proxy roots: {e}")))?;
        }
        let upstream = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Faults {
            procs: Mutex::default(),
            restarted: Mutex::default(),
            restarts: Mutex::default(),
            rules: Mutex::default(),
            fired: Mutex::default(),
            passed: Mutex::default(),
            dir,
            endpoint,
            ca_pem,
            admin_token,
            authenticator_port,
            etcd_port,
            upstream: Arc::new(upstream),
        })
    }

    /// Records how `component` was started (its pid now).
    pub(super) fn started(
        &self,
        component: Component,
        program: &std::path::Path,
        args: &[String],
        env: &[(&'static str, String)],
        log: &'static str,
        child: &Child,
    ) {
        let p = Proc {
            program: program.to_path_buf(),
            args: args.to_vec(),
            env: env.to_vec(),
            log,
            pid: child.id().unwrap_or(0),
        };
        lock(&self.procs).insert(component, p);
    }

    pub(super) fn signal(&self, component: Component, signal: &str) -> Result<()> {
        let pid = lock(&self.procs)
            .get(&component)
            .map(|p| p.pid)
            .ok_or_else(|| Error::ControlPlane(format!("{component:?} was never started")))?;
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        match ok {
            true => Ok(()),
            false => Err(Error::ControlPlane(format!(
                "kill -{signal} {component:?} ({pid}) failed"
            ))),
        }
    }

    /// Starts `component` again with its first arguments (its log appended) and waits until it
    /// serves.
    async fn restart(self: Arc<Self>, component: Component) -> Result<()> {
        let watch_events = self.watch_events();
        let child = {
            let procs = lock(&self.procs);
            let p = procs
                .get(&component)
                .ok_or_else(|| Error::ControlPlane(format!("{component:?} was never started")))?;
            spawn(&self.dir, p.log, &p.program, &p.args, &p.env)?
        };
        if let Some(p) = lock(&self.procs).get_mut(&component) {
            p.pid = child.id().unwrap_or(0);
        }
        lock(&self.restarted).push(child);
        self.ready(component, watch_events).await
    }

    /// How many aws-auth watch events the authenticator has logged.
    fn watch_events(&self) -> usize {
        std::fs::read_to_string(self.dir.join("authenticator.log"))
            .map(|l| l.matches("Received aws-auth watch event").count())
            .unwrap_or(0)
    }

    /// Waits until the apiserver is ready (etcd reachable through it) and, after an
    /// authenticator restart, until the new authenticator has read aws-auth.
    async fn ready(&self, component: Component, watch_events: usize) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let port_open = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            let up = match component {
                Component::Authenticator => {
                    port_open(self.authenticator_port) && self.watch_events() > watch_events
                }
                Component::Etcd => port_open(self.etcd_port),
                Component::Apiserver => true,
            } && matches!(
                https_request(
                    &self.endpoint,
                    &self.ca_pem,
                    &self.admin_token,
                    "GET",
                    "/readyz",
                    None
                )
                .await,
                Ok((200, _))
            );
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::ControlPlane(format!(
                    "{component:?} not serving {START_TIMEOUT:?} after its restart"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills `component` and restarts it in the background.
    pub(super) fn kill_and_restart(self: &Arc<Self>, component: Component) -> Result<()> {
        self.signal(component, "KILL")?;
        let me = self.clone();
        let restart = tokio::spawn(async move {
            // The old process must be gone (its ports free) before the new one binds them.
            tokio::time::sleep(Duration::from_millis(100)).await;
            me.restart(component).await
        });
        lock(&self.restarts).push(restart);
        Ok(())
    }

    /// Pauses `component` and resumes it after `d` in the background.
    pub(super) fn pause_for(self: &Arc<Self>, component: Component, d: Duration) -> Result<()> {
        self.signal(component, "STOP")?;
        let me = self.clone();
        let resume = tokio::spawn(async move {
            tokio::time::sleep(d).await;
            me.signal(component, "CONT")
        });
        lock(&self.restarts).push(resume);
        Ok(())
    }

    /// The armed rule for this request at `when`, taken (it fires once), and its firing recorded.
    pub(super) fn take(&self, when: When, method: &str, path: &str) -> Option<Action> {
        let mut rules = lock(&self.rules);
        let i = rules
            .iter()
            .position(|r| r.when == when && r.method == method && path.ends_with(&r.path))?;
        if rules[i].skip > 0 {
            rules[i].skip -= 1;
            return None;
        }
        let rule = rules.remove(i);
        lock(&self.fired).push(Fired {
            action: rule.action.clone(),
            when,
            method: method.to_string(),
            path: path.to_string(),
            at: Instant::now(),
        });
        Some(rule.action)
    }
}

/// A poisoned lock still holds the data: a test that panicked elsewhere must not hide it.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ControlPlane {
    /// Arms a fault on the proxy in front of the apiserver.
    pub fn arm(&self, rule: Rule) {
        lock(&self.faults.rules).push(rule);
    }

    /// The faults armed that have not fired.
    pub fn armed(&self) -> Vec<Rule> {
        lock(&self.faults.rules).clone()
    }

    /// Forgets the armed rules, what fired and what passed.
    pub fn clear_faults(&self) {
        lock(&self.faults.rules).clear();
        lock(&self.faults.fired).clear();
        lock(&self.faults.passed).clear();
    }

    /// Every fault that fired, in order.
    pub fn fired(&self) -> Vec<Fired> {
        lock(&self.faults.fired).clone()
    }

    /// Every request through the proxy, in order, with its status (0: unanswered).
    pub fn passed(&self) -> Vec<Passed> {
        lock(&self.faults.passed).clone()
    }

    /// SIGKILLs a component now and restarts it in the background ([`ControlPlane::settle`]
    /// waits for it).
    pub fn kill(&self, component: Component) -> Result<()> {
        self.faults.kill_and_restart(component)
    }

    /// The process id of a component now (another after a restart).
    pub fn pid(&self, component: Component) -> Option<u32> {
        lock(&self.faults.procs).get(&component).map(|p| p.pid)
    }

    /// SIGSTOPs a component now and SIGCONTs it after `d`.
    pub fn pause(&self, component: Component, d: Duration) -> Result<()> {
        self.faults.pause_for(component, d)
    }

    /// Waits until every restart and resume fired so far is done and the control plane serves.
    pub async fn settle(&self) -> Result<()> {
        let pending: Vec<_> = lock(&self.faults.restarts).drain(..).collect();
        for p in pending {
            p.await
                .map_err(|e| Error::ControlPlane(format!("a restart panicked: {e}")))??;
        }
        self.faults.ready(Component::Apiserver, 0).await
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        for c in lock(&self.restarted).iter_mut() {
            let _ = c.start_kill();
        }
    }
}

/// Kills what was restarted when the control plane goes away (its proxy task may hold the state
/// a while longer).
pub(super) fn stop(faults: &Faults) {
    for r in lock(&faults.restarts).drain(..) {
        r.abort();
    }
    for c in lock(&faults.restarted).iter_mut() {
        let _ = c.start_kill();
    }
}
