//! The simulator's HTTP CONNECT proxy: the real host names of AWS, in every partition, served by
//! the simulator (see [`serve_proxy`]).

use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::server::{dispatch, Shared, Target};

/// The simulator's HTTP CONNECT proxy, for real components that only ever call the real AWS host
/// names (the EKS authenticator's STS client: the host of a token's URL must be an STS name, and it
/// has no endpoint flag, pkg/token/token.go `verifyHost`). Their process gets `HTTPS_PROXY`
/// pointing here and `SSL_CERT_FILE` the simulator's CA: Go's default transport honours both. A
/// tunnel to an STS or EKS host is terminated with a certificate for that host from the
/// simulator's CA and served as the AWS endpoint; any other host is refused (403).
pub async fn serve_proxy(
    listener: TcpListener,
    ca: Arc<crate::tls::Authority>,
    shared: Arc<Shared>,
) {
    let configs: Arc<Mutex<std::collections::HashMap<String, Arc<rustls::ServerConfig>>>> =
        Default::default();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (ca, shared, configs) = (ca.clone(), shared.clone(), configs.clone());
        tokio::spawn(async move {
            let _ = tunnel(tcp, &ca, shared, &configs).await;
        });
    }
}

/// The DNS suffixes of the partitions, plain and dual-stack (botocore's `partitions.json`:
/// `dnsSuffix` and `dualStackDnsSuffix` of aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b,
/// aws-iso-e, aws-iso-f and aws-eusc; aws-iam-authenticator's pkg/endpoints/partitions.go names
/// the same).
const PARTITION_DOMAINS: [&str; 10] = [
    "amazonaws.com",
    "api.aws",
    "amazonaws.com.cn",
    "api.amazonwebservices.com.cn",
    "c2s.ic.gov",
    "sc2s.sgov.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
    "amazonaws.eu",
    "api.amazonwebservices.eu",
];

/// Whether the proxy answers for `host`: the names of the services the simulator serves (STS,
/// EKS, CloudFormation, Lambda, SNS, Secrets Manager; their FIPS names: `sts-fips`, `fips.eks`,
/// `eks-fips`, ...) and of CloudFormation's response buckets on S3, in every partition.
fn proxied_host(host: &str) -> bool {
    let (first, rest) = host.split_once('.').unwrap_or((host, ""));
    let service = first.strip_suffix("-fips").unwrap_or(first);
    let known = matches!(
        service,
        "sts" | "eks" | "fips" | "cloudformation" | "lambda" | "sns" | "secretsmanager"
    ) || (first.starts_with(crate::receiver::RESPONSE_BUCKET)
        && rest.starts_with("s3"));
    known
        && PARTITION_DOMAINS
            .iter()
            .any(|d| host.ends_with(&format!(".{d}")))
}

async fn tunnel(
    mut tcp: tokio::net::TcpStream,
    ca: &crate::tls::Authority,
    shared: Arc<Shared>,
    configs: &Mutex<std::collections::HashMap<String, Arc<rustls::ServerConfig>>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || tcp.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    let (method, authority) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_ascii_lowercase();
    let ok = method == "CONNECT" && authority.ends_with(":443") && proxied_host(&host);
    let status = if ok { 200 } else { 403 };
    (shared.world.lock().expect("world lock")).record("proxy:CONNECT", "CONNECT", &host, status);
    if !ok {
        tcp.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    let config = {
        let mut c = configs.lock().expect("proxy certificates lock");
        match c.get(&host) {
            Some(config) => config.clone(),
            None => {
                let issued = ca
                    .issue(&[host.as_str()], &host)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                c.insert(host.clone(), issued.server.clone());
                issued.server
            }
        }
    };
    let stream = TlsAcceptor::from(config).accept(tcp).await?;
    let svc =
        hyper::service::service_fn(move |req| dispatch(shared.clone(), Target::Aws, 443, req));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .await;
    Ok(())
}
