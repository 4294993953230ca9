// Writes a fixture in the shape of `wrangler d1 export` of an upstream
// WasmChannel database, and a JSON file saying what an import of it must
// give. d1import's tests run it; nothing it writes is committed.
//
//   node gen.mjs --schema final|old --messages N --dump OUT.sql --expect OUT.json
//                [--secret S] [--now UNIX_MS] [--seed N]
//
// Passwords are hashed and session cookies signed by the real Better Auth
// (better-auth/crypto, installed in ../betterauth by `npm ci`). The
// "final" schema is upstream's after its last migration; "old" is one from
// before messages had refrence_id, reaction_kind and reactions.
//
// Edge cases: unicode names and texts, quotes, semicolons, comment markers
// and newlines inside strings; an email differing only in case and spaces;
// a duplicate email after normalising; a user with only a GitHub account;
// deleted messages in both of upstream's encodings; messages and reactions
// by users who no longer exist, unreadable reactions JSON, a count that disagrees with
// its users; several messages in one second; wrangler's PRAGMA,
// d1_migrations, sqlite_sequence and a _cf_ table; and statements out of
// order (messages before users, one INSERT before its CREATE TABLE).
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const require = createRequire(new URL("../betterauth/package.json", import.meta.url));
const crypto = await import(pathToFileURL(require.resolve("better-auth/crypto")).href);

function args() {
  const out = { schema: "final", messages: 10000, secret: "", now: Date.now(), seed: 14 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i].replace(/^--/, "");
    if (!(k in out) && k !== "dump" && k !== "expect") throw new Error(`unknown flag ${a[i]}`);
    out[k] = typeof out[k] === "number" ? Number(a[i + 1]) : a[i + 1];
  }
  if (!out.dump || !out.expect) throw new Error("need --dump and --expect");
  if (out.schema !== "final" && out.schema !== "old") throw new Error("--schema is final or old");
  return out;
}
const opt = args();

// mulberry32: a small seeded generator, so the dump's shape repeats.
let state = opt.seed >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const seqID = (prefix, n) => prefix + String(n).padStart(20, "0");

const nowSec = Math.floor(opt.now / 1000);
const start = nowSec - 90 * 86400; // history began ninety days ago

// --- users -----------------------------------------------------------------
const people = [
  { name: "Ada Lovelace", email: "ada@example.com", password: "correct horse battery staple" },
  { name: "Zoë Ångström", email: "  Zoe.Angstrom@Example.COM ", password: "Ünïcödé-päss-wörd" },
  { name: "李小龙", email: "bruce@example.cn", password: "ｐａｓｓｗｏｒｄ１２３" },
  { name: "Ñandú 🦩 O'Brien", email: "nandu@example.org", password: "it's; -- not /* a */ comment" },
  { name: "Grace Hopper", email: "grace@example.com", password: "password123" },
  { name: "Dup Upper", email: "DUP@example.com", password: "first-of-two-dups" },
  { name: "Dup Lower", email: "dup@example.com", password: "second-of-two-dups", duplicate: true },
  { name: "Octo Cat", email: "octo@example.com", password: null }, // GitHub only
];
const users = [];
for (const [i, p] of people.entries()) {
  const id = crypto.generateRandomString(32, "a-z", "A-Z", "0-9");
  const created = start + i * 3600;
  const hash = p.password === null ? null : await crypto.hashPassword(p.password);
  users.push({ ...p, id, created, hash, image: i % 2 ? `https://img.example.com/${i}.png` : null, verified: i % 3 === 0 ? 1 : 0 });
}
// Reactions by these ids refer to users deleted upstream.
const ghosts = ["ghostUserNoLongerHere000000000001", "ghostUserNoLongerHere000000000002"];
const imported = users.filter((u) => !u.duplicate);
// A duplicate email's messages belong to the earlier user with that email.
const canonical = (id) => {
  const u = users.find((x) => x.id === id);
  if (!u) return id; // a deleted user's message keeps its author id
  return u.duplicate ? users.find((x) => !x.duplicate && x.email.trim().toLowerCase() === u.email.trim().toLowerCase()).id : id;
};
const known = new Set(imported.map((u) => u.id));
const authors = users.filter((u) => u.password !== null);

// --- sessions ----------------------------------------------------------------
const sessions = [];
for (const [i, u] of users.entries()) {
  if (i > 4) break;
  const token = crypto.generateRandomString(32, "a-z", "A-Z", "0-9");
  const expired = i === 4;
  const exp = expired ? nowSec - 3600 : nowSec + 6 * 86400;
  const cookie = opt.secret ? `${token}.${await crypto.makeSignature(token, opt.secret)}` : "";
  sessions.push({ id: crypto.generateRandomString(32, "a-z", "A-Z", "0-9"), token, cookie, userId: u.id, exp, created: exp - 7 * 86400, expired, email: u.email });
}

