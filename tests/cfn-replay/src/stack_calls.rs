//! The stack's world during `cfn-replay stack`: the simulator, moto where the template renders,
//! the function's clients, and the custom-resource requests sent to the handler as CloudFormation
//! sends them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use eks_sim::Simulator;
use serde_json::{json, Value};

use crate::lambda;
use crate::rendered::{render_in, MotoServer, Rendered, MOTO_ACCOUNT};
use crate::stack_resource::Secret;

/// One stack's lifecycle under way.
pub(crate) struct Lifecycle<'a> {
    pub(crate) sim: &'a Simulator,
    pub(crate) clients: eks_role_mapper::Clients,
    pub(crate) moto: MotoServer,
    pub(crate) template: PathBuf,
    pub(crate) region: String,
    pub(crate) function_arn: String,
    pub(crate) counter: u32,
    pub(crate) calls: Vec<Value>,
    /// The service roles made so far.
    pub(crate) made: std::collections::HashSet<String>,
    /// The generated external ID's secret, once made.
    pub(crate) secret: Option<Secret>,
    /// The function's environment as the stack in force renders it (its declaration).
    pub(crate) environment: BTreeMap<String, String>,
}

impl Lifecycle<'_> {
    pub(crate) fn render(&self, params: &BTreeMap<String, String>) -> Rendered {
        let p: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        render_in(&self.moto.url, &self.region, &self.template, "replay", &p)
    }

    /// The service role the template made just now (at stack creation, or a new one on a
    /// replacement) exists from here on, and is young: EKS sees it only once IAM has propagated it.
    pub(crate) fn roles_made(&mut self, r: &Rendered) {
        if let Some((_, role)) = r
            .roles
            .iter()
            .find(|(l, _)| l == "RoleForAccessingEksAndEcr")
        {
            if self.made.insert(role.arn.clone()) {
                self.sim.create_role(&role.arn);
            }
        }
    }

    /// With ExternalId empty the stack has its generated external ID: made once (see [`Secret`]),
    /// in the simulator, where the function reads it.
    pub(crate) fn secret_made(&mut self, params: &BTreeMap<String, String>) {
        let generated = params.get("ExternalId").is_none_or(|v| v.is_empty());
        if generated && self.secret.is_none() {
            let secret = Secret::generate(&self.region, "replay");
            self.sim.put_secret(&secret.arn, &secret.value);
            self.secret = Some(secret);
        }
    }

    /// Puts the function role's rendered policy in force (none with MapRole=false), and the
    /// function's rendered configuration: CloudFormation updates the function with its role.
    pub(crate) fn in_force(&mut self, r: &Rendered) {
        self.in_force_around(r, Some(r));
    }

    /// The policy in force while the custom resource is created, updated, rolled back or
    /// deleted: `r`'s, except the function role's policies of resources that depend on the custom
    /// resource (the template's `MapperPreviousGrant`), which hold `before`'s, or are not there
    /// (None: a Create makes them after the custom resource, a Delete removes them before it).
    /// CloudFormation creates and updates a resource after those it depends on and deletes and
    /// rolls back in the reverse order
    /// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-dependson.html>).
    pub(crate) fn in_force_around(&mut self, r: &Rendered, before: Option<&Rendered>) {
        let after = after_the_custom_resource(&self.template);
        let policies = Self::policies(r).map(|mine| {
            let mut all: Vec<(String, Value)> = mine
                .into_iter()
                .filter(|(name, _)| !after.iter().any(|(a, _)| a == name))
                .collect();
            all.extend(before.map(|b| kept(b, &after)).unwrap_or_default());
            all
        });
        self.put(r, policies);
    }

    /// The function role's inline policies by name (None: no function role).
    fn policies(r: &Rendered) -> Option<Vec<(String, Value)>> {
        r.roles
            .iter()
            .find(|(l, _)| l == "MapperRole")
            .map(|(_, role)| role.policies.clone())
    }

    fn put(&mut self, r: &Rendered, policies: Option<Vec<(String, Value)>>) {
        self.environment = r.environment.clone();
        match policies {
            Some(policies) => {
                let mut docs: Vec<Value> = policies.into_iter().map(|(_, d)| d).collect();
                // moto leaves the statement's `!Ref ExternalIdSecret` out: the secret's ARN, as
                // CloudFormation resolves it.
                for st in docs
                    .iter_mut()
                    .filter_map(|d| d["Statement"].as_array_mut())
                    .flatten()
                {
                    if st["Sid"] == "ReadTheGeneratedExternalId" && st.get("Resource").is_none() {
                        st["Resource"] = json!(self.secret.as_ref().map(|s| s.arn.as_str()));
                    }
                }
                self.sim.set_policies(&self.function_arn, docs)
            }
            None => self.sim.clear_policies(&self.function_arn),
        }
    }

    /// The function as the stack in force configures it: its environment read by the
    /// bootstrap's own init ([`eks_role_mapper::Clients::configured_by`]), so a declaration the
    /// function refuses is answered as Lambda's function would answer it.
    pub(crate) fn function(&self) -> eks_role_mapper::Clients {
        let env = &self.environment;
        self.clients.configured_by(|k| env.get(k).cloned())
    }

    /// Sends one custom-resource request; returns (SUCCESS?, physical id, reason).
    pub(crate) async fn call(
        &mut self,
        kind: &str,
        stack_id: &str,
        props: &Value,
        old: Option<&Value>,
        id: Option<&str>,
    ) -> (bool, String, String) {
        self.counter += 1;
        let request_id = format!("stack-{}-{}", self.counter, kind.to_lowercase());
        let mut props = props.clone();
        props["ServiceToken"] = json!(format!(
            "arn:aws:lambda:{}:{MOTO_ACCOUNT}:function:{}",
            self.region,
            lambda::FUNCTION_NAME
        ));
        let mut e = json!({
            "RequestType": kind,
            "ServiceToken": props["ServiceToken"],
            "ResponseURL": self.sim.response_url_for(&request_id, kind),
            "StackId": stack_id,
            "RequestId": request_id,
            "ResourceType": "Custom::EksRoleMapping",
            "LogicalResourceId": "Mapping",
            "ResourceProperties": props,
        });
        if let Some(o) = old {
            e["OldResourceProperties"] = o.clone();
        }
        if let Some(id) = id {
            e["PhysicalResourceId"] = json!(id);
        }
        let ctx = lambda::context(&self.region, MOTO_ACCOUNT, lambda::INVOCATION_BUDGET);
        let published = self.sim.sns_messages().len();
        // CloudFormation holds the resource in progress while it sends the request.
        self.sim.cloudformation_sends(&e);
        let _ = eks_role_mapper::handle(&self.function(), e, ctx).await;
        let published = self.sim.sns_messages().len() - published;
        let resp = self
            .sim
            .responses()
            .into_iter()
            .rev()
            .find(|r| r.request_id == request_id)
            .map(|r| r.body)
            .unwrap_or_else(|| json!({"Status": "FAILED", "Reason": "no response"}));
        let ok = resp["Status"] == "SUCCESS";
        let reason = resp["Reason"].as_str().unwrap_or("").to_string();
        self.calls.push(json!({
            "RequestType": kind,
            "ClusterName": props["ClusterName"],
            "Status": resp["Status"],
            "Reason": reason,
            "Published": published,
        }));
        (
            ok,
            resp["PhysicalResourceId"]
                .as_str()
                .unwrap_or(id.unwrap_or(""))
                .to_string(),
            reason,
        )
    }
}

