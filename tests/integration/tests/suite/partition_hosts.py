"""The endpoint host of each service the mapper calls, in one region of every partition, with and
without FIPS, as botocore's endpoint rule sets give them (botocore/data/<service>/<version>/
endpoint-rule-set-1.json.gz evaluated over botocore/data/partitions.json): the hosts the
partition test holds the mapper's SDK clients to. Prints one JSON object:
{region: {"fips" | "plain": {service: host}}}.
Usage: python partition_hosts.py REGION [REGION ...]
"""
import json
import sys

import botocore.session
from botocore.config import Config

SERVICES = ["eks", "sts", "cloudformation", "lambda", "sns", "secretsmanager"]


def main():
    session = botocore.session.get_session()
    out = {}
    for region in sys.argv[1:]:
        out[region] = {}
        for fips in (False, True):
            hosts = {}
            for service in SERVICES:
                client = session.create_client(
                    service,
                    region_name=region,
                    aws_access_key_id="AKIDEXAMPLE",
                    aws_secret_access_key="secret",
                    config=Config(use_fips_endpoint=fips),
                )
                hosts[service] = client.meta.endpoint_url.split("://", 1)[1].rstrip("/")
            out[region]["fips" if fips else "plain"] = hosts
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
