//! Persists the aws-auth edit through the port: read, edit in memory (`aws_auth`), write with the
//! `resourceVersion` read (409 Conflict: re-read and retry, bounded, with jitter), create when
//! missing, and read back from the write's answer. The owner annotation is written with the entry.
//!
//! A Kubernetes API that does not answer (an API server restarting, etcd without a leader, a
//! connection dropped or reset, a call past its timeout) or answers 5xx/429 is retried with a
//! growing pause for as long as the request may go on ([`UNREACHABLE_WINDOW`]): when this
//! invocation's time runs out first, the request continues in a fresh one (`Error::Pending`).
//! Every attempt starts with a fresh read, so a write whose answer was lost is found done and
//! is never made twice.

use std::time::{Duration, Instant};

use crate::domain::config_map::{ConfigMap, ObjectMeta};

use crate::domain::arn::RoleArn;
use crate::domain::aws_auth::{self, Change, MapRoles, CONFIG_MAP_NAME, NAMESPACE};
use crate::domain::error::{Error, Result};
use crate::domain::ownership::owner_annotation;
use crate::ports::{Cloud, ClusterInfo, StoreError};

/// How many times a conflicting write is retried.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long one request keeps retrying a Kubernetes API that does not answer (or answers 5xx or
/// 429), counted from when it was first received, across invocations: an API server restart or
/// an etcd leader election takes seconds to a minute; longer, the cluster needs a person.
pub const UNREACHABLE_WINDOW: Duration = Duration::from_secs(180);
/// How many times a 401 is tried again: the API server answers 401 while the cluster's
/// authenticator restarts (a control-plane upgrade rolls it), for seconds; an identity that is
/// really not mapped fails after these.
const MAX_REFUSALS: u32 = 2;
/// The pause before trying a 401 again.
const REFUSAL_PAUSE: Duration = Duration::from_millis(2500);
/// The longest pause between two attempts at an unreachable API.
const MAX_PAUSE: Duration = Duration::from_secs(3);

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upserted {
    pub change: Change,
    /// The role was mapped before, and not by this resource.
    pub adopted: bool,
    pub conflicts: u32,
}

/// Counts retries of one edit and says when to give up.
pub(crate) struct Retries {
    conflicts: u32,
    transient: u32,
    refusals: u32,
    started: Instant,
}

impl Retries {
    pub(crate) fn new() -> Retries {
        Retries {
            conflicts: 0,
            transient: 0,
            refusals: 0,
            started: Instant::now(),
        }
    }

    /// Waits before the next attempt, or answers the error that ends the edit (for this
    /// invocation: `Error::Pending` hands the request to a fresh one).
    pub(crate) async fn after(&mut self, e: StoreError) -> Result<()> {
        match e {
            StoreError::Conflict => {
                self.conflicts += 1;
                if self.conflicts >= MAX_ATTEMPTS {
                    return Err(Error::TooManyConflicts(MAX_ATTEMPTS));
                }
                tracing::info!(
                    attempt = self.conflicts,
                    "aws-auth changed under us, re-reading"
                );
                backoff(self.conflicts).await;
            }
            StoreError::Transient(e) => {
                let waited = crate::ports::deadline::request_age().max(self.started.elapsed());
                if waited >= UNREACHABLE_WINDOW {
                    return Err(unreachable(e, waited));
                }
                if crate::ports::deadline::time_to_hand_over() {
                    return Err(Error::Pending(format!(
                        "the cluster's Kubernetes API did not answer yet ({e})"
                    )));
                }
                self.transient += 1;
                tracing::info!(
                    attempt = self.transient,
                    reason = %e,
                    "Kubernetes API busy or unreachable, retrying"
                );
                let base = Duration::from_millis(100 * 2u64.pow(self.transient.min(5)));
                let pause = base.min(MAX_PAUSE);
                let jitter = Duration::from_millis(fastrand::u64(0..=pause.as_millis() as u64 / 2));
                crate::ports::deadline::pause(pause / 2 + jitter).await;
            }
            StoreError::Failed(Error::NotAuthorized { status: 401, .. })
                if self.refusals < MAX_REFUSALS && !crate::ports::deadline::time_to_hand_over() =>
            {
                self.refusals += 1;
                tracing::info!(
                    attempt = self.refusals,
                    "401 from the Kubernetes API (its authenticator restarting?), trying again"
                );
                crate::ports::deadline::pause(REFUSAL_PAUSE).await;
            }
            StoreError::Failed(e) => return Err(e),
        }
        Ok(())
    }
}

