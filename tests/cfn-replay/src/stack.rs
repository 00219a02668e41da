//! `cfn-replay stack`: a whole stack lifecycle in CloudFormation's order, on the simulator, with
//! the policy the template renders for each step's parameters in force (rendered on moto's
//! CloudFormation and read back through IAM: [`crate::rendered`]).
//!
//! The ordering rules, each applied where its code is:
//! - Create: the roles and their policies, then the custom resource that depends on them; a
//!   failed Create is rolled back by deleting what was created, in reverse order.
//! - Update: resources are updated in dependency order, so the function role's policy is updated
//!   before the custom resource; a custom resource whose Update fails is rolled back with its old
//!   properties while the new policy still stands, and the policy is restored after it
//!   (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html>,
//!   <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-rollback-triggers.html>).
//! - A custom resource whose Update returns a new PhysicalResourceId was replaced: the old id gets
//!   its Delete in the cleanup phase, after the rest of the update, under the new policy
//!   (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/crpg-ref-requesttypes-update.html>).
//! - Delete: in reverse dependency order, the custom resource first, then the function and the
//!   roles (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-console-delete-stack.html>).

mod invoke;
pub mod upgrade;

use std::collections::BTreeMap;
use std::io::Write;

use eks_sim::{Scenario, Simulator};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::lambda;
use crate::rendered::{MotoServer, MOTO_ACCOUNT};

pub use crate::stack_args::{parse, StackOptions, Step, USAGE};
use crate::stack_calls::Lifecycle;
use crate::stack_resource::properties;
pub use crate::stack_resource::reconcile_event;

/// The line of one stack operation: its action, the status it left and why, the calls it made.
fn step_line(step: usize, action: String, status: &str, reason: &str, calls: Vec<Value>) -> Value {
    json!({"Step": step, "Action": action, "StackStatus": status, "Reason": reason, "Calls": calls})
}

/// The line of a step not taken: the stack was left where CloudFormation takes no operation.
fn skipped_line(step: usize, what: &Step, status: &str) -> Value {
    json!({"Step": step, "Action": what.action(), "StackStatus": status, "Skipped": format!("the stack is {status}: CloudFormation takes no further operation")})
}

/// Plays the lifecycle; Ok(true) when every step completed without a rollback.
pub async fn run(opts: &StackOptions, out: &mut impl Write, err: &mut impl Write) -> Result<bool> {
    let scenario = match &opts.scenario {
        Some(path) => Scenario::from_file(path).map_err(|source| Error::Scenario {
            path: path.clone(),
            source,
        })?,
        None => Scenario::default_scenario(),
    };
    run_scenario(scenario, opts, out, err).await
}

