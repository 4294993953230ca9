// Upstream's deployment shape in headless Chromium: the front end on one
// origin (a fixture page on http://localhost:FRONT), the API on another
// (http://localhost:API, named in --trusted-origins). With credentials, the
// page signs up, signs in, reads history over oRPC, opens the WebSocket and
// reacts to a message it read from history. A page on an origin that is
// not trusted can read nothing, and no CORS header is sent to it.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { buildServer, freePort, launchBrowser, scratch, Server } from "./harness.mjs";

let s, server, browser, front, frontPort;

before(async () => {
  s = scratch();
  frontPort = await freePort();
  // The front end: an empty page; the test drives it with fetch and WebSocket.
  front = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end("<!doctype html><title>front end</title>");
  });
  await new Promise((resolve) => front.listen(frontPort, "127.0.0.1", resolve));
  const bin = await buildServer(s.dir);
  server = new Server({
    bin,
    dir: s.dir,
    port: await freePort(),
    host: "localhost",
    args: ["--trusted-origins", `http://localhost:${frontPort}`, "--log-level", "warn"],
  });
  await server.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  await new Promise((resolve) => (front ? front.close(resolve) : resolve()));
  s?.cleanup();
});

/** Runs the whole cross-origin session inside the page at origin. */
async function session(page, api, run) {
  return page.evaluate(
    async ({ api, run }) => {
      const call = async (method, path, body) => {
        const init = { method, credentials: "include", headers: {} };
        if (body !== undefined) {
          init.headers["Content-Type"] = "application/json";
          init.body = JSON.stringify(body);
        }
        const resp = await fetch(api + path, init);
        return { status: resp.status, body: await resp.json().catch(() => null), token: resp.headers.get("set-auth-token") };
      };
      const out = {};
      const email = `cors-${run}@example.com`;
      out.signUp = await call("POST", "/api/auth/sign-up/email", { name: "Cors", email, password: "correct horse battery" });
      out.signIn = await call("POST", "/api/auth/sign-in/email", { email, password: "correct horse battery" });
      out.session = await call("GET", "/api/auth/get-session");
      out.post = await call("POST", "/api/messages", { messageId: `h-${run}`, text: "from history" });
      out.history = await call("POST", "/rpc/messages/get", { limit: 10 });
      // The socket carries the session cookie and the front end's Origin.
      const ws = new WebSocket(api.replace("http", "ws") + "/ws/room");
      ws.binaryType = "arraybuffer";
      const frames = [];
      out.wsOpen = await new Promise((resolve) => {
        ws.onopen = () => resolve(true);
        ws.onerror = () => resolve(false);
        setTimeout(() => resolve(false), 10000);
      });
      ws.onmessage = (e) => frames.push(e.data.byteLength);
      const first = (out.history.body?.messages || [])[0];
      out.historyId = first?.id;
      const before = frames.length;
      out.react = await call("PUT", `/api/messages/${encodeURIComponent(first?.id ?? "none")}/react`, { kind: 3 });
      // The reaction is broadcast to the room, this socket included.
      const deadline = Date.now() + 10000;
      while (frames.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      out.framesAfterReact = frames.length - before;
      ws.close();
      return out;
    },
    { api, run },
  );
}

test("a trusted front end on another origin works with credentials", { timeout: 120_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://localhost:${frontPort}/`);
  const run = Date.now().toString(36);
  const out = await session(page, server.url, run);
  assert.equal(out.signUp.status, 200, JSON.stringify(out.signUp));
  assert.ok(out.signUp.token, "set-auth-token is readable (exposed)");
  assert.equal(out.signIn.status, 200, JSON.stringify(out.signIn));
  assert.equal(out.session.status, 200);
  assert.equal(out.session.body?.user?.email, `cors-${run}@example.com`, "the cookie rode along");
  assert.equal(out.post.status, 201, JSON.stringify(out.post));
  assert.equal(out.history.status, 200, JSON.stringify(out.history));
  assert.equal(out.history.body.messages[0].message, "from history");
  assert.ok(out.wsOpen, "the WebSocket opened with the front end's Origin");
  assert.equal(out.react.status, 200, JSON.stringify(out.react));
  assert.ok(out.framesAfterReact > 0, "the reaction reached the socket");
  await context.close();
});

test("an untrusted origin reads nothing and gets no CORS header", { timeout: 120_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // 127.0.0.1 is another origin than localhost, and not trusted.
  await page.goto(`http://127.0.0.1:${frontPort}/`);
  const result = await page.evaluate(async (api) => {
    try {
      const resp = await fetch(api + "/api/auth/get-session", { credentials: "include" });
      return `read ${resp.status}`;
    } catch (err) {
      return `blocked: ${err.name}`;
    }
  }, server.url);
  assert.equal(result, "blocked: TypeError");
  for (const method of ["OPTIONS", "GET"]) {
    const resp = await fetch(`http://127.0.0.1:${server.port}/api/auth/get-session`, {
      method,
      headers: { Origin: `http://127.0.0.1:${frontPort}`, "Access-Control-Request-Method": "GET" },
    });
    const cors = [...resp.headers.keys()].filter((k) => k.startsWith("access-control-"));
    assert.deepEqual(cors, [], `${method} from an untrusted origin got ${cors}`);
  }
  await context.close();
});
