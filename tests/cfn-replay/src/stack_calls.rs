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
        self.environment = r.environment.clone();
        match r.roles.iter().find(|(l, _)| l == "MapperRole") {
            Some((_, role)) => {
                let mut docs = role.documents();
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

    /// The function as the stack in force configures it: the declaration in its environment.
    pub(crate) fn function(&self) -> eks_role_mapper::Clients {
        let env = &self.environment;
        let declared = eks_role_mapper::declared::Declared::from_lookup(
            |k| env.get(k).cloned(),
            Some(&self.region),
        );
        self.clients.with_declared(declared.ok().flatten())
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
