// Two browsers on two cluster nodes (issue 11, "Done means"): `wasmchannel
// cluster-demo --nodes 2` runs a throwaway PostgreSQL, a nats-server and two
// nodes; Alice's page talks to one node and Bob's to the other. They chat,
// react, see each other typing and one presence count.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { buildServer, launchBrowser, message, scratch, sleep, STEP, text, tid, until } from "./harness.mjs";

const run = Date.now().toString(36);
const room = `cluster-${run}`;
const alice = { name: "Alice", email: `alice-${run}@example.com`, password: "correct horse battery" };
const bob = { name: "Bob", email: `bob-${run}@example.com`, password: "staple battery horse" };

let s, demo, demoExited, browser, a, b, urls;

async function signUp(page, base, u) {
  await page.goto(`${base}/app/`);
  await tid(page, "email").waitFor({ state: "visible", timeout: STEP });
  await tid(page, "name").fill(u.name);
  await tid(page, "email").fill(u.email);
  await tid(page, "password").fill(u.password);
  await tid(page, "sign-up").click();
  await tid(page, "sign-out").waitFor({ state: "visible", timeout: STEP });
}

async function join(page) {
  await tid(page, "room-input").fill(room);
  await tid(page, "room-join").click();
  await page.locator('body[data-conn="online"]').waitFor({ timeout: STEP });
}

before(async () => {
  s = scratch();
  const bin = await buildServer(s.dir);
  demo = spawn(bin, ["cluster-demo", "--nodes", "2"], { stdio: ["ignore", "pipe", "pipe"] });
  demoExited = new Promise((resolve) => demo.once("exit", resolve));
  let out = "";
  demo.stdout.on("data", (d) => (out += d));
  demo.stderr.on("data", () => {});
  urls = await until(
    "cluster-demo's node URLs",
    async () => [...out.matchAll(/^node demo-\d+ (http:\/\/127\.0\.0\.1:\d+)/gm)].map((m) => m[1]),
    (u) => u.length === 2,
    120_000,
  );
  browser = await launchBrowser();
  a = await (await browser.newContext()).newPage();
  b = await (await browser.newContext()).newPage();
  for (const page of [a, b]) page.setDefaultTimeout(STEP);
});

after(async () => {
  await browser?.close().catch(() => {});
  if (demo && demo.exitCode === null) {
    demo.kill("SIGINT"); // cluster-demo stops its nodes, NATS and PostgreSQL
    const timer = setTimeout(() => demo.kill("SIGKILL"), 60_000);
    await demoExited;
    clearTimeout(timer);
  }
  s?.cleanup();
});

test("two browsers on two nodes chat, react, type and share one presence count", { timeout: 240_000 }, async () => {
  assert.notEqual(urls[0], urls[1]);
  await signUp(a, urls[0], alice);
  await signUp(b, urls[1], bob);
  await join(a);
  await join(b);
  for (const page of [a, b]) await until("online count", () => text(tid(page, "online-count")), (t) => t === "2");

  await tid(a, "message-input").fill("Hello from node one");
  await tid(a, "send").click();
  await until("acknowledged", () => message(a, "node one").getAttribute("data-state", { timeout: 1000 }), (v) => v === "sent");
  await message(b, "node one").waitFor();

  await tid(b, "message-input").fill("Hi from node t");
  await until("typing crosses nodes", () => text(tid(a, "typing")), (t) => t === "Bob is typing…");
  await tid(b, "message-input").fill("Hi from node two");
  await tid(b, "message-input").press("Enter");
  await message(a, "node two").waitFor();

  await message(b, "node one").locator('[data-testid="react-like"]').click();
  for (const page of [a, b]) {
    await until("like on both nodes", () => text(message(page, "node one").locator('[data-testid="reaction-count-like"]')), (t) => t === "1");
  }

  // Bob leaves; Alice's count on the other node drops.
  await tid(b, "sign-out").click();
  await until("Bob gone for Alice", () => text(tid(a, "online-count")), (t) => t === "1");
});
