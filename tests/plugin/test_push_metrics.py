"""``python -m healthgate push-metrics``: where no node_exporter reads the metrics file (a Kubernetes CronJob), the
run's file is PUT to a Pushgateway group, here a local server recording what it received."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.plugin.test_plugin import profile_for, run, setup
from tests.report.support import closed_port


class Pushgateway:
    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                gateway.received.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_runs_metrics_file_is_put_to_the_pushgateway_group(pytester, http_server):
    setup(pytester, profile_for(http_server.url))
    run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--metrics-textfile=out/healthgate.prom")
    gateway = Pushgateway()
    try:
        pushed = pytester.run("python", "-m", "healthgate", "push-metrics", "out/healthgate.prom",
                              f"{gateway.url}/metrics/job/healthgate")
    finally:
        gateway.close()
    assert pushed.ret == 0, pushed.stderr.str()
    (path, content_type, body), = gateway.received
    assert (path, content_type) == ("/metrics/job/healthgate", "text/plain; version=0.0.4")
    assert body == (pytester.path / "out" / "healthgate.prom").read_bytes()
    assert b'healthgate_run_success{profile="unit"} 1' in body


def test_a_missing_file_or_pushgateway_is_exit_2_saying_what_to_check(pytester):
    missing = pytester.run("python", "-m", "healthgate", "push-metrics", "out/none.prom", "http://127.0.0.1:1/x")
    assert missing.ret == 2
    assert "cannot read out/none.prom: No such file or directory: did the run write --metrics-textfile" \
           in missing.stderr.str()
    pytester.path.joinpath("m.prom").write_text("healthgate_run_success 1\n")
    down = pytester.run("python", "-m", "healthgate", "push-metrics", "m.prom",
                        f"http://pusher:S3cret-push-99@127.0.0.1:{closed_port()}/metrics/job/healthgate")
    assert down.ret == 2
    assert "failed (ConnectError" in down.stderr.str() and "is the Pushgateway up and the URL right?" in \
        down.stderr.str()
    assert "S3cret-push-99" not in down.stderr.str() + down.stdout.str()
