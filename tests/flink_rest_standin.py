#!/usr/bin/env python3
"""A STAND-IN for Flink's JobManager REST API, for the tests only: the JobManager cannot run here (no nodes, no
images), so this answers in its place. It is a test double, not Flink.

It serves any number of clusters, each under a path prefix /<namespace>/<name> (point the daemon at it with
`flinkop run --flink-rest-override http://127.0.0.1:PORT/{namespace}/{name}`). The answers are copied in shape
from Flink's REST API reference (docs/layouts/shortcodes/generated/rest_v1_dispatcher.html in apache/flink):

  GET   /jobs/overview                      {"jobs": [{"jid", "name", "state", "start-time", "end-time", ...}]}
  GET   /jobs/:jobid/exceptions             {"exceptionHistory": {"entries": [{"exceptionName", "stacktrace", ...}]}}
  POST  /jobs/:jobid/stop                   202 {"request-id": ...}  body {"targetDirectory", "drain", "triggerId"}
  POST  /jobs/:jobid/savepoints             202 {"request-id": ...}  body {"target-directory", "cancel-job", "triggerId"}
  GET   /jobs/:jobid/savepoints/:triggerid  {"status": {"id": "IN_PROGRESS" | "COMPLETED"}, "operation": {"location"}}
  POST  /jobs/:jobid/checkpoints            202 {"request-id": ...}  body {"checkpointType", "triggerId"}
                                            (CheckpointTriggerRequestBody, Flink 1.17 and later)
  GET   /jobs/:jobid/checkpoints/:triggerid {"status": {"id": "IN_PROGRESS" | "COMPLETED"}, "operation":
                                            {"checkpointId"} or {"failureCause": {"class", "stack-trace"}}}
  GET   /jobs/:jobid/checkpoints            CheckpointingStatistics: {"counts", "summary", "latest": {"completed",
                                            "savepoint", "failed", "restored"}, "history": [...]}; here only the
                                            savepoints it took (className "completed", is_savepoint, status,
                                            trigger_timestamp, latest_ack_timestamp, external_path, ...), and
                                            its manual checkpoints as latest.completed and in the counts
  PATCH /jobs/:jobid?mode=cancel            202 {}
  GET   /jars                               {"address", "files": [{"id", "name", "uploaded", "entry": [...]}]}
  POST  /jars/upload                        multipart/form-data, the jar in field "jarfile":
                                            {"filename": "/tmp/flink-web-upload/<id>", "status": "success"}
                                            (recorded in "uploads": name, bytes, sha256, the part's Content-Type)
  POST  /jars/:jarid/run                    {"jobid"}  body {"entryClass", "programArgsList", "parallelism",
                                            "savepointPath", "jobId", ...} (JarRunRequestBody)

As in Flink, a trigger that names a triggerId already known for the job is the same operation (idempotent
triggering): no second savepoint is taken. A stop-with-savepoint completes after `savepoint_seconds` (default 2)
and leaves the job FINISHED; a cancel leaves it CANCELED. A manual checkpoint completes after
`checkpoint_seconds` (default 1), or fails when "checkpoint_failure" is set (its stack trace); the job keeps running. A run adds a job in state `run_state` (default RUNNING)
under the jobId it names; a jobId the cluster already lists is refused, as Flink refuses a duplicate submission.

The test drives it through /_standin/<namespace>/<name>:
  PUT  {"jobs": [{"jid", "name", "state", "start-time", "exception"}], "hang": bool, "savepoint_seconds": n,
        "checkpoint_seconds": n, "checkpoint_failure": text or null, "jars": [{"id", "name", "uploaded"}],
        "run_state": "RUNNING"}
       replaces the cluster (a field left out keeps its value; "exception" is the stack trace of a FAILED job);
       {"forget_triggers": true} makes it forget every finished savepoint operation, as Flink does after minutes
       (rest.async.store-duration): their trigger ids answer 404 and may be sent again as new operations, while
       their savepoints stay in /checkpoints
  GET  the cluster as the stand-in holds it, with "requests" (every "METHOD /path" it was sent, in order) and
       "savepoints_taken" (distinct savepoint operations), "checkpoints_taken" (distinct checkpoint operations),
       "runs" (the bodies of every accepted run request)
A cluster with "hang": true accepts every connection and never answers (a JobManager that does not respond).

Not Flink's: GET /_files/<name> serves <name> from --files-dir (404 when it is not there), a plain HTTP file server
for the tests' jarURIs; the control GET lists every such request in "file_requests".

usage: flink_rest_standin.py --port-file FILE [--files-dir DIR]
       (listens on 127.0.0.1, a port the kernel picks, written to FILE)
"""
import argparse
import hashlib
import os
import json
import uuid
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
CLUSTERS = {}  # "ns/name" -> cluster dict
RELEASE = threading.Event()  # set at shutdown so hanging handlers end
FILE_REQUESTS = []  # every GET /_files/<name>, in order
ARGS = None


