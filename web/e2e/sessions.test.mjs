// The sessions view in headless Chromium: one person signed in on a
// desktop and a phone sees both sessions on the desktop, ends the phone's,
// and the phone's open socket is closed and its page goes back to sign-in.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startAll, tid } from "./harness.mjs";

const STEP = 20_000;
const run = Date.now().toString(36);
const dee = { name: "Dee", email: `dee-${run}@example.com`, password: "correct horse battery" };

let env, desk, phone;

before(async () => {
  env = await startAll("sessions");
  desk = await (await env.browser.newContext({ viewport: { width: 1024, height: 720 } })).newPage();
  phone = await (await env.browser.newContext({ viewport: { width: 390, height: 780 }, isMobile: true, hasTouch: true })).newPage();
  for (const page of [desk, phone]) page.setDefaultTimeout(STEP);
});

after(async () => {
  await env?.close();
});

async function enter(page, signUp) {
  await page.goto(`${env.baseURL}/app/#room=sessions-${run}`);
  await tid(page, "email").waitFor({ state: "visible" });
  if (signUp) await tid(page, "name").fill(dee.name);
  await tid(page, "email").fill(dee.email);
  await tid(page, "password").fill(dee.password);
  await tid(page, signUp ? "sign-up" : "sign-in").click();
  await page.locator('body[data-conn="online"]').waitFor();
}

test("list sessions and end another device's", { timeout: 120_000 }, async () => {
  await enter(desk, true);
  await enter(phone, false);

  await tid(desk, "sessions-open").click();
  await tid(desk, "session").nth(1).waitFor();
  assert.equal(await tid(desk, "session").count(), 2);
  assert.equal(await desk.locator('[data-testid="session"][data-current="true"]').count(), 1, "this device is marked");

  await tid(desk, "revoke-session").click();
  await desk.locator('[data-testid="session"]:nth-child(2)').waitFor({ state: "detached" });
  assert.equal(await tid(desk, "session").count(), 1);

  // The phone's socket is closed with 1008 within a sweep, and its page
  // asks to sign in again.
  await tid(phone, "email").waitFor({ state: "visible", timeout: 30_000 });
  assert.match(await tid(phone, "error").textContent(), /session has ended/);
  // The desktop is still signed in and connected.
  await desk.locator('body[data-conn="online"]').waitFor();
  assert.equal(await tid(desk, "sign-out").isVisible(), true);
});