/// The last transient error, once the request has waited [`UNREACHABLE_WINDOW`]: what a person
/// does next.
fn unreachable(e: Error, waited: Duration) -> Error {
    let message = match e {
        Error::Kube { operation, message } => {
            return Error::Kube {
                operation,
                message: format!(
                    "{message}; still failing after {} s of retries: check that the cluster's API server is up and reachable from the function, then retry",
                    waited.as_secs()
                ),
            }
        }
        other => other.to_string(),
    };
    Error::Kube {
        operation: "aws-auth".into(),
        message,
    }
}

/// Maps the role (upsert, one entry) and records `owner` beside it unless the mapping was already
/// there (adopted).
pub async fn upsert<K: Cloud>(
    cloud: &K,
    info: &ClusterInfo,
    role: &RoleArn,
    username: &str,
    groups: &[String],
    owner: &str,
) -> Result<Upserted> {
    let marker = owner_annotation(owner);
    let mut retries = Retries::new();
    loop {
        let current = match cloud.read_aws_auth(info).await {
            Ok(c) => c,
            Err(e) => {
                retries.after(e).await?;
                continue;
            }
        };
        let data = current
            .as_ref()
            .and_then(|c| c.data.clone())
            .unwrap_or_default();
        let mut annotations = current
            .as_ref()
            .and_then(|c| c.metadata.annotations.clone())
            .unwrap_or_default();
        let edit = aws_auth::upsert(&data, role, username, groups)?;
        // Our own earlier write (a retried Create) is not adoption; nor is the original manual
        // Step 2's entry of a Step 1 stack's role, which the stack takes over, recording its
        // owner even when the entry needs no change (see `seed_entry`).
        let taken_over = edit.adopted && crate::domain::seed_entry::taken_over(&data, role);
        let adopted = edit.adopted && !annotations.contains_key(&marker) && !taken_over;
        let record = adopted_record(owner);
        if adopted && edit.change != Change::Unchanged && !annotations.contains_key(&record) {
            // What the mapping was, written with the first change and never rewritten: Delete
            // puts exactly that back, after any sequence of Updates.
            let before = MapRoles::parse(data.get(aws_auth::MAP_ROLES).map(String::as_str))?;
            let original = MapRoles::from_entries(before.of_role(role)).render()?;
            annotations.insert(record, original);
        }
        if edit.change == Change::Unchanged && (adopted || annotations.contains_key(&marker)) {
            return Ok(Upserted {
                change: Change::Unchanged,
                adopted,
                conflicts: retries.conflicts,
            });
        }
        if !adopted {
            annotations.insert(marker.clone(), role.as_str().to_string());
        }
        let annotations = (!annotations.is_empty()).then_some(annotations);
        let create = current.is_none();
        let mut object = current.unwrap_or_else(|| ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP_NAME.into()),
                namespace: Some(NAMESPACE.into()),
                ..Default::default()
            },
            ..Default::default()
        });
        fits(&edit.data, annotations.as_ref())?;
        object.data = Some(edit.data);
        object.metadata.annotations = annotations;
        match cloud.write_aws_auth(info, object, create).await {
            Ok(stored) => {
                verify(&stored, role, true)?;
                return Ok(Upserted {
                    change: edit.change,
                    adopted,
                    conflicts: retries.conflicts,
                });
            }
            Err(e) => retries.after(e).await?,
        }
    }
}

/// Removes the role's entries if `owner` recorded adding them (and the record with them);
/// returns whether anything was removed.
pub async fn remove<K: Cloud>(
    cloud: &K,
    info: &ClusterInfo,
    role: &RoleArn,
    owner: &str,
) -> Result<bool> {
    let marker = owner_annotation(owner);
    let mut retries = Retries::new();
    loop {
        let mut cm = match cloud.read_aws_auth(info).await {
            Ok(Some(cm)) => cm,
            Ok(None) => return Ok(false),
            Err(e) => {
                retries.after(e).await?;
                continue;
            }
        };
        let record = adopted_record(owner);
        let original = cm
            .metadata
            .annotations
            .as_ref()
            .filter(|a| !a.contains_key(&marker))
            .and_then(|a| a.get(&record))
            .cloned();
        if let Some(original) = original {
            put_back(&mut cm, role, &record, &original)?;
            match cloud.write_aws_auth(info, cm, false).await {
                Ok(stored) => {
                    verify(&stored, role, true)?;
                    tracing::info!("the adopted aws-auth entry put back as it was");
                    return Ok(true);
                }
                Err(e) => {
                    retries.after(e).await?;
                    continue;
                }
            }
        }
        let Some(annotations) = cm
            .metadata
            .annotations
            .as_mut()
            .filter(|a| a.contains_key(&marker))
        else {
            tracing::info!("aws-auth holds no record of ours for this role; leaving it");
            return Ok(false);
        };
        annotations.remove(&marker);
        let data = cm.data.clone().unwrap_or_default();
        if let Some(new_data) = aws_auth::remove(&data, role)? {
            cm.data = Some(new_data);
        }
        match cloud.write_aws_auth(info, cm, false).await {
            Ok(stored) => {
                verify(&stored, role, false)?;
                return Ok(true);
            }
            Err(e) => retries.after(e).await?,
        }
    }
}