// --- messages --------------------------------------------------------------
const texts = [
  "hello", "héllo wörld", "日本語のメッセージ", "emoji 🎉🦀", "it's a 'quote'", "semi;colon", "-- not a comment",
  "/* nor this */", "line one\nline two", "tab\there", "back\\slash", "\"double\"", "",
];
const messages = [];
let ghostAuthored = 0;
let t = start + 86400;
const expectReactions = { read: 0, imported: 0, unknown: 0, onDeleted: 0, badJSON: 0, mismatch: 0 };
for (let n = 0; n < opt.messages; n++) {
  if (n % 3 === 0) t += 1 + Math.floor(rand() * 40); // three messages share each second
  // Now and then the author is a user deleted upstream.
  const author = n % 499 === 11 ? { id: ghosts[0] } : pick(authors);
  if (author.id === ghosts[0]) ghostAuthored++;
  const m = {
    id: seqID("c", n) + crypto.generateRandomString(4, "a-z"),
    ref: seqID("r", n),
    sentBy: author.id,
    text: `${pick(texts)} #${n}`,
    created: t,
    updated: t,
    deletedAt: t, // upstream: live when deleted_at = created_at
    deleted: false,
    reactionKind: null,
    reactionsJSON: "[]",
    reactions: [],
  };
  if (n % 97 === 5) { m.deleted = true; m.deletedAt = t + 60; m.updated = t + 60; }
  if (n % 211 === 7) { m.deleted = true; m.deletedAt = null; m.updated = t + 5; }
  if (opt.schema === "final" && n % 7 === 3 && n !== 10) {
    const list = [];
    for (const kind of [1, 3, 4]) {
      if (rand() < 0.5) continue;
      const us = [];
      for (const u of imported) if (rand() < 0.3) us.push(u.id);
      if (n % 5 === 0) us.push(pick(ghosts));
      if (us.length === 0) continue;
      list.push({ kind, count: us.length, users: us });
    }
    if (n % 1000 === 3 && list.length) { list[0].count += 2; expectReactions.mismatch++; }
    m.reactionsJSON = JSON.stringify(list);
    for (const r of list) {
      const keep = r.users.filter((id) => known.has(id));
      expectReactions.read += r.users.length;
      expectReactions.unknown += r.users.length - keep.length;
      // A delete erases reactions: those on deleted messages are reported, not imported.
      if (m.deleted) { expectReactions.onDeleted += keep.length; continue; }
      expectReactions.imported += keep.length;
      if (keep.length) m.reactions.push({ kind: r.kind, count: keep.length, users: keep });
    }
  }
  if (opt.schema === "final" && n === 10) { m.reactionsJSON = "{not json"; m.reactions = []; expectReactions.badJSON++; }
  if (opt.schema === "final" && n % 13 === 0) m.reactionKind = String(1 + (n % 4));
  messages.push(m);
}

// --- SQL -------------------------------------------------------------------
const q = (v) => (v === null || v === undefined ? "NULL" : typeof v === "number" ? String(v) : `'${String(v).replaceAll("'", "''")}'`);
const insert = (table, row) =>
  `INSERT INTO "${table}" (${Object.keys(row).map((k) => `"${k}"`).join(",")}) VALUES(${Object.values(row).map(q).join(",")});`;

const ddl = {
  user: "CREATE TABLE `user` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`name` text NOT NULL,\n\t`email` text NOT NULL,\n\t`email_verified` integer DEFAULT false NOT NULL,\n\t`image` text,\n\t`created_at` integer NOT NULL,\n\t`updated_at` integer NOT NULL\n);",
  session: "CREATE TABLE `session` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`expires_at` integer NOT NULL,\n\t`token` text NOT NULL,\n\t`created_at` integer NOT NULL,\n\t`updated_at` integer NOT NULL,\n\t`ip_address` text,\n\t`user_agent` text,\n\t`user_id` text NOT NULL,\n\tFOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade\n);",
  account: "CREATE TABLE `account` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`account_id` text NOT NULL,\n\t`provider_id` text NOT NULL,\n\t`user_id` text NOT NULL,\n\t`access_token` text,\n\t`refresh_token` text,\n\t`id_token` text,\n\t`access_token_expires_at` integer,\n\t`refresh_token_expires_at` integer,\n\t`scope` text,\n\t`password` text,\n\t`created_at` integer NOT NULL,\n\t`updated_at` integer NOT NULL,\n\tFOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade\n);",
  verification: "CREATE TABLE `verification` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`identifier` text NOT NULL,\n\t`value` text NOT NULL,\n\t`expires_at` integer NOT NULL,\n\t`created_at` integer,\n\t`updated_at` integer\n);",
  messagesFinal: "CREATE TABLE `messages` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`refrence_id` text NOT NULL,\n\t`kind` text NOT NULL,\n\t`reaction_kind` text,\n\t`message` text NOT NULL,\n\t`reactions` text DEFAULT '[]' NOT NULL,\n\t`sent_by` text NOT NULL,\n\t`created_at` integer DEFAULT (unixepoch()) NOT NULL,\n\t`updated_at` integer DEFAULT (unixepoch()) NOT NULL,\n\t`deleted_at` integer DEFAULT (unixepoch()),\n\tFOREIGN KEY (`sent_by`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE no action\n);",
  messagesOld: "CREATE TABLE `messages` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`kind` text NOT NULL,\n\t`message` text NOT NULL,\n\t`sent_by` text NOT NULL,\n\t`created_at` integer DEFAULT (unixepoch()) NOT NULL,\n\t`updated_at` integer DEFAULT (unixepoch()) NOT NULL,\n\t`deleted_at` integer DEFAULT (unixepoch()),\n\tFOREIGN KEY (`sent_by`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE no action\n);",
};

