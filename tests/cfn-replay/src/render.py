# Deploys a template on moto's CloudFormation and reads its roles back through IAM, in one Python
# process with botocore (the library under aws-cli, the same calls aws-cli makes): one process per
# render instead of a dozen aws-cli processes. Input (stdin) and output (stdout) are JSON; see
# render_in in rendered.rs.
import ast
import json
import sys
import time
import urllib.request

import botocore.session

job = json.load(sys.stdin)
session = botocore.session.get_session()


def client(service):
    return session.create_client(
        service,
        region_name=job["region"],
        endpoint_url=job["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def clean(v):
    # moto keeps an AWS::NoValue list item as None, where CloudFormation drops the item.
    if isinstance(v, list):
        return [clean(x) for x in v if x is not None]
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    return v


def document(v):
    # botocore decodes IAM's policy documents as JSON; moto may keep one as a Python repr.
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return clean(ast.literal_eval(v))
    return v


cfn, iam = client("cloudformation"), client("iam")
if job["bucket"]:
    s3 = client("s3")
    made = {"Bucket": job["bucket"]}
    if job["region"] != "us-east-1":  # us-east-1 takes no LocationConstraint
        made["CreateBucketConfiguration"] = {"LocationConstraint": job["region"]}
    try:
        s3.create_bucket(**made)
    except Exception:  # already there from an earlier render
        pass
    s3.put_object(
        Bucket=job["bucket"], Key="eks-role-mapper/bootstrap.zip", Body=b"PK\x03\x04 not really a zip"
    )

# moto's random source, seeded right before CreateStack: the stack id (and every name derived
# from it) depends on the stack's name only, not on what the render did before.
urllib.request.urlopen(
    urllib.request.Request(job["endpoint"] + "/moto-api/seed?a=13", data=b"", method="POST")
).read()
stack = job["stack"]
created = cfn.create_stack(
    StackName=stack,
    TemplateBody=job["template"],
    Capabilities=["CAPABILITY_NAMED_IAM"],
    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in job["parameters"]],
)
wanted = job["wanted"]
started = time.monotonic()
while True:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    status = described["StackStatus"]
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    physical = {r.get("LogicalResourceId"): r.get("PhysicalResourceId") for r in resources}
    if status == "CREATE_COMPLETE" or (job["bucket"] and all(physical.get(w) for w in wanted)):
        break
    if "FAILED" in status or "ROLLBACK" in status:
        sys.exit(f"{stack}: {status} {described}")
    if time.monotonic() - started > 60:
        sys.exit(f"{stack} did not render: {status}")
    time.sleep(0.2)


def role(logical, name):
    got = iam.get_role(RoleName=name)["Role"]
    names = iam.list_role_policies(RoleName=name)["PolicyNames"]
    policies = [
        [p, document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])]
        for p in names
    ]
    return {
        "logical": logical,
        "arn": got["Arn"],
        "name": name,
        "trust": document(got["AssumeRolePolicyDocument"]),
        "policies": policies,
    }


# The wanted roles the template has (another template, an original stack's, may have fewer).
roles = [role(w, physical[w]) for w in wanted if physical.get(w)]
# Every other role the parameters make (the schedule's, with Reconcile on).
roles += [
    role(r.get("LogicalResourceId", ""), r["PhysicalResourceId"])
    for r in resources
    if r.get("ResourceType") == "AWS::IAM::Role"
    and r.get("LogicalResourceId", "") not in wanted
    and r.get("PhysicalResourceId")
]
# The function's environment (its declaration of the stack), as moto's Lambda renders it.
environment = {}
if physical.get("MapperFunction"):
    lam = client("lambda")
    for _ in range(50):
        try:
            config = lam.get_function_configuration(FunctionName=physical["MapperFunction"])
            environment = config.get("Environment", {}).get("Variables", {})
            break
        except Exception:  # not made yet
            time.sleep(0.2)
json.dump(
    {
        "stack_id": created["StackId"],
        "outputs": described.get("Outputs"),
        "roles": roles,
        "environment": environment,
    },
    sys.stdout,
    default=str,
)
