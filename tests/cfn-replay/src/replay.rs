//! The replay loop: for each event, what Lambda and CloudFormation would do around the handler.
//! The simulator's state is read before and after every event, which gives the account on stderr
//! and lets a dry run prove that it wrote nothing.

use eks_role_mapper::declared::Declared;
use std::io::Write;
use std::time::Duration;

use eks_sim::{Scenario, Simulator};
use serde_json::Value;

use crate::cli::Options;
use crate::error::{Error, Result};
use crate::{account, event_file, lambda};

/// A stand-in scenario for `--aws`: the simulator then only serves as the response receiver.
const RECEIVER_ONLY: &str = "account: \"000000000000\"\nregion: us-east-1\n";
/// Extra time after the Lambda deadline before the replay gives up waiting for the handler.
const HANDLER_GRACE: Duration = Duration::from_secs(15);

/// How a replay ended (errors that stop it are [`Error`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every event was answered SUCCESS exactly once (or, dry run, planned without a change).
    AllSucceeded,
    /// Some event was answered FAILED, not answered, answered twice, or changed a dry run.
    SomeFailed,
}

fn emit(w: &mut impl Write, what: &str, text: &str) -> Result<()> {
    w.write_all(text.as_bytes())
        .and_then(|_| w.flush())
        .map_err(|source| Error::Write {
            what: what.into(),
            source,
        })
}

/// The state as compared by a dry run: everything the simulator holds.
fn state_text(sim: &Simulator) -> String {
    serde_json::to_string(&sim.state_json()).unwrap_or_default()
}

/// Runs the handler once in its own task, as in Lambda: a panic that escapes it, an error return
/// or a hang is reported (Some), not fatal.
async fn invoke_once(
    clients: &eks_role_mapper::Clients,
    event: Value,
    ctx: lambda_runtime::Context,
) -> Option<String> {
    let task_clients = clients.clone();
    let run = tokio::spawn(async move {
        eks_role_mapper::handle(&task_clients, event, ctx)
            .await
            .map_err(|e| e.to_string())
    });
    match tokio::time::timeout(lambda::INVOCATION_BUDGET + HANDLER_GRACE, run).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(format!(
            "the handler returned an error (Lambda would retry the event): {e}"
        )),
        Ok(Err(join)) if join.is_panic() => Some("the handler panicked".to_string()),
        Ok(Err(join)) => Some(format!("the handler's task failed: {join}")),
        Err(_) => Some("the handler did not return before the deadline".to_string()),
    }
}

