//! The live adapter of the port: EKS through the SDK (`eks`), aws-auth through each cluster's
//! Kubernetes API (`kube_store`) with a bearer token signed here (`token`), as the function's own
//! identity or an assumed cluster-admin role (assumed once per request, shared by every cluster).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::domain::config_map::ConfigMap;
use aws_credential_types::Credentials;
use tokio::sync::OnceCell;

use crate::adapters::clients::Clients;
use crate::adapters::eks;
use crate::adapters::kube_store::ClusterApi;
use crate::adapters::token;
use crate::domain::arn::RoleArn;
use crate::domain::error::{Error, Result};
use crate::domain::held::Association;
use crate::domain::ownership::EntryOwner;
use crate::domain::rbac::{At, Binding};
use crate::ports::{AdminRole, Cloud, ClusterInfo, Connect, StoreError};

/// How often a mode switch in progress is polled.
const SWITCH_POLL: Duration = Duration::from_millis(500);

/// One region of real AWS (or of an endpoint that speaks its APIs).
pub struct Live {
    clients: Clients,
    region: String,
    eks: aws_sdk_eks::Client,
    admin: Option<AdminRole>,
    kube: OnceCell<(Credentials, String)>,
    apis: Mutex<HashMap<String, Arc<ClusterApi>>>,
}

impl Connect for Clients {
    type Cloud = Live;

    fn default_region(&self) -> Option<String> {
        Clients::default_region(self)
    }

    fn declared(&self) -> Option<crate::domain::declared::Declared> {
        Clients::declared(self).cloned()
    }

    fn connect(&self, region: &str, admin: Option<AdminRole>) -> Live {
        Live {
            eks: self.eks(region),
            clients: self.clone(),
            region: region.to_string(),
            admin,
            kube: OnceCell::new(),
            apis: Mutex::new(HashMap::new()),
        }
    }
}

impl Live {
    /// The identity used for the Kubernetes API and its credentials, assumed once per request.
    async fn kube_credentials(&self) -> Result<&(Credentials, String)> {
        self.kube
            .get_or_try_init(|| async {
                let Some(admin) = &self.admin else {
                    return Ok((
                        self.clients.own_credentials().await?,
                        "the function's role".to_string(),
                    ));
                };
                let out = self
                    .clients
                    .sts(&self.region)
                    .assume_role()
                    .role_arn(admin.role.as_str())
                    .role_session_name("eks-role-mapper")
                    .set_external_id(admin.external_id.clone())
                    .send()
                    .await
                    .map_err(|e| eks::aws_error("AssumeRole ClusterAdminRoleArn", e))?;
                let c = out.credentials.ok_or_else(|| Error::Aws {
                    operation: "AssumeRole".into(),
                    message: "no credentials returned".into(),
                })?;
                let creds = Credentials::new(
                    c.access_key_id,
                    c.secret_access_key,
                    Some(c.session_token),
                    None,
                    "assume-role",
                );
                Ok((creds, admin.role.as_str().to_string()))
            })
            .await
    }

    /// The Kubernetes client of one cluster, with a token signed for it (made once per request).
    async fn cluster_api(&self, info: &ClusterInfo) -> Result<Arc<ClusterApi>> {
        if let Some(api) = self
            .apis
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&info.name)
        {
            return Ok(api.clone());
        }
        let (creds, identity) = self.kube_credentials().await?;
        let token = token::bearer_token(
            creds,
            &self.region,
            &info.name,
            SystemTime::now(),
            self.clients.use_fips(),
        )?;
        let api = Arc::new(ClusterApi::new(info, token, identity.clone())?);
        self.apis
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(info.name.clone(), api.clone());
        Ok(api)
    }
}

impl Cloud for Live {
    async fn list_clusters(&self) -> Result<Vec<String>> {
        eks::list_clusters(&self.eks).await
    }

    async fn describe(&self, cluster: &str) -> Result<Option<ClusterInfo>> {
        eks::describe(&self.eks, cluster).await
    }

    async fn create_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
        kubernetes_groups: &[String],
        username: Option<&str>,
    ) -> Result<bool> {
        let extra = (kubernetes_groups, username);
        eks::create_access_entry(&self.eks, cluster, role, owner, extra).await
    }

    async fn access_entry_owner(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
    ) -> Result<EntryOwner> {
        eks::access_entry_owner(&self.eks, cluster, role, owner).await
    }

    async fn associate_policy(
        &self,
        cluster: &str,
        role: &RoleArn,
        policy: &str,
        namespaces: &[String],
    ) -> Result<()> {
        eks::associate_policy(&self.eks, cluster, role, policy, namespaces).await
    }

    async fn disassociate_policy(&self, cluster: &str, role: &RoleArn, policy: &str) -> Result<()> {
        eks::disassociate_policy(&self.eks, cluster, role, policy).await
    }

    async fn associations(&self, cluster: &str, role: &RoleArn) -> Result<Vec<Association>> {
        eks::associations(&self.eks, cluster, role).await
    }

    async fn tag_entry(
        &self,
        _cluster: &str,
        entry_arn: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        eks::tag_entry(&self.eks, entry_arn, tags).await
    }

    async fn untag_entry(&self, _cluster: &str, entry_arn: &str, keys: &[String]) -> Result<()> {
        eks::untag_entry(&self.eks, entry_arn, keys).await
    }

    async fn update_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
        kubernetes_groups: &[String],
        username: Option<&str>,
    ) -> Result<()> {
        eks::update_access_entry(&self.eks, cluster, role, kubernetes_groups, username).await
    }

    async fn delete_access_entry(&self, cluster: &str, role: &RoleArn) -> Result<bool> {
        eks::delete_access_entry(&self.eks, cluster, role).await
    }

    async fn enable_access_entries(&self, cluster: &str) -> Result<()> {
        eks::enable_access_entries(&self.eks, cluster, SWITCH_POLL).await
    }

    async fn read_aws_auth(&self, info: &ClusterInfo) -> Result<Option<ConfigMap>, StoreError> {
        self.cluster_api(info).await?.read().await
    }

    async fn write_aws_auth(
        &self,
        info: &ClusterInfo,
        object: ConfigMap,
        create: bool,
    ) -> Result<ConfigMap, StoreError> {
        self.cluster_api(info).await?.write(&object, create).await
    }

    async fn read_binding(
        &self,
        info: &ClusterInfo,
        at: &At,
    ) -> Result<Option<Binding>, StoreError> {
        self.cluster_api(info).await?.binding(at).await
    }

    async fn owned_bindings(
        &self,
        info: &ClusterInfo,
        owner: &str,
    ) -> Result<Vec<Binding>, StoreError> {
        self.cluster_api(info).await?.owned_bindings(owner).await
    }

    async fn write_binding(
        &self,
        info: &ClusterInfo,
        binding: &Binding,
    ) -> Result<bool, StoreError> {
        self.cluster_api(info).await?.write_binding(binding).await
    }

    async fn delete_binding(&self, info: &ClusterInfo, at: &At) -> Result<bool, StoreError> {
        self.cluster_api(info).await?.delete_binding(at).await
    }

    async fn namespace_exists(&self, info: &ClusterInfo, name: &str) -> Result<bool, StoreError> {
        self.cluster_api(info).await?.namespace_exists(name).await
    }
}