const out = [];
out.push("PRAGMA defer_foreign_keys=TRUE;");
out.push("CREATE TABLE d1_migrations(\n\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,\n\t\tname       TEXT UNIQUE,\n\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n);");
const migrations = opt.schema === "final" ? 7 : 3;
for (let i = 0; i < migrations; i++) out.push(insert("d1_migrations", { id: i + 1, name: `000${i}_migration.sql`, applied_at: "2025-03-01 10:00:00" }));
// Messages first: a dump's order is the schema's, not the foreign keys'.
out.push(opt.schema === "final" ? ddl.messagesFinal : ddl.messagesOld);
for (const m of messages) {
  const row = opt.schema === "final"
    ? { id: m.id, refrence_id: m.ref, kind: "0", reaction_kind: m.reactionKind, message: m.text, reactions: m.reactionsJSON, sent_by: m.sentBy, created_at: m.created, updated_at: m.updated, deleted_at: m.deletedAt }
    : { id: m.id, kind: "0", message: m.text, sent_by: m.sentBy, created_at: m.created, updated_at: m.updated, deleted_at: m.deletedAt };
  out.push(insert("messages", row));
}
out.push(ddl.user);
for (const u of users) out.push(insert("user", { id: u.id, name: u.name, email: u.email, email_verified: u.verified, image: u.image, created_at: u.created, updated_at: u.created + 60 }));
// One INSERT before its CREATE TABLE.
const accountRows = users.map((u) => u.hash === null
  ? { id: crypto.generateRandomString(32), account_id: "583231", provider_id: "github", user_id: u.id, access_token: "gho_x", password: null, created_at: u.created, updated_at: u.created }
  : { id: crypto.generateRandomString(32), account_id: u.id, provider_id: "credential", user_id: u.id, access_token: null, password: u.hash, created_at: u.created, updated_at: u.created });
out.push(insert("account", accountRows[0]));
out.push(ddl.account);
for (const r of accountRows.slice(1)) out.push(insert("account", r));
out.push(ddl.session);
for (const s of sessions) out.push(insert("session", { id: s.id, expires_at: s.exp, token: s.token, created_at: s.created, updated_at: s.created, ip_address: "203.0.113.9", user_agent: "Mozilla/5.0 (upstream)", user_id: s.userId }));
out.push(ddl.verification);
out.push("CREATE TABLE sqlite_sequence(name,seq);");
out.push(insert("sqlite_sequence", { name: "d1_migrations", seq: migrations }));
out.push("CREATE TABLE _cf_KV (\n\tkey TEXT PRIMARY KEY,\n\tvalue BLOB\n) WITHOUT ROWID;");
out.push("CREATE UNIQUE INDEX `user_email_unique` ON `user` (`email`);");
out.push("CREATE UNIQUE INDEX `session_token_unique` ON `session` (`token`);");
if (opt.schema === "final") out.push("CREATE UNIQUE INDEX `messages_refrence_id_unique` ON `messages` (`refrence_id`);");
writeFileSync(opt.dump, out.join("\n") + "\n");

// --- what the import must give -------------------------------------------
const expect = {
  schema: opt.schema,
  users: users.map((u) => ({ id: u.id, name: u.name, email: u.email.trim().toLowerCase(), password: u.password, image: u.image, created: u.created, duplicate: !!u.duplicate })),
  sessions: sessions.map((s) => ({ token: s.token, cookie: s.cookie, userId: s.userId, expired: s.expired })),
  messages: messages.map((m) => ({ id: m.id, ref: opt.schema === "final" ? m.ref : m.id, sentBy: canonical(m.sentBy), text: m.text, created: m.created, deleted: m.deleted, reactionKind: m.reactionKind === null ? null : Number(m.reactionKind), reactions: m.reactions })),
  reactions: expectReactions,
  ghostAuthored,
};
writeFileSync(opt.expect, JSON.stringify(expect));
