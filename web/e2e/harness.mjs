// harness.mjs: what the browser tests share. It builds the real server
// binary, runs it on a free loopback port with a fresh database, and
// launches Debian's headless Chromium through playwright-core. Everything
// is bounded by timeouts and every process started here is stopped here.

import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const artifacts = path.join(repoRoot, "testdata", "artifacts");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

/** A scratch folder for one test file, removed by cleanup(). */
export function scratch() {
  const dir = mkdtempSync(path.join(tmpdir(), "wasmchannel-e2e-"));
  mkdirSync(artifacts, { recursive: true });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Builds ./cmd/wasmchannel into dir and returns the binary's path, or
 * returns $WASMCHANNEL_BIN when that names a binary already built.
 */
export async function buildServer(dir) {
  if (process.env.WASMCHANNEL_BIN) return process.env.WASMCHANNEL_BIN;
  const bin = path.join(dir, "wasmchannel");
  await promisify(execFile)("go", ["build", "-o", bin, "./cmd/wasmchannel"], {
    cwd: repoRoot,
    timeout: 300_000,
    maxBuffer: 16 << 20,
  });
  return bin;
}

/** Asks the kernel for a free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Server runs `wasmchannel serve` on a fixed port and database, so that
 * stop() then start() is a restart the clients can reconnect to.
 */
export class Server {
  constructor({ bin, dir, port, host = "127.0.0.1", args = [] }) {
    this.bin = bin;
    this.port = port;
    this.args = args;
    this.db = path.join(dir, "chat.db");
    this.logPath = path.join(dir, "server.log");
    this.url = `http://${host}:${port}`;
    this.proc = null;
  }

  async start() {
    const log = createWriteStream(this.logPath, { flags: "a" });
    const proc = spawn(this.bin, ["serve", "--addr", `127.0.0.1:${this.port}`, "--db", this.db, ...this.args], {
      cwd: path.dirname(this.db),
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout.pipe(log);
    proc.stderr.pipe(log);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
    killOnExit.add(proc);
    this.exited.then(() => killOnExit.delete(proc));
    await this.waitHealthy(30_000);
  }

  async waitHealthy(ms) {
    const deadline = Date.now() + ms;
    let last = "";
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`server exited with ${this.proc.exitCode}; log: ${this.logPath}`);
      try {
        const resp = await fetch(`http://127.0.0.1:${this.port}/api/health`, { signal: AbortSignal.timeout(2000) });
        if (resp.ok) return;
        last = `HTTP ${resp.status}`;
      } catch (err) {
        last = err.message;
      }
      await sleep(100);
    }
    throw new Error(`server not healthy after ${ms} ms (${last}); log: ${this.logPath}`);
  }

  /** Stops the server: SIGTERM, then SIGKILL if it has not exited in time. */
  async stop(signal = "SIGTERM", graceMs = 10_000) {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Processes to kill if the test runner exits early. */
const killOnExit = new Set();
process.on("exit", () => {
  for (const p of killOnExit) p.kill("SIGKILL");
});

/** Launches headless Chromium; Playwright gives it a fresh temporary profile. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * startAll builds and starts a server (or uses WEB_E2E_BASE_URL, for
 * working on the page against a server already running) and a browser.
 */
export async function startAll(name) {
  const s = scratch();
  let server = null;
  let baseURL = process.env.WEB_E2E_BASE_URL || "";
  if (!baseURL) {
    const bin = await buildServer(s.dir);
    server = new Server({ bin, dir: s.dir, port: await freePort() });
    await server.start();
    baseURL = server.url;
  }
  const browser = await launchBrowser();
  return {
    baseURL,
    server,
    browser,
    dir: s.dir,
    async close() {
      await browser.close().catch(() => {});
      if (server) {
        await server.stop();
        // Keep the server's log beside the screenshots, for a failed run.
        if (existsSync(server.logPath)) copyFileSync(server.logPath, path.join(artifacts, `${name}-server.log`));
      }
      s.cleanup();
    },
  };
}

// --- page helpers shared by the browser tests ------------------------------

/** The longest any single expectation may take, in ms. */
export const STEP = 20_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls get() until ok(value) holds; fails with the last value after ms. */
export async function until(what, get, ok, ms = STEP) {
  const deadline = Date.now() + ms;
  let value;
  for (;;) {
    try {
      value = await get();
      if (ok(value)) return value;
    } catch (err) {
      value = `(error: ${err.message})`;
    }
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)} after ${ms} ms`);
    await sleep(100);
  }
}

export const tid = (page, id) => page.locator(`[data-testid="${id}"]`);
export const text = (loc) => loc.textContent({ timeout: 1000 });
export const message = (page, body) => tid(page, "message").filter({ hasText: body });