/// Each `AWS::IAM::RolePolicy` of `template` that depends on the custom resource `Mapping`
/// (DependsOn: made after it, deleted before it): its PolicyName and its statements' Sids.
pub(crate) fn after_the_custom_resource(template: &std::path::Path) -> Vec<(String, Vec<String>)> {
    use serde_yaml_ng::Value as Yaml;
    let doc: Option<Yaml> = std::fs::read_to_string(template)
        .ok()
        .and_then(|t| serde_yaml_ng::from_str(&t).ok());
    let Some(resources) = doc.as_ref().and_then(|d| d.get("Resources")?.as_mapping()) else {
        return Vec::new();
    };
    let depends = |r: &Yaml| match r.get("DependsOn") {
        Some(Yaml::String(d)) => d == "Mapping",
        Some(Yaml::Sequence(ds)) => ds.iter().any(|d| d.as_str() == Some("Mapping")),
        _ => false,
    };
    // A statement is written plainly or inside `!If [condition, statement, ...]`.
    fn sids(y: &Yaml, out: &mut Vec<String>) {
        match y {
            Yaml::Mapping(m) => {
                if let Some(sid) = m.get("Sid").and_then(Yaml::as_str) {
                    out.push(sid.to_string());
                }
            }
            Yaml::Tagged(t) => sids(&t.value, out),
            Yaml::Sequence(items) => items.iter().for_each(|i| sids(i, out)),
            _ => {}
        }
    }
    resources
        .values()
        .filter(|r| r.get("Type").and_then(Yaml::as_str) == Some("AWS::IAM::RolePolicy"))
        .filter(|r| depends(r))
        .filter_map(|r| {
            let props = r.get("Properties")?;
            let name = props.get("PolicyName")?.as_str()?.to_string();
            let mut found = Vec::new();
            for st in props
                .get("PolicyDocument")?
                .get("Statement")?
                .as_sequence()?
            {
                sids(st, &mut found);
            }
            Some((name, found))
        })
        .collect()
}

/// The policies of `after` as the stack `r` renders them. moto makes no `AWS::IAM::RolePolicy`
/// (and nothing after a custom resource it cannot run), so each is rendered from the function
/// role's own statements of the same Sids, which the template repeats exactly (template_checks).
fn kept(r: &Rendered, after: &[(String, Vec<String>)]) -> Vec<(String, Value)> {
    let statements: Vec<Value> = Lifecycle::policies(r)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, d)| d["Statement"].as_array().cloned())
        .flatten()
        .collect();
    after
        .iter()
        .map(|(name, sids)| {
            let mine: Vec<Value> = statements
                .iter()
                .filter(|st| sids.iter().any(|s| st["Sid"] == s.as_str()))
                .cloned()
                .collect();
            (
                name.clone(),
                json!({"Version": "2012-10-17", "Statement": mine}),
            )
        })
        .filter(|(_, d)| d["Statement"].as_array().is_some_and(|s| !s.is_empty()))
        .collect()
}