/// [`run`] on a scenario given as a value (`opts.scenario` is not read).
pub async fn run_scenario(
    scenario: Scenario,
    opts: &StackOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<bool> {
    run_scenario_observed(scenario, opts, out, err, &mut |_, _| {}).await
}

/// [`run_scenario`], with `observe` shown the simulator after each step (by its number), so a
/// test can hold each step to what it did to every cluster.
pub async fn run_scenario_observed(
    mut scenario: Scenario,
    opts: &StackOptions,
    out: &mut impl Write,
    err: &mut impl Write,
    observe: &mut dyn FnMut(usize, &Simulator),
) -> Result<bool> {
    // CloudFormation refuses bad parameters before it creates or updates anything: every step's
    // are checked before anything starts.
    // (With --from-template, once the original stack has given the upgrade its ExternalId.)
    if opts.from_template.is_none() {
        crate::parameters::check_steps(&opts.template, &opts.parameters, &opts.steps)?;
    }
    if let Some(scale) = opts.clock_scale {
        scenario.clock_scale = scale;
    }
    // Everything of the scenario's account moves to moto's, where the template renders: the
    // function's own role included, since CloudFormation answers a stack's caller only from the
    // stack's own account. Parameters naming the old account (a ClusterAdminRoleArn) move too.
    let from = std::mem::replace(&mut scenario.account, MOTO_ACCOUNT.to_string());
    let moved = |text: &str| text.replace(&from, MOTO_ACCOUNT);
    let scenario: Scenario = serde_json::to_string(&scenario)
        .ok()
        .and_then(|t| serde_json::from_str(&moved(&t)).ok())
        .ok_or_else(|| Error::Usage("the scenario does not move to moto's account".into()))?;
    let region = scenario.region.clone();
    let (propagation, clock_scale) = (scenario.iam_propagation_seconds, scenario.clock_scale);
    let function_arn = scenario
        .principals
        .iter()
        .find(|p| p.name == lambda::FUNCTION_PRINCIPAL)
        .map(|p| p.arn.clone())
        .ok_or_else(|| {
            Error::Usage(format!(
                "the scenario has no principal {}",
                lambda::FUNCTION_PRINCIPAL
            ))
        })?;
    let _ = writeln!(
        err,
        "starting moto's CloudFormation (where the template renders) and the simulator"
    );
    let moto = MotoServer::start().map_err(|e| {
        Error::Usage(format!(
            "moto_server ({}): {e}; install scripts/requirements-test.txt into a venv and pass --venv DIR (scripts/test makes .venv at the checkout's root)",
            crate::rendered::tool("MOTO_SERVER", "moto_server").display()
        ))
    })?;
    let sim = Simulator::start(scenario).await.map_err(Error::Simulator)?;
    let clients = lambda::sim_clients(&sim, lambda::FUNCTION_PRINCIPAL).await?;
    let mut life = Lifecycle {
        sim: &sim,
        clients,
        moto,
        template: opts.template.clone(),
        region: region.clone(),
        function_arn,
        counter: 0,
        calls: Vec::new(),
        made: Default::default(),
        secret: None,
        environment: BTreeMap::new(),
    };
    let mut clean = true;
    let sim_ref = &sim;
    // One line a step on stdout, then the observer sees the simulator.
    let mut emit = |out: &mut dyn Write, step: usize, line: Value| -> Result<()> {
        writeln!(out, "{line}").map_err(|e| Error::Write {
            what: "stdout".into(),
            source: e,
        })?;
        observe(step, sim_ref);
        Ok(())
    };

    // Create: roles and policies, then the custom resource.
    let mut params: BTreeMap<String, String> = opts
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), moved(v)))
        .collect();
    let _ = writeln!(err, "step 0: create: rendering the template on moto");
    let mut current = match &opts.from_template {
        Some(file) => {
            let original = upgrade::original(&mut life, file, &mut params)?;
            let given: Vec<(String, String)> = params.clone().into_iter().collect();
            crate::parameters::check_steps(&opts.template, &given, &opts.steps)?;
            original
        }
        None => life.render(&params),
    };
    let stack_id = current.stack_id.clone();
    life.roles_made(&current);
    life.secret_made(&params);
    life.in_force(&current);
    let mut props = properties(&params, &current, &region, life.secret.as_ref());
    let mut id: Option<String> = None;
    let (status, reason) = match &props {
        None => ("CREATE_COMPLETE", String::new()),
        Some(p) => {
            let _ = writeln!(
                err,
                "step 0: create: the custom resource (EKS sees the new role once IAM has propagated it: {:.0} s at --clock-scale {})",
                propagation / clock_scale.max(f64::MIN_POSITIVE),
                clock_scale
            );
            let (ok, pid, reason) = life.call("Create", &stack_id, p, None, None).await;
            id = Some(pid.clone());
            if ok {
                ("CREATE_COMPLETE", String::new())
            } else {
                // The rollback deletes what the failed Create may have made, under the same policy.
                let (deleted, _, _) = life.call("Delete", &stack_id, p, None, Some(&pid)).await;
                life.sim.clear_policies(&life.function_arn);
                (
                    if deleted {
                        "ROLLBACK_COMPLETE"
                    } else {
                        "ROLLBACK_FAILED"
                    },
                    reason,
                )
            }
        }
    };
    clean &= status == "CREATE_COMPLETE";
    let _ = writeln!(err, "create: {status} {reason}");
    // The stack's status as the last operation left it (a reconcile does not change it).
    let mut stack_status = status.to_string();
    emit(
        out,
        0,
        step_line(
            0,
            "create".into(),
            status,
            &reason,
            std::mem::take(&mut life.calls),
        ),
    )?;
    if status != "CREATE_COMPLETE" {
        for (n, step) in upgrade::steps(opts).iter().enumerate() {
            let line = match step {
                // A stack rolled back from its creation can only be deleted: nothing of the
                // custom resource is left to call.
                Step::Delete if status == "ROLLBACK_COMPLETE" => {
                    step_line(n + 1, step.action(), "DELETE_COMPLETE", "", Vec::new())
                }
                _ => skipped_line(n + 1, step, status),
            };
            emit(out, n + 1, line)?;
        }
        return Ok(false);
    }

    for (n, step) in upgrade::steps(opts).iter().enumerate() {
        let n = n + 1;
        if stack_status.ends_with("_FAILED") {
            // CloudFormation takes no operation on a stack left so (but continue-update-rollback).
            emit(out, n, skipped_line(n, step, &stack_status))?;
            continue;
        }
        let _ = writeln!(err, "step {n}: {}", step.action());
        match step {
            Step::Update(changes) => {
                let action = step.action();
                let mut next_params = params.clone();
                next_params.extend(changes.iter().map(|(k, v)| (k.clone(), moved(v))));
                let next = life.render(&next_params);
                life.secret_made(&next_params);
                let next_props = properties(&next_params, &next, &region, life.secret.as_ref());
                // What CloudFormation refuses where moto does not (a role replaced under its own
                // name, an export changed by the upgrade): rolled back before the custom resource.
                let refused = upgrade::refused(opts, n, &current, &next);
                // The roles and the role's policy first (a role the update removes keeps its old
                // policy until the cleanup deletes it after the custom resource).
                life.roles_made(&next);
                if next.roles.iter().any(|(l, _)| l == "MapperRole") {
                    life.in_force(&next);
                }
                let (status, reason) = match (&props, &next_props) {
                    _ if refused.is_some() => {
                        life.in_force(&current);
                        ("UPDATE_ROLLBACK_COMPLETE", refused.unwrap_or_default())
                    }
                    (old, new) if old == new => ("UPDATE_COMPLETE", String::new()),
                    (None, Some(new)) => {
                        let (ok, pid, reason) =
                            life.call("Create", &stack_id, new, None, None).await;
                        id = Some(pid);
                        if ok {
                            ("UPDATE_COMPLETE", String::new())
                        } else {
                            ("UPDATE_ROLLBACK_COMPLETE", reason)
                        }
                    }
                    (Some(old), None) => {
                        // Removed: deleted in the cleanup phase, the function role still there.
                        let (ok, _, reason) = life
                            .call("Delete", &stack_id, old, None, id.as_deref())
                            .await;
                        life.in_force(&next);
                        id = None;
                        (
                            "UPDATE_COMPLETE",
                            if ok {
                                String::new()
                            } else {
                                format!("cleanup: {reason}")
                            },
                        )
                    }
                    (Some(old), Some(new)) => {
                        let old_id = id.clone().unwrap_or_default();
                        let (ok, pid, reason) = life
                            .call("Update", &stack_id, new, Some(old), Some(&old_id))
                            .await;
                        if ok {
                            if pid != old_id {
                                // Replaced: the old id's Delete in the cleanup phase, new policy.
                                let _ = life
                                    .call("Delete", &stack_id, old, None, Some(&old_id))
                                    .await;
                            }
                            id = Some(pid);
                            ("UPDATE_COMPLETE", String::new())
                        } else {
                            // Rolled back with the old properties under the new policy, then
                            // the old policy restored.
                            let (back, _, back_reason) = life
                                .call("Update", &stack_id, old, Some(new), Some(&old_id))
                                .await;
                            life.in_force(&current);
                            if back {
                                ("UPDATE_ROLLBACK_COMPLETE", reason)
                            } else {
                                (
                                    "UPDATE_ROLLBACK_FAILED",
                                    format!("{reason}; rollback: {back_reason}"),
                                )
                            }
                        }
                    }
                    (None, None) => ("UPDATE_COMPLETE", String::new()),
                };
                let _ = writeln!(err, "{action}: {status} {reason}");
                stack_status = status.to_string();
                emit(
                    out,
                    n,
                    step_line(n, action, status, &reason, std::mem::take(&mut life.calls)),
                )?;
                if status == "UPDATE_COMPLETE" {
                    params = next_params;
                    current = next;
                    props = next_props;
                } else {
                    clean = false;
                }
            }
            Step::Reconcile => {
                // The schedule's Input (infra/eks-role-mapper.yaml, ReconcileSchedule): the
                // custom resource's properties, less what it never carries, and its id.
                let report = match (&props, &id) {
                    (Some(p), Some(pid)) => {
                        let event = reconcile_event(&stack_id, pid, p);
                        let ctx = lambda::context(&region, MOTO_ACCOUNT, lambda::INVOCATION_BUDGET);
                        let invocation = eks_role_mapper::Invocation::from(&ctx);
                        Some(
                            eks_role_mapper::reconcile_with(&life.function(), &event, invocation)
                                .await,
                        )
                    }
                    _ => None,
                };
                clean &= !report.as_ref().is_some_and(|r| r.failed());
                let report = serde_json::to_value(&report).unwrap_or_default();
                let _ = writeln!(err, "reconcile: {report}");
                let line = json!({"Step": n, "Action": "reconcile", "StackStatus": stack_status, "Reconcile": report});
                emit(out, n, line)?;
            }
            Step::Invoke(path) => {
                let line =
                    invoke::step(&mut life, n, path, &stack_id, id.as_deref(), &stack_status)
                        .await?;
                let _ = writeln!(
                    err,
                    "invoke {}: {} {}",
                    path.display(),
                    line["Status"],
                    line["Reason"]
                );
                emit(out, n, line)?;
            }
            Step::Delete => {
                let (status, reason) = match &props {
                    None => ("DELETE_COMPLETE", String::new()),
                    Some(p) => {
                        let (ok, _, reason) =
                            life.call("Delete", &stack_id, p, None, id.as_deref()).await;
                        if ok {
                            ("DELETE_COMPLETE", String::new())
                        } else {
                            ("DELETE_FAILED", reason)
                        }
                    }
                };
                if status == "DELETE_COMPLETE" {
                    // Then the function and the roles.
                    life.sim.clear_policies(&life.function_arn);
                }
                clean &= status == "DELETE_COMPLETE";
                let _ = writeln!(err, "delete: {status} {reason}");
                stack_status = status.to_string();
                emit(
                    out,
                    n,
                    step_line(
                        n,
                        "delete".into(),
                        status,
                        &reason,
                        std::mem::take(&mut life.calls),
                    ),
                )?;
            }
        }
    }
    Ok(clean)
}

/// `cfn-replay stack ...`: exit 0 every step completed cleanly, 1 otherwise, 2 usage or setup.
pub async fn main(opts: StackOptions) -> std::process::ExitCode {
    use std::process::ExitCode;
    if let Some(dir) = &opts.venv {
        crate::rendered::use_venv(dir.clone());
    }
    match run(&opts, &mut std::io::stdout(), &mut std::io::stderr()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cfn-replay stack: {e}");
            ExitCode::from(2)
        }
    }
}
