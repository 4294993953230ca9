// The web client after `wasmchannel import d1`, in headless Chromium: an
// upstream user signs in with their original password and sees the old
// room's newest history with its reactions, and a browser still holding
// upstream's cookie is signed in without typing anything.
//
// Run from web/e2e (which has playwright-core installed):
//   cd web/e2e && node --test ../../testdata/d1/browser.test.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const { buildServer, freePort, launchBrowser, scratch, Server } = await import(
  path.join(here, "../../web/e2e/harness.mjs")
);
const run = promisify(execFile);

const SECRET = "upstream-better-auth-secret-for-the-browser-test";
const STEP = 20_000;
let env;

before(async () => {
  const s = scratch();
  const bin = await buildServer(s.dir);
  const dump = path.join(s.dir, "dump.sql");
  const expectPath = path.join(s.dir, "expect.json");
  await run("node", [path.join(here, "gen.mjs"), "--schema", "final", "--messages", "400", "--dump", dump,
    "--expect", expectPath, "--secret", SECRET], { timeout: 120_000 });
  const server = new Server({ bin, dir: s.dir, port: await freePort() });
  // The harness serves dir/chat.db; import into exactly that file.
  await run(bin, ["import", "d1", "--db", server.db, "--sessions", "--secret", SECRET, dump], { timeout: 120_000 });
  await server.start();
  const browser = await launchBrowser();
  env = { s, server, browser, expect: JSON.parse(readFileSync(expectPath, "utf8")) };
});

after(async () => {
  await env?.browser.close().catch(() => {});
  await env?.server.stop();
  env?.s.cleanup();
});

const tid = (page, id) => page.locator(`[data-testid="${id}"]`);
const message = (page, body) => tid(page, "message").filter({ hasText: body });
const KEYS = { 1: "like", 2: "dislike", 3: "heart", 4: "star" };

/** The newest live message that has reactions, and the newest live one. */
function samples(expect) {
  const live = expect.messages.filter((m) => !m.deleted);
  return { newest: live.at(-1), reacted: live.slice(-20).reverse().find((m) => m.reactions.length > 0) };
}

async function seesHistory(page, expect) {
  const { newest, reacted } = samples(expect);
  await page.locator('body[data-conn="online"]').waitFor({ timeout: STEP });
  await message(page, newest.text).first().waitFor({ timeout: STEP });
  assert.ok(reacted, "the fixture has a reacted message among the newest twenty");
  const row = message(page, reacted.text).first();
  await row.waitFor({ timeout: STEP });
  for (const r of reacted.reactions) {
    const count = row.locator(`[data-testid="reaction-count-${KEYS[r.kind]}"]`);
    assert.equal(await count.textContent({ timeout: STEP }), String(r.count), `${KEYS[r.kind]} on "${reacted.text}"`);
  }
  const deleted = expect.messages.slice(-20).find((m) => m.deleted);
  if (deleted) assert.equal(await message(page, deleted.text).count(), 0, "a message deleted upstream stays hidden");
}

test("an upstream user signs in with their old password and sees the room's history", { timeout: 120_000 }, async () => {
  const ada = env.expect.users[0];
  const page = await (await env.browser.newContext()).newPage();
  await page.goto(`${env.server.url}/app/#room=room`);
  await tid(page, "email").fill(ada.email);
  await tid(page, "password").fill(ada.password);
  await tid(page, "sign-in").click();
  await tid(page, "sign-out").waitFor({ state: "visible", timeout: STEP });
  await seesHistory(page, env.expect);
});

test("a browser holding upstream's cookie stays signed in", { timeout: 120_000 }, async () => {
  const session = env.expect.sessions.find((s) => !s.expired);
  const ctx = await env.browser.newContext();
  await ctx.addCookies([{ name: "better-auth.session_token", value: encodeURIComponent(session.cookie), url: env.server.url }]);
  const page = await ctx.newPage();
  await page.goto(`${env.server.url}/app/#room=room`);
  await tid(page, "sign-out").waitFor({ state: "visible", timeout: STEP });
  await seesHistory(page, env.expect);
});