def cluster(key):
    c = CLUSTERS.get(key)
    if c is None:
        c = CLUSTERS[key] = {"jobs": [], "hang": False, "savepoint_seconds": 2.0, "requests": [],
                             "operations": {}, "savepoints_taken": 0, "forgotten": [], "completed_savepoints": [],
                             "jars": [], "runs": [], "run_state": "RUNNING", "uploads": [],
                             "checkpoint_seconds": 1.0, "checkpoint_failure": None, "checkpoint_operations": {},
                             "checkpoints_taken": 0, "completed_checkpoints": []}
    return c


def now_ms():
    return int(time.time() * 1000)


def job_details(job):
    """One JobDetails of /jobs/overview."""
    start = job.get("start-time", now_ms())
    end = job.get("end-time", -1)
    return {"jid": job["jid"], "name": job.get("name", ""), "state": job["state"], "start-time": start,
            "end-time": end, "duration": (end if end > 0 else now_ms()) - start, "last-modification": now_ms(),
            "tasks": {"running": 1 if job["state"] == "RUNNING" else 0, "total": 1}}


def settle(c):
    """Completes savepoint operations whose time has come (a stop leaves the job FINISHED); each savepoint taken is
    listed in the job's checkpoint statistics."""
    for op in c["operations"].values():
        if op["status"] == "IN_PROGRESS" and time.time() >= op["done_at"]:
            op["status"] = "COMPLETED"
            c["completed_savepoints"].append({
                "className": "completed", "id": len(c["completed_savepoints"]) + 1, "status": "COMPLETED",
                "is_savepoint": True, "savepointFormat": "CANONICAL", "checkpoint_type": "SAVEPOINT",
                "trigger_timestamp": op["trigger_timestamp"], "latest_ack_timestamp": now_ms(), "state_size": 0,
                "checkpointed_size": 0, "end_to_end_duration": now_ms() - op["trigger_timestamp"],
                "num_subtasks": 1, "num_acknowledged_subtasks": 1, "tasks": {}, "external_path": op["location"],
                "discarded": False, "jid": op["jid"]})
            for job in c["jobs"]:
                if job["jid"] == op["jid"] and op["stop"]:
                    job["state"], job["end-time"] = "FINISHED", now_ms()
    for op in c["checkpoint_operations"].values():
        if op["status"] == "IN_PROGRESS" and time.time() >= op["done_at"]:
            op["status"] = "COMPLETED"
            if op["failure"] is None:
                c["completed_checkpoints"].append({
                    "className": "completed", "id": op["checkpoint_id"], "status": "COMPLETED",
                    "is_savepoint": False, "checkpoint_type": "CHECKPOINT",
                    "trigger_timestamp": op["trigger_timestamp"], "latest_ack_timestamp": now_ms(), "state_size": 0,
                    "checkpointed_size": 0, "end_to_end_duration": now_ms() - op["trigger_timestamp"],
                    "num_subtasks": 1, "num_acknowledged_subtasks": 1, "tasks": {},
                    "external_path": "<checkpoint-not-externally-addressable>", "discarded": False, "jid": op["jid"]})


