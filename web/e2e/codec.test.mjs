// The page's codec binding (web/static/codec.js over the served
// /codec.wasm), run in Chromium against every golden vector: the valid
// packets must decode to their fields and re-encode to packets that decode
// the same; the malformed ones must fail with their class.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot, startAll } from "./harness.mjs";

const golden = (name) =>
  readFileSync(path.join(repoRoot, "testdata", "golden", name), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));

let env;
let page;

before(async () => {
  env = await startAll("codec");
  page = await env.browser.newPage();
  await page.goto(`${env.baseURL}/app/`, { timeout: 30_000 });
});

after(async () => {
  await env?.close();
});

/**
 * Runs fn in the page. fn must load the codec itself through the page's
 * module (the page's CSP, rightly, allows no eval to pass it in).
 */
function inPage(fn, arg) {
  return page.evaluate(fn, arg);
}

test("golden packets decode and re-encode", { timeout: 180_000 }, async () => {
  const vectors = golden("packets.jsonl");
  assert.equal(vectors.length, 240);
  const failures = await inPage(async (vectors) => {
    const mod = await import("/app/codec.js");
    const codec = await mod.loadCodec("/codec.wasm");
    const hex = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
    const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    const same = (d, v) =>
      d.kind === v.kind &&
      d.messageId === v.message_id &&
      d.userId === v.user_id &&
      d.reactionKind === v.reaction_kind &&
      toHex(d.payload) === v.payload_hex;
    const out = [];
    for (const v of vectors) {
      try {
        const d = codec.decode(hex(v.packet_hex), 1 << 20);
        if (!same(d, v) || !d.serialized) out.push(`${v.name}: decoded fields differ`);
        const e = codec.encode({
          kind: v.kind,
          messageId: v.message_id,
          userId: v.user_id,
          reactionKind: v.reaction_kind,
          payload: hex(v.payload_hex),
        });
        if (!same(codec.decode(e, 1 << 20), v)) out.push(`${v.name}: re-encoded packet decodes differently`);
      } catch (err) {
        out.push(`${v.name}: ${err.message}`);
      }
    }
    return out;
  }, vectors);
  assert.deepEqual(failures, []);
});

test("malformed packets fail with their class", { timeout: 180_000 }, async () => {
  const vectors = golden("malformed.jsonl");
  assert.equal(vectors.length, 464);
  const failures = await inPage(async (vectors) => {
    const mod = await import("/app/codec.js");
    const codec = await mod.loadCodec("/codec.wasm");
    const hex = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
    const out = [];
    for (const v of vectors) {
      try {
        codec.decode(hex(v.packet_hex), 1 << 20);
        out.push(`${v.name}: accepted, want ${v.error}`);
      } catch (err) {
        if (!(err instanceof mod.CodecError) || !err.packet || err.class !== v.error) {
          out.push(`${v.name}: ${err.class || err.message}, want ${v.error}`);
        }
      }
    }
    return out;
  }, vectors);
  assert.deepEqual(failures, []);
});

test("binding edges: limits, bad input, absent fields", { timeout: 120_000 }, async () => {
  const got = await inPage(async () => {
    const mod = await import("/app/codec.js");
    const codec = await mod.loadCodec("/codec.wasm");
    const classOf = (fn) => {
      try {
        fn();
        return "ok";
      } catch (err) {
        return err.class || err.message;
      }
    };
    const text = "x".repeat(1000);
    const pkt = codec.encode({ kind: mod.Kind.Message, messageId: "m-1", payload: text });
    const d = codec.decode(pkt, 1000);
    return {
      roundTrip: [d.kind, d.messageId, d.userId, d.reactionKind, new TextDecoder().decode(d.payload) === text],
      overLimit: classOf(() => codec.decode(pkt, 999)),
      badKind: classOf(() => codec.encode({ kind: 6 })),
      badReaction: classOf(() => codec.encode({ kind: 3, messageId: "m", reactionKind: 5 })),
      trailing: classOf(() => codec.decode(new Uint8Array([...pkt, 0]))),
      empty: classOf(() => codec.decode(new Uint8Array(0))),
      typing: (() => {
        const t = codec.decode(codec.encode({ kind: mod.Kind.Typing, payload: '{"isTyping":true}' }));
        return [t.kind, t.messageId, t.userId, t.reactionKind, new TextDecoder().decode(t.payload)];
      })(),
      // Many calls on one instance: the allocator must not leak.
      manyCalls: (() => {
        for (let i = 0; i < 20000; i++) codec.decode(codec.encode({ kind: 0, messageId: `m${i}`, payload: text }));
        return "ok";
      })(),
    };
  });
  assert.deepEqual(got, {
    roundTrip: [0, "m-1", null, null, true],
    overLimit: "too_large",
    badKind: "invalid_enum",
    badReaction: "invalid_enum",
    trailing: "trailing_bytes",
    empty: "truncated",
    typing: [5, null, null, null, '{"isTyping":true}'],
    manyCalls: "ok",
  });
});
