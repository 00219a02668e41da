# A stand-in for AWS Signer's signing-job calls (moto has none), for publish_release.rs. Every
# request is checked against botocore's Signer service model (the one aws-cli sends from): its
# operation by method and URI, its SigV4 scope (service signer), and its body against the input
# shape (required members, no unknown member, string lengths, patterns and enums). A request that
# does not conform is answered 400 and written to the log (argv[3]), which the test requires empty.
#
#   python signer_standin.py MOTO_URL PORT_FILE LOG_FILE [REFUSE_REGION]
#
# StartSigningJob reads the source object's exact version from moto's S3 and writes the "signed"
# copy to the destination prefix as {prefix}{jobId}.zip (as Signer names it); in REFUSE_REGION
# the job ends Failed and nothing is written. DescribeSigningJob reports the job.
import glob
import gzip
import json
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore
import botocore.session

MOTO, PORT_FILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
REFUSE = sys.argv[4] if len(sys.argv) > 4 else ""
data = glob.glob(f"{botocore.__path__[0]}/data/signer/*/service-2.json*")[0]
MODEL = json.load(gzip.open(data) if data.endswith(".gz") else open(data))
SHAPES = MODEL["shapes"]
JOBS = {}


def problems(shape_name, value, where):
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        body = {k: m for k, m in shape["members"].items() if m.get("location") is None}
        found = [f"{where}.{k}: not in {shape_name}" for k in value if k not in body]
        found += [f"{where}.{k}: required" for k in shape.get("required", []) if k in body and k not in value]
        for k, v in value.items():
            if k in body:
                found += problems(body[k]["shape"], v, f"{where}.{k}")
        return found
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        found = []
        if len(value) < shape.get("min", 0) or len(value) > shape.get("max", 1 << 30):
            found.append(f"{where}: length {len(value)} outside {shape_name}'s")
        if "pattern" in shape and not re.search(shape["pattern"], value):
            found.append(f"{where}: does not match {shape['pattern']}")
        if "enum" in shape and value not in shape["enum"]:
            found.append(f"{where}: not one of {shape['enum']}")
        return found
    return []


def operation(method, path):
    for name, op in MODEL["operations"].items():
        http = op["http"]
        pattern = "^" + re.sub(r"\{[^}]+\}", "([^/]+)", http["requestUri"].split("?")[0]) + "$"
        m = re.match(pattern, path.split("?")[0])
        if http["method"] == method and m:
            return name, m.groups()
    return None, ()


def s3(region):
    return botocore.session.get_session().create_client(
        "s3", region_name=region, endpoint_url=MOTO,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if status >= 400:
            self.send_header("x-amzn-ErrorType", body["__type"])
        self.end_headers()
        self.wfile.write(raw)

    def refuse(self, why):
        with open(LOG, "a") as log:
            log.write(f"{self.command} {self.path}: {why}\n")
        self.answer(400, {"__type": "ValidationException", "message": why})

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        scope = re.search(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request",
                          self.headers.get("Authorization", ""))
        if not scope or scope.group(2) != MODEL["metadata"]["signingName"]:
            return self.refuse("no SigV4 scope of the signer service")
        region = scope.group(1)
        name, groups = operation(self.command, self.path)
        if name is None:
            return self.refuse("no operation of the Signer model")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.refuse("body is not JSON")
        found = problems(MODEL["operations"][name]["input"]["shape"], body, name)
        if found:
            return self.refuse("; ".join(found))
        if name == "StartSigningJob":
            job = str(uuid.uuid4())
            src, dst = body["source"]["s3"], body["destination"]["s3"]
            record = {"jobId": job, "profileName": body["profileName"], "source": body["source"],
                      "platformId": "AWSLambda-SHA384-ECDSA", "status": "Succeeded",
                      "profileVersion": "Ab12Cd34Ef", "jobOwner": "123456789012"}
            if region == REFUSE:
                record.update(status="Failed", statusReason="refused by the stand-in")
            else:
                client = s3(region)
                got = client.get_object(Bucket=src["bucketName"], Key=src["key"], VersionId=src["version"])
                key = f"{dst.get('prefix', '')}{job}.zip"
                client.put_object(Bucket=dst["bucketName"], Key=key, Body=got["Body"].read() + b"signed")
                record["signedObject"] = {"s3": {"bucketName": dst["bucketName"], "key": key}}
            JOBS[job] = record
            return self.answer(200, {"jobId": job, "jobOwner": "123456789012"})
        if name == "DescribeSigningJob":
            if groups[0] not in JOBS:
                return self.answer(404, {"__type": "ResourceNotFoundException", "message": "no such job"})
            return self.answer(200, JOBS[groups[0]])
        return self.refuse(f"{name} is not one publish should call")

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
