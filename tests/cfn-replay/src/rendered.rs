//! The template as CloudFormation renders it for a stack's parameters: deployed on moto's
//! CloudFormation (a maintained implementation of parameters, conditions, `!Sub`, `!Split`,
//! `!Join`, `!Select`, `!If`), and its roles' trust and inline policies read back through IAM
//! with botocore (render.py, one process per render). Never a hand copy of the policy.
//!
//! Two things moto does differently from CloudFormation, undone here: it keeps an inline policy as
//! a Python repr rather than JSON (read back with Python's `ast.literal_eval`), and it keeps an
//! `AWS::NoValue` list item as `None` where CloudFormation drops the item.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// The venv of the Python tools named on the command line (`cfn-replay stack --venv DIR`).
static VENV: OnceLock<PathBuf> = OnceLock::new();

/// Takes the Python tools (aws-cli, moto, cfn-lint) from the venv `dir` (the first call wins).
pub fn use_venv(dir: PathBuf) {
    let _ = VENV.set(dir);
}

/// A tool's path, found at run time, never at build time: `var` (`AWS_CLI`, `MOTO_SERVER`,
/// `CFN_LINT`); else `bin/NAME` of the venv given by `--venv`, `CFN_REPLAY_VENV` or an activated
/// venv (`VIRTUAL_ENV`); else `.venv/bin/NAME` in the current directory or one above it (as
/// scripts/test makes it at the checkout's root); else NAME on PATH.
pub fn tool(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return p.into();
    }
    let named = VENV.get().cloned().or_else(|| {
        ["CFN_REPLAY_VENV", "VIRTUAL_ENV"]
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()))
            .map(PathBuf::from)
    });
    if let Some(venv) = named {
        return venv.join("bin").join(name);
    }
    let here = std::env::current_dir().unwrap_or_default();
    if let Some(found) = here
        .ancestors()
        .map(|d| d.join(".venv/bin").join(name))
        .find(|p| p.is_file())
    {
        return found;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

/// aws-cli (scripts/requirements-test.txt).
pub fn aws_cli() -> PathBuf {
    tool("AWS_CLI", "aws")
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// moto's server on a free loopback port, stopped on drop.
pub struct MotoServer {
    child: std::process::Child,
    pub url: String,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MotoServer {
    pub fn start() -> std::io::Result<MotoServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new(tool("MOTO_SERVER", "moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let server = MotoServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(std::io::Error::other(
                    "moto_server did not listen within 30 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }
}

/// The template file.
pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/eks-role-mapper.yaml")
}

/// The account moto's stacks live in.
pub const MOTO_ACCOUNT: &str = "123456789012";
/// The region the stacks are deployed in.
pub const REGION: &str = "eu-west-1";

/// aws-cli against moto, as JSON; Err with its stderr.
pub fn aws(moto: &str, args: &[&str]) -> Result<Json, String> {
    aws_in(moto, REGION, args)
}

/// [`aws`] in `region`.
pub fn aws_in(moto: &str, region: &str, args: &[&str]) -> Result<Json, String> {
    let o = std::process::Command::new(aws_cli())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", region)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_ENDPOINT_URL")
        .args(["--endpoint-url", moto, "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(text(&o).1);
    }
    Ok(serde_json::from_slice(&o.stdout).unwrap_or(Json::Null))
}

/// One role of a rendered stack.
#[derive(Debug, Clone)]
pub struct RenderedRole {
    pub arn: String,
    pub name: String,
    pub trust: Json,
    /// Inline policies by name, as JSON documents.
    pub policies: Vec<(String, Json)>,
}

impl RenderedRole {
    /// The inline policy documents, for [`eks_sim::Simulator::set_policies`].
    pub fn documents(&self) -> Vec<Json> {
        self.policies.iter().map(|(_, d)| d.clone()).collect()
    }

    /// IAM's measure of the role's inline policies: their characters, whitespace not counted
    /// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
    pub fn inline_size(&self) -> usize {
        self.policies
            .iter()
            .map(|(_, d)| {
                serde_json::to_string(d)
                    .unwrap()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .count()
            })
            .sum()
    }
}

/// A stack deployed on moto: its stack id, outputs and roles (by logical id: every
/// `AWS::IAM::Role` the parameters make).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub stack_id: String,
    pub outputs: Json,
    pub roles: Vec<(String, RenderedRole)>,
    /// The function's environment as rendered (its `Environment.Variables`; empty without one).
    pub environment: std::collections::BTreeMap<String, String>,
}

impl Rendered {
    pub fn role(&self, logical: &str) -> &RenderedRole {
        &self
            .roles
            .iter()
            .find(|(l, _)| l == logical)
            .unwrap_or_else(|| panic!("{logical} was not rendered"))
            .1
    }

    pub fn output(&self, key: &str) -> Option<String> {
        self.outputs.as_array()?.iter().find_map(|o| {
            (o["OutputKey"] == key).then(|| o["OutputValue"].as_str().unwrap_or("").to_string())
        })
    }
}

/// Runs `script` with the venv's Python (beside aws-cli), `input` on its stdin.
pub fn python(script: &str, input: &[u8]) -> std::process::Output {
    let python = aws_cli().with_file_name("python");
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Deploys the template on moto with `params` (passed as the API's Parameters, commas as they are) and
/// reads its roles back. With MapRole=true the artifact bucket is made first and the custom
/// resource is left pending (moto cannot run the function): the roles are complete before it.
///
/// moto is reset and its random source seeded just before the stack is created, so a stack of
/// the same name gets the same stack id, and so the same role names, on every render, of any
/// template: rendering a stack's new parameters (or its new template) gives the policy an update
/// of that stack puts in force (moto's own UpdateStack cannot go past the custom resource it
/// could not run).
pub fn render(moto: &str, stack: &str, params: &[(&str, &str)]) -> Rendered {
    render_in(moto, REGION, &template_path(), stack, params)
}

/// [`render`] of `template` in `region`.
pub fn render_in(
    moto: &str,
    region: &str,
    template: &Path,
    stack: &str,
    params: &[(&str, &str)],
) -> Rendered {
    // render.py seeds moto's random source just before CreateStack (after the bucket, which
    // draws from it too), so the stack id depends on the stack's name only, whatever the template.
    post(moto, "/moto-api/reset");
    let map_role = params.iter().all(|(k, v)| *k != "MapRole" || *v == "true");
    let bucket = map_role.then(|| {
        let prefix = params
            .iter()
            .find(|(k, _)| *k == "ArtifactBucketPrefix")
            .map(|(_, v)| *v)
            .unwrap_or("concurrent-eks-role-mapper");
        format!("{prefix}-{region}")
    });
    let wanted: &[&str] = if map_role {
        &["RoleForAccessingEksAndEcr", "MapperRole"]
    } else {
        &["RoleForAccessingEksAndEcr"]
    };
    let job = serde_json::json!({
        "endpoint": moto,
        "region": region,
        "stack": stack,
        "template": std::fs::read_to_string(template)
            .unwrap_or_else(|e| panic!("{}: {e}", template.display())),
        "parameters": params,
        "bucket": bucket,
        "wanted": wanted,
    });
    let o = python(RENDER, job.to_string().as_bytes());
    let (_, err) = text(&o);
    assert!(o.status.success(), "{stack} did not render: {err}");
    let out: Json = serde_json::from_slice(&o.stdout).expect("render.py prints JSON");
    let roles = out["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let role = RenderedRole {
                arn: r["arn"].as_str().unwrap().to_string(),
                name: r["name"].as_str().unwrap().to_string(),
                trust: r["trust"].clone(),
                policies: r["policies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_str().unwrap().to_string(), p[1].clone()))
                    .collect(),
            };
            (r["logical"].as_str().unwrap().to_string(), role)
        })
        .collect();
    Rendered {
        stack_id: out["stack_id"].as_str().unwrap().to_string(),
        outputs: out["outputs"].clone(),
        roles,
        environment: serde_json::from_value(out["environment"].clone()).unwrap_or_default(),
    }
}

/// Deploys and reads back in one botocore process (render.py).
const RENDER: &str = include_str!("render.py");

/// An empty POST to moto's own API (`http://127.0.0.1:PORT`), which must answer 200.
fn post(moto: &str, path: &str) {
    use std::io::{Read, Write};
    let addr = moto.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("moto listens");
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "{path}: {answer}"
    );
}
