#!/usr/bin/env python3
"""What infra/publish and infra/release-template need to know of a region, from AWS's own data:

  infra/regions.py REGION [REGION ...]

prints one tab-separated line per region: the region, its partition, the partition's DNS suffix,
the console host of the partition (`-` where AWS publishes none), and `signed` or `unsigned` with
the reason. Exit 2, naming it, for a name that is no region of any partition.

- Partitions and DNS suffixes: botocore's partitions.json (the file every AWS SDK embeds), resolved
  as the SDKs resolve them: a region listed by a partition is that partition's, else the first
  partition whose regionRegex matches. So us-iso-east-1 is aws-iso's (c2s.ic.gov), eusc-de-east-1
  aws-eusc's (amazonaws.eu), and a region added later is accepted by its partition's pattern.
- Signing: a release is signed in a region only where AWS Signer has an endpoint (botocore's
  endpoints.json) and CloudFormation has AWS::Lambda::CodeSigningConfig (cfn-lint's schemas for
  that region). CloudFormation refuses a whole template naming a type its region lacks, whatever
  the resource's Condition, so the type may appear only in a template for such regions.
- Console hosts: not in botocore's data; the three partitions whose console AWS documents.

Needs botocore and cfn-lint at the pins of scripts/requirements-test.txt (another version knows
other regions and types): it runs under $EKS_ROLE_MAPPER_PYTHON, else the checkout's .venv (made
by scripts/test), else this Python if it has both.
"""
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _with_tools():
    """Runs this process again under the pinned tools' Python ($EKS_ROLE_MAPPER_PYTHON, else the
    checkout's .venv), once: another botocore or cfn-lint knows other regions and types."""
    if os.environ.get("EKS_ROLE_MAPPER_PYTHON_RUNNING"):
        return
    for python in (os.environ.get("EKS_ROLE_MAPPER_PYTHON"), str(ROOT / ".venv/bin/python")):
        if python and Path(python).is_file():
            os.environ["EKS_ROLE_MAPPER_PYTHON_RUNNING"] = python
            os.execv(python, [python, *sys.argv])
    try:
        import botocore  # noqa: F401
        import cfnlint  # noqa: F401
    except ImportError:
        sys.stderr.write("infra: needs botocore and cfn-lint (pip install -r scripts/requirements-test.txt, "
                         "or run scripts/test once for .venv, or set EKS_ROLE_MAPPER_PYTHON)\n")
        sys.exit(2)


# --help needs none of the tools: answered before looking for them.
if __name__ == "__main__" and any(a in ("-h", "--help") for a in sys.argv[1:]):
    print(__doc__.strip())
    sys.exit(0)
_with_tools()

import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402
import cfnlint  # noqa: E402

# The console of each partition whose host AWS documents:
# https://docs.aws.amazon.com/general/latest/gr/mgmt-console.html (aws),
# https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-Beijing.html (aws-cn),
# https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/using-govcloud-endpoints.html (aws-us-gov).
CONSOLE = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
CODE_SIGNING_TYPE = "AWS::Lambda::CodeSigningConfig"

_partitions = botocore.loaders.create_loader().load_data("partitions")["partitions"]
_session = botocore.session.get_session()


def partition(region):
    """The partition of `region` (its id and outputs), or None when it is no region name."""
    for p in _partitions:
        if region in p["regions"] and not region.endswith("-global"):
            return p
    for p in _partitions:
        if re.match(p["regionRegex"], region):
            return p
    return None


def has_code_signing_type(region):
    """Whether cfn-lint's schemas for `region` have AWS::Lambda::CodeSigningConfig. A region
    cfn-lint has no schemas of its own for (me-south-1 in 1.58.0) counts as without: cfn-lint
    would fall back to us-east-1's."""
    provider = Path(cfnlint.__file__).parent / "data/schemas/providers" / f"{region}.json"
    return provider.is_file() and CODE_SIGNING_TYPE in json.loads(provider.read_text())


def signing(region):
    """(True, "") where a release can be signed in `region`, else (False, why not)."""
    p = partition(region)
    if region not in _session.get_available_regions("signer", p["id"]):
        return False, f"AWS Signer has no endpoint in {region}"
    if not (Path(cfnlint.__file__).parent / "data/schemas/providers" / f"{region}.json").is_file():
        return False, f"cfn-lint has no resource types of {region}"
    if not has_code_signing_type(region):
        return False, f"CloudFormation has no {CODE_SIGNING_TYPE} in {region}"
    return True, ""


def describe(region):
    """(region, partition, DNS suffix, console host or None, signed, reason)."""
    p = partition(region)
    if p is None:
        raise ValueError(f"{region!r} is no region of any AWS partition (botocore's partitions.json)")
    signed, why = signing(region)
    return region, p["id"], p["outputs"]["dnsSuffix"], CONSOLE.get(p["id"]), signed, why


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    lines = []
    for region in argv:
        try:
            r, pid, suffix, console, signed, why = describe(region)
        except ValueError as e:
            sys.stderr.write(f"regions: {e}\n")
            return 2
        lines.append("\t".join([r, pid, suffix, console or "-", "signed" if signed else "unsigned", why]))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
