// The client: renders dist/page.html with the API's /api/version (server side).
// Node's stdlib only (Node >= 18: global fetch).
//
// The primary process owns the listening socket (127.0.0.1:PORT) and runs one
// worker. SIGHUP is a rolling restart: a new worker is started from the script
// path as given (`.../current/client/server.js`, so from the release `current`
// points to NOW), and the old worker is disconnected (it finishes its requests)
// only once the new one listens. The socket never closes, so no request fails.
"use strict";
const cluster = require("cluster");
const fs = require("fs");
const http = require("http");
const path = require("path");

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || "127.0.0.1";
const API = process.env.API_URL || "http://127.0.0.1:3579";

if (cluster.isPrimary) {
  let current = null;
  let stopping = false;
  const start = () => {
    const worker = cluster.fork();
    worker.once("listening", () => {
      const old = current;
      current = worker;
      if (old) retire(old);
      console.log(`worker ${worker.process.pid} serving from ${fs.realpathSync(process.argv[1])}`);
    });
    worker.once("exit", (code, signal) => {
      if (worker === current && !stopping) {
        console.error(`worker ${worker.process.pid} died (${signal || code}); starting another`);
        current = null;
        setTimeout(start, 500);
      }
    });
  };
  // An old worker stops accepting, closes its idle keep-alive connections (nginx
  // keeps some open to reuse them), finishes its requests and exits; killed if it
  // is still there after 30 s.
  const retire = (worker) => {
    worker.send("shutdown");
    worker.disconnect();
    setTimeout(() => {
      if (!worker.isDead()) worker.process.kill("SIGKILL");
    }, 30000).unref();
  };
  // A worker is started from process.argv[1] as given: through the symlink.
  cluster.setupPrimary({ exec: process.argv[1] });
  start();
  process.on("SIGHUP", () => {
    console.log("SIGHUP: rolling restart");
    start();
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.disconnect();
    setTimeout(() => process.exit(0), 5000).unref();
    cluster.disconnect(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const page = fs.readFileSync(path.join(__dirname, "dist", "page.html"), "utf8");
  const escape = (s) =>
    String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  let closing = false;
  const server = http.createServer(async (req, res) => {
    if (closing) res.setHeader("connection", "close");
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    let version;
    try {
      const r = await fetch(`${API}/api/version`, { signal: AbortSignal.timeout(5000) });
      if (!r.ok) throw new Error(`API answered ${r.status}`);
      version = await r.json();
    } catch (e) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`the API is unavailable: ${e.message}\n`);
      return;
    }
    const body = page.replace("{{commit}}", escape(version.commit)).replace("{{release}}", escape(version.release));
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(body);
  });
  server.listen(PORT, HOST);
  process.on("message", (m) => {
    if (m !== "shutdown") return;
    closing = true;
    server.closeIdleConnections();
    setInterval(() => server.closeIdleConnections(), 200).unref();
  });
}