/// The aws-auth annotation holding, as `mapRoles` text, the entries an adopted mapping had
/// before the resource with this owner key first wrote it.
pub fn adopted_record(owner: &str) -> String {
    format!("eks-role-mapper/adopted-{owner}")
}

/// Puts the recorded entries back in place of the role's, and drops the record.
fn put_back(cm: &mut ConfigMap, role: &RoleArn, record: &str, original: &str) -> Result<()> {
    let originals = MapRoles::parse(Some(original))
        .map_err(|_| {
            Error::AwsAuth(format!(
                "the annotation {record} (the adopted entry as it was) does not parse; nothing was changed"
            ))
        })?
        .entries()
        .to_vec();
    let mut data = cm.data.clone().unwrap_or_default();
    let mut roles = MapRoles::parse(data.get(aws_auth::MAP_ROLES).map(String::as_str))?;
    roles.put_back(role, originals);
    data.insert(aws_auth::MAP_ROLES.to_string(), roles.render()?);
    cm.data = Some(data);
    if let Some(a) = cm.metadata.annotations.as_mut() {
        a.remove(record);
    }
    Ok(())
}

/// Reads back the object the API server answered the write with (the stored version): it must
/// parse and hold our role (or not, after a removal). No extra round trip is needed for that.
fn verify(stored: &ConfigMap, role: &RoleArn, present: bool) -> Result<()> {
    let text = stored
        .data
        .as_ref()
        .and_then(|d| d.get(aws_auth::MAP_ROLES));
    let roles = aws_auth::MapRoles::parse(text.map(String::as_str))?;
    if roles.contains(role) != present {
        return Err(Error::AwsAuth(
            "the API server stored a mapRoles other than the one written".into(),
        ));
    }
    Ok(())
}

async fn backoff(attempt: u32) {
    let base = 50u64 * 2u64.pow(attempt.min(6));
    let jitter = fastrand::u64(0..=base);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

/// What a ConfigMap may hold: its data at most 1 MiB
/// (<https://kubernetes.io/docs/concepts/configuration/configmap/>: "The data stored in a
/// ConfigMap cannot exceed 1 MiB"; kube-apiserver's `ValidateConfigMap` sums the values' lengths
/// only and answers 422 above it: `real_size_limit` holds that bound on the real apiserver), and
/// the annotations 256 KiB all told, keys and values (`metadata.annotations`: "Too long: must
/// have at most 262144 bytes").
pub const MAX_DATA: usize = 1024 * 1024;
pub const MAX_ANNOTATIONS: usize = 256 * 1024;

/// Refuses, before the write, an aws-auth that would not fit: the Reason says how large it would
/// be, and nothing is written.
fn fits(
    data: &std::collections::BTreeMap<String, String>,
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<()> {
    let size = |m: &std::collections::BTreeMap<String, String>| -> usize {
        m.iter().map(|(k, v)| k.len() + v.len()).sum()
    };
    let data_size: usize = data.values().map(String::len).sum();
    if data_size > MAX_DATA {
        return Err(Error::AwsAuth(format!(
            "with this entry its data would be {data_size} bytes, above the {MAX_DATA} bytes a ConfigMap can hold; remove unused entries from mapRoles/mapUsers, or map this role with an access entry (EnableAccessEntries=true)"
        )));
    }
    let annotations_size = annotations.map_or(0, size);
    if annotations_size > MAX_ANNOTATIONS {
        return Err(Error::AwsAuth(format!(
            "with the owner record its annotations would be {annotations_size} bytes, above the {MAX_ANNOTATIONS} bytes Kubernetes allows; remove stale eks-role-mapper/owner-* annotations, or map this role with an access entry (EnableAccessEntries=true)"
        )));
    }
    Ok(())
}