def upload_part(content_type, raw):
    """The "jarfile" part of a multipart/form-data body: {"_upload": file name, "_data": its bytes}, or None."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return None
    for part in raw.split(b"--" + m.group(1).encode())[1:-1]:
        head, _, data = part.partition(b"\r\n\r\n")
        f = re.search(rb'name="jarfile"; filename="([^"]+)"', head)
        if f and data.endswith(b"\r\n"):
            return {"_upload": f.group(1).decode(), "_data": data[:-2],
                    "_type": (re.search(rb"Content-Type: ([^\r\n]+)", head) or [b"", b""])[1].decode()}
    return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if (self.headers.get("Content-Type") or "").startswith("multipart/form-data"):
            return upload_part(self.headers.get("Content-Type"), raw)
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return None

    def handle_any(self, method):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) == 2 and parts[0] == "_files" and method == "GET":
            return self.serve_file(parts[1])
        if len(parts) >= 3 and parts[0] == "_standin":
            return self.control(method, parts[1] + "/" + parts[2])
        if len(parts) < 2:
            return self.answer(404, {"errors": ["Not found: " + url.path]})
        key, rest = parts[0] + "/" + parts[1], "/" + "/".join(parts[2:])
        body = self.body()
        with LOCK:
            c = cluster(key)
            c["requests"].append(method + " " + rest + ("?" + url.query if url.query else ""))
            hang = c["hang"]
        if hang:
            RELEASE.wait(3600)  # accepted, never answered; the client's timeout ends it
            self.close_connection = True
            return None
        if body is None:
            return self.answer(400, {"errors": ["Request did not match expected format."]})
        with LOCK:
            settle(c)
            code, out = self.flink(c, method, rest, parse_qs(url.query), body)
        return self.answer(code, out)

    def flink(self, c, method, path, query, body):
        jobs = {j["jid"]: j for j in c["jobs"]}
        if method == "GET" and path == "/jobs/overview":
            return 200, {"jobs": [job_details(j) for j in c["jobs"]]}
        if path == "/jars" or path.startswith("/jars/"):
            return self.jars(c, method, path, body)
        m = re.fullmatch(r"/jobs/([0-9a-f]{32})(/.*)?", path)
        if not m or m.group(1) not in jobs:
            return 404, {"errors": ["Job could not be found."]}
        job, sub = jobs[m.group(1)], m.group(2) or ""
        if method == "GET" and sub == "/checkpoints":
            taken = [{k: v for k, v in sp.items() if k != "jid"} for sp in c["completed_savepoints"]
                     if sp["jid"] == job["jid"]]
            checkpoints = [{k: v for k, v in cp.items() if k != "jid"} for cp in c["completed_checkpoints"]
                           if cp["jid"] == job["jid"]]
            done = len(taken) + len(checkpoints)
            return 200, {"counts": {"restored": 0, "total": done, "in_progress": 0, "completed": done,
                                    "failed": 0},
                         "summary": {}, "latest": {"completed": checkpoints[-1] if checkpoints else None,
                                                   "savepoint": taken[-1] if taken else None,
                                                   "failed": None, "restored": None},
                         "history": list(reversed(taken))}
        if method == "GET" and sub == "/exceptions":
            entries = []
            if job.get("exception"):
                trace = job["exception"]
                entries.append({"exceptionName": trace.split(":")[0], "stacktrace": trace,
                                "timestamp": job.get("end-time", now_ms()), "taskName": None, "endpoint": None,
                                "taskManagerId": None, "failureLabels": {}, "concurrentExceptions": []})
            return 200, {"exceptionHistory": {"entries": entries, "truncated": False}}
        if method == "PATCH" and sub == "" and query.get("mode", ["cancel"]) == ["cancel"]:
            if job["state"] not in ("FINISHED", "FAILED", "CANCELED"):
                job["state"], job["end-time"] = "CANCELED", now_ms()
            return 202, {}
        if method == "POST" and sub in ("/stop", "/savepoints"):
            trigger = body.get("triggerId") or "%032x" % (len(c["operations"]) + 1)
            if trigger in c["operations"]:
                return 202, {"request-id": trigger}  # the same operation: Flink's idempotent trigger
            if job["state"] != "RUNNING":
                return 500, {"errors": ["Job " + job["jid"] + " is not running: " + job["state"]]}
            c["savepoints_taken"] += 1
            directory = body.get("targetDirectory") or body.get("target-directory") or "file:///flink-savepoints"
            c["operations"][trigger] = {
                "jid": job["jid"], "status": "IN_PROGRESS", "done_at": time.time() + c["savepoint_seconds"],
                "trigger_timestamp": now_ms(),
                "stop": sub == "/stop" or bool(body.get("cancel-job")),
                "location": "%s/savepoint-%s-%s" % (directory.rstrip("/"), job["jid"][:6], trigger[-8:])}
            return 202, {"request-id": trigger}
        if method == "POST" and sub == "/checkpoints":
            trigger = body.get("triggerId") or "%032x" % (len(c["checkpoint_operations"]) + 1)
            if trigger in c["checkpoint_operations"]:
                return 202, {"request-id": trigger}  # the same operation: Flink's idempotent trigger
            if body.get("checkpointType", "CONFIGURED") not in ("CONFIGURED", "FULL", "INCREMENTAL"):
                return 400, {"errors": ["Request did not match expected format CheckpointTriggerRequestBody."]}
            if job["state"] != "RUNNING":
                return 500, {"errors": ["Job " + job["jid"] + " is not running: " + job["state"]]}
            c["checkpoints_taken"] += 1
            c["checkpoint_operations"][trigger] = {
                "jid": job["jid"], "status": "IN_PROGRESS", "done_at": time.time() + c["checkpoint_seconds"],
                "trigger_timestamp": now_ms(), "type": body.get("checkpointType", "CONFIGURED"),
                "checkpoint_id": 100 + c["checkpoints_taken"], "failure": c["checkpoint_failure"]}
            return 202, {"request-id": trigger}
        m = re.fullmatch(r"/checkpoints/([0-9a-f]{32})", sub)
        if method == "GET" and m:
            op = c["checkpoint_operations"].get(m.group(1))
            if op is None or op["jid"] != job["jid"]:
                return 404, {"errors": ["There is no checkpoint operation with triggerId=" + m.group(1)]}
            if op["status"] == "IN_PROGRESS":
                return 200, {"status": {"id": "IN_PROGRESS"}}
            if op["failure"] is not None:
                return 200, {"status": {"id": "COMPLETED"}, "operation": {"failureCause": {
                    "class": op["failure"].split(":")[0], "stack-trace": op["failure"],
                    "serialized-throwable": ""}}}
            return 200, {"status": {"id": "COMPLETED"}, "operation": {"checkpointId": op["checkpoint_id"]}}
        m = re.fullmatch(r"/savepoints/([0-9a-f]{32})", sub)
        if method == "GET" and m:
            op = c["operations"].get(m.group(1))
            if op is None or op["jid"] != job["jid"]:
                return 404, {"errors": ["There is no savepoint operation with triggerId=" + m.group(1)]}
            if op["status"] == "IN_PROGRESS":
                return 200, {"status": {"id": "IN_PROGRESS"}}
            return 200, {"status": {"id": "COMPLETED"}, "operation": {"location": op["location"]}}
        return 404, {"errors": ["Not found: " + path]}

    def jars(self, c, method, path, body):
        if method == "GET" and path == "/jars":
            return 200, {"address": "http://standin:8081", "files": [
                {"id": j["id"], "name": j["name"], "uploaded": j.get("uploaded", 0), "entry": []} for j in c["jars"]]}
        if method == "POST" and path == "/jars/upload":
            if "_upload" not in body:
                return 400, {"errors": ["Exactly 1 file must be sent, received 0."]}
            jar = {"id": "%s_%s" % (uuid.uuid4(), body["_upload"]), "name": body["_upload"], "uploaded": now_ms()}
            c["jars"].append(jar)
            c["uploads"].append({"name": body["_upload"], "bytes": len(body["_data"]), "type": body["_type"],
                                 "sha256": hashlib.sha256(body["_data"]).hexdigest()})
            return 200, {"filename": "/tmp/flink-web-upload/" + jar["id"], "status": "success"}
        m = re.fullmatch(r"/jars/([^/]+)/run", path)
        if method != "POST" or not m:
            return 404, {"errors": ["Not found: " + path]}
        jar = next((j for j in c["jars"] if j["id"] == m.group(1)), None)
        if jar is None:
            return 400, {"errors": ["Jar file /tmp/flink-web-upload/%s does not exist" % m.group(1)]}
        jid = body.get("jobId") or uuid.uuid4().hex
        if any(j["jid"] == jid for j in c["jobs"]):
            return 500, {"errors": ["org.apache.flink.runtime.client.DuplicateJobSubmissionException: "
                                    "Job has already been submitted."]}
        c["runs"].append(body)
        c["jobs"].append({"jid": jid, "name": body.get("entryClass") or jar["name"], "state": c["run_state"],
                          "start-time": now_ms()})
        return 200, {"jobid": jid}

    def serve_file(self, name):
        """A plain file server (not Flink's) for the tests' jarURIs: --files-dir/<name>, else 404."""
        path = os.path.join(ARGS.files_dir or "/nonexistent", os.path.basename(name))
        with LOCK:
            FILE_REQUESTS.append(name)
        if not ARGS.files_dir or not os.path.isfile(path):
            return self.answer(404, {"errors": ["no such file: " + name]})
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/java-archive")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return None

    def control(self, method, key):
        with LOCK:
            c = cluster(key)
            if method == "PUT":
                body = self.body() or {}
                for field in ("jobs", "hang", "savepoint_seconds", "jars", "run_state", "checkpoint_seconds",
                              "checkpoint_failure"):
                    if field in body:
                        c[field] = body[field]
            settle(c)
            if method == "PUT" and body.get("forget_triggers"):  # finished operations only, as Flink forgets them
                done = {t: op for t, op in c["operations"].items() if op["status"] != "IN_PROGRESS"}
                c["forgotten"].extend(done.values())
                c["operations"] = {t: op for t, op in c["operations"].items() if t not in done}
            out = {k: v for k, v in c.items() if k not in ("operations", "forgotten", "checkpoint_operations")}
            out["operations"] = {t: {k: v for k, v in op.items() if k != "done_at"}
                                 for t, op in c["operations"].items()}
            out["checkpoint_operations"] = {t: {k: v for k, v in op.items() if k != "done_at"}
                                            for t, op in c["checkpoint_operations"].items()}
            out["file_requests"] = list(FILE_REQUESTS)
        return self.answer(200, out)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--files-dir", help="served as GET /_files/<name> (the tests' jarURIs)")
    global ARGS
    ARGS = args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    try:
        server.serve_forever()
    finally:
        RELEASE.set()


if __name__ == "__main__":
    main()