/// Replays `opts.events`, writing response lines to `out` and the account to `err`.
pub async fn run(opts: &Options, out: &mut impl Write, err: &mut impl Write) -> Result<Outcome> {
    // Every file is checked before anything starts: a bad file replays nothing.
    let events = opts
        .events
        .iter()
        .map(|p| event_file::read(p).map(|e| (p, e)))
        .collect::<Result<Vec<_>>>()?;
    let scenario = match (&opts.scenario, opts.aws) {
        (Some(path), _) => Scenario::from_file(path).map_err(|source| Error::Scenario {
            path: path.clone(),
            source,
        })?,
        (None, true) => Scenario::parse(RECEIVER_ONLY).map_err(Error::Simulator)?,
        (None, false) => Scenario::default_scenario(),
    };
    let started = std::time::Instant::now();
    // The process's first random bytes (the operating system's getrandom, through ring), drawn
    // here on their own, so the timing line tells that cost from the certificates'.
    let _ = rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut [0u8; 16]);
    let seeded = started.elapsed();
    let sim = Simulator::start(scenario).await.map_err(Error::Simulator)?;
    let receiver_ready = started.elapsed();
    let clients = if opts.aws {
        emit(
            err,
            "stderr",
            "real AWS (standard credential chain); responses are caught by a local receiver\n",
        )?;
        lambda::aws_clients(&sim.ca_pem()).await?
    } else {
        emit(
            err,
            "stderr",
            &format!(
                "simulator: EKS and STS at {} ({}), the function acting as {}\n",
                sim.aws_endpoint_url(),
                opts.scenario
                    .as_ref()
                    .map(|p| format!("scenario {}", p.display()))
                    .unwrap_or_else(|| "default scenario".into()),
                lambda::FUNCTION_PRINCIPAL
            ),
        )?;
        lambda::sim_clients(&sim, lambda::FUNCTION_PRINCIPAL).await?
    };
    // Set-up costs, apart from the handler's work: `RUST_LOG=cfn_replay::timing=debug` (the
    // benchmark reads them to show where a whole process's time goes).
    tracing::debug!(
        target: "cfn_replay::timing",
        rng_seed_ms = seeded.as_secs_f64() * 1000.0,
        receiver_ms = (receiver_ready - seeded).as_secs_f64() * 1000.0,
        clients_ms = (started.elapsed() - receiver_ready).as_secs_f64() * 1000.0,
        "set-up"
    );
    if opts.aws && clients.default_region().is_none() {
        emit(
            err,
            "stderr",
            "no region from the standard chain (AWS_REGION, a profile's region): events without a Region property fail\n",
        )?;
    }
    let region = clients
        .default_region()
        .unwrap_or_else(|| "us-east-1".into());
    let account_id = sim.state_json()["account"]
        .as_str()
        .unwrap_or("000000000000")
        .to_string();

    let mut outcome = Outcome::AllSucceeded;
    let mut previous: Option<String> = None;
    let mut declared: Option<Declared> = None;
    for (index, (path, mut event)) in events.into_iter().enumerate() {
        let key = event_file::receiver_key(&event, index);
        // The request type is registered with the URL: the answer then moves the stack's
        // resource as CloudFormation would (what a later reconcile asks about).
        let url = sim.response_url_for(&key, event["RequestType"].as_str().unwrap_or_default());
        let prepared =
            event_file::prepare(&mut event, url, previous.as_deref().filter(|_| opts.chain));
        let reconcile = eks_role_mapper::reconcile::is_reconcile(&event);
        let mut head = format!(
            "== {}: {} {}\n{}\n",
            path.display(),
            event["RequestType"].as_str().unwrap_or("(no RequestType)"),
            event["ResourceProperties"]["ClusterName"]
                .as_str()
                .map(|c| format!("on cluster {c}"))
                .unwrap_or_default(),
            if reconcile {
                "a reconcile: no ResponseURL, nothing is answered"
            } else {
                "ResponseURL replaced by the local receiver (the event's own URL is not used)"
            },
        );
        if let Some(id) = &prepared.chained_id {
            head.push_str(&format!(
                "PhysicalResourceId taken from the previous response: {id}\n"
            ));
        }
        emit(err, "stderr", &head)?;

        // The replay plays the stack that sends the event: the function declared for that
        // stack and its properties, and CloudFormation holding the resource as it does while
        // sending such a request.
        sim.cloudformation_sends(&event);
        declared = Declared::playing(&event, declared.as_ref());
        let clients = clients.with_declared(declared.clone());
        if reconcile {
            let before = sim.state_json();
            let before_text = state_text(&sim);
            let (line, report) = if opts.dry_run {
                let plan = eks_role_mapper::dry_run_reconcile(&clients, &event).await;
                let line = serde_json::json!({"DryRun": true, "Reconcile": plan.report, "Calls": plan.calls});
                (line, plan.report)
            } else {
                let ctx = lambda::context(&region, &account_id, lambda::INVOCATION_BUDGET);
                let invocation = eks_role_mapper::Invocation::from(&ctx);
                let report = eks_role_mapper::reconcile_with(&clients, &event, invocation).await;
                // The metrics the function prints on stdout in Lambda, shown here on stderr.
                for record in report.metric_records(std::time::SystemTime::now()) {
                    emit(err, "stderr", &format!("metric: {record}\n"))?;
                }
                (serde_json::json!({"Reconcile": report}), report)
            };
            emit(out, "stdout", &format!("{line}\n"))?;
            for c in &report.clusters {
                let detail = c
                    .detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                emit(
                    err,
                    "stderr",
                    &format!("  {}: {:?}{detail}\n", c.cluster, c.outcome),
                )?;
            }
            emit(err, "stderr", &format!("  verdict: {:?}\n", report.verdict))?;
            if report.failed() {
                outcome = Outcome::SomeFailed;
            }
            if opts.dry_run && state_text(&sim) != before_text {
                outcome = Outcome::SomeFailed;
                emit(err, "stderr", "the dry run changed the simulator's state\n")?;
            } else if !opts.dry_run && !opts.aws {
                emit(err, "stderr", &account::account(&before, &sim.state_json()))?;
            }
            continue;
        }

        if opts.dry_run {
            let before = state_text(&sim);
            let planned = eks_role_mapper::dry_run(&clients, event).await;
            let changed = state_text(&sim) != before;
            match planned {
                // One stdout line per event: the answer it would get, and every call.
                Ok(plan) => {
                    emit(err, "stderr", &plan.to_string())?;
                    if plan.response.status != "SUCCESS" {
                        outcome = Outcome::SomeFailed;
                    }
                    let line = serde_json::json!({
                        "DryRun": true,
                        "Status": plan.response.status,
                        "Reason": plan.response.reason,
                        "PhysicalResourceId": plan.response.physical_resource_id,
                        "Data": plan.response.data,
                        "Calls": plan.calls,
                    });
                    emit(out, "stdout", &format!("{line}\n"))?;
                    previous = Some(plan.response.physical_resource_id.clone());
                }
                Err(e) => {
                    outcome = Outcome::SomeFailed;
                    emit(err, "stderr", &format!("would fail: {e}\n"))?;
                    let line = serde_json::json!({"Status": "FAILED", "Reason": e.to_string()});
                    emit(out, "stdout", &format!("{line}\n"))?;
                }
            }
            if changed {
                outcome = Outcome::SomeFailed;
                emit(err, "stderr", "the dry run changed the simulator's state\n")?;
            }
            continue;
        }

        let before = sim.state_json();
        let seen = sim.responses().len();
        // Lambda delivers the invocations a long request hands itself over to: run each in turn.
        let handler_started = std::time::Instant::now();
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            let ctx = lambda::context(&region, &account_id, lambda::INVOCATION_BUDGET);
            if let Some(p) = invoke_once(&clients, event, ctx).await {
                outcome = Outcome::SomeFailed;
                emit(err, "stderr", &format!("{p}\n"))?;
            }
            for (_, next) in sim.take_invocations() {
                emit(err, "stderr", "handed over to a fresh invocation\n")?;
                queue.push(next);
            }
        }
        tracing::debug!(
            target: "cfn_replay::timing",
            handler_ms = handler_started.elapsed().as_secs_f64() * 1000.0,
            "handler"
        );
        let responses = sim.responses();
        let fresh = &responses[seen.min(responses.len())..];
        if sim.rejected_responses() > before["rejected_responses"].as_u64().unwrap_or(0) as usize {
            emit(
                err,
                "stderr",
                "the receiver refused a response PUT (see the mapper's logs)\n",
            )?;
        }
        let Some(first) = fresh.first() else {
            outcome = Outcome::SomeFailed;
            emit(
                err,
                "stderr",
                &format!("no response was sent for {}\n", path.display()),
            )?;
            continue;
        };
        if fresh.len() > 1 {
            outcome = Outcome::SomeFailed;
            emit(
                err,
                "stderr",
                &format!(
                    "{} responses were sent; CloudFormation takes exactly one\n",
                    fresh.len()
                ),
            )?;
        }
        let body = &first.body;
        emit(out, "stdout", &format!("{body}\n"))?;
        if body["Status"] != "SUCCESS" {
            outcome = Outcome::SomeFailed;
            emit(
                err,
                "stderr",
                &format!(
                    "FAILED: {}\n",
                    body["Reason"].as_str().unwrap_or("(no Reason)")
                ),
            )?;
        }
        if !opts.aws {
            emit(err, "stderr", &account::account(&before, &sim.state_json()))?;
        } else if let Some(Value::Object(data)) = body.get("Data") {
            for (k, v) in data {
                emit(err, "stderr", &format!("Data.{k}: {v}\n"))?;
            }
        }
        previous = body["PhysicalResourceId"].as_str().map(str::to_string);
    }
    if let Some(path) = &opts.state_out {
        let text = serde_json::to_string_pretty(&sim.state_json()).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|source| Error::Write {
            what: path.display().to_string(),
            source,
        })?;
    }
    Ok(outcome)
}
