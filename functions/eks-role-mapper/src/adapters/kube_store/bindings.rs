//! Our RBAC bindings through kube's typed API: a RoleBinding where the grant names a namespace, a
//! ClusterRoleBinding where it does not. Both have the same parts (`rbac::Binding::to_parts`), so
//! each call is written once over [`Object`].

use std::fmt::Debug;
use std::future::Future;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::Api;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{delete_params, list_params, post_params, ClusterApi};
use crate::domain::rbac::{owned_selector, At, Binding};
use crate::ports::StoreError;

/// A RoleBinding or a ClusterRoleBinding, as far as the mapper reads and writes it.
trait Object:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + 'static
{
    fn of(binding: &Binding) -> Self;
    fn read(&self) -> Option<Binding>;
}

impl Object for RoleBinding {
    fn of(binding: &Binding) -> Self {
        let (metadata, role_ref, subjects) = binding.to_parts();
        RoleBinding {
            metadata,
            role_ref,
            subjects: Some(subjects),
        }
    }
    fn read(&self) -> Option<Binding> {
        Binding::from_parts(&self.metadata, &self.role_ref, self.subjects.as_deref())
    }
}

impl Object for ClusterRoleBinding {
    fn of(binding: &Binding) -> Self {
        let (metadata, role_ref, subjects) = binding.to_parts();
        ClusterRoleBinding {
            metadata,
            role_ref,
            subjects: Some(subjects),
        }
    }
    fn read(&self) -> Option<Binding> {
        Binding::from_parts(&self.metadata, &self.role_ref, self.subjects.as_deref())
    }
}

/// 404 as None: a namespace that does not exist, or an object deleted meanwhile.
async fn or_absent<T>(call: impl Future<Output = kube::Result<T>>) -> kube::Result<Option<T>> {
    match call.await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) async fn get(api: &ClusterApi, at: &At) -> Result<Option<Binding>, StoreError> {
    let client = api.client.clone();
    match &at.namespace {
        Some(ns) => get_in(api, Api::<RoleBinding>::namespaced(client, ns), &at.name).await,
        None => get_in(api, Api::<ClusterRoleBinding>::all(client), &at.name).await,
    }
}

async fn get_in<K: Object>(
    api: &ClusterApi,
    objects: Api<K>,
    name: &str,
) -> Result<Option<Binding>, StoreError> {
    let object = api.call("get RBAC binding", objects.get_opt(name)).await?;
    Ok(object.as_ref().and_then(Object::read))
}

pub(super) async fn owned(api: &ClusterApi, owner: &str) -> Result<Vec<Binding>, StoreError> {
    let selector = owned_selector(owner);
    let mut out = list(
        api,
        Api::<ClusterRoleBinding>::all(api.client.clone()),
        &selector,
    )
    .await?;
    out.extend(list(api, Api::<RoleBinding>::all(api.client.clone()), &selector).await?);
    Ok(out)
}

/// Every page of a list by label.
async fn list<K: Object>(
    api: &ClusterApi,
    objects: Api<K>,
    selector: &str,
) -> Result<Vec<Binding>, StoreError> {
    let mut params = list_params(selector);
    let mut out = Vec::new();
    loop {
        let page = api
            .call("list RBAC bindings", objects.list(&params))
            .await?;
        out.extend(page.items.iter().filter_map(Object::read));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

pub(super) async fn write(api: &ClusterApi, binding: &Binding) -> Result<bool, StoreError> {
    let client = api.client.clone();
    match &binding.at.namespace {
        Some(ns) => write_in(api, Api::<RoleBinding>::namespaced(client, ns), binding).await,
        None => write_in(api, Api::<ClusterRoleBinding>::all(client), binding).await,
    }
}

async fn write_in<K: Object>(
    api: &ClusterApi,
    objects: Api<K>,
    binding: &Binding,
) -> Result<bool, StoreError> {
    let object = K::of(binding);
    let params = post_params();
    let stored = match binding.resource_version {
        None => {
            let create = objects.create(&params, &object);
            api.call("create RBAC binding", or_absent(create)).await?
        }
        Some(_) => {
            let replace = objects.replace(&binding.at.name, &params, &object);
            api.call("replace RBAC binding", or_absent(replace)).await?
        }
    };
    Ok(stored.is_some())
}

pub(super) async fn delete(api: &ClusterApi, at: &At) -> Result<bool, StoreError> {
    let client = api.client.clone();
    match &at.namespace {
        Some(ns) => delete_in(api, Api::<RoleBinding>::namespaced(client, ns), &at.name).await,
        None => delete_in(api, Api::<ClusterRoleBinding>::all(client), &at.name).await,
    }
}

async fn delete_in<K: Object>(
    api: &ClusterApi,
    objects: Api<K>,
    name: &str,
) -> Result<bool, StoreError> {
    let params = delete_params();
    let gone = or_absent(objects.delete(name, &params));
    Ok(api.call("delete RBAC binding", gone).await?.is_some())
}
