// codec.js: a thin binding over the codec module the server embeds
// (wasm/ABI.md, version 1). All packet bytes are made and checked by that
// one WebAssembly module, in the browser exactly as on the server, so there
// is no second codec here: this file only moves bytes in and out of the
// module's linear memory.

/** Packet kinds (protocol.md § Packet). */
export const Kind = Object.freeze({
  Message: 0,
  OnlineUsers: 1,
  Delete: 2,
  Reaction: 3,
  Joined: 4,
  Typing: 5,
});

/** Reaction kinds (protocol.md § Packet). */
export const Reaction = Object.freeze({
  None: 0,
  Like: 1,
  Dislike: 2,
  Heart: 3,
  Star: 4,
});

/** Error classes by ABI error code (ABI.md § Error codes). */
const CLASSES = Object.freeze({
  1: "truncated",
  2: "invalid_enum",
  3: "invalid_utf8",
  4: "checksum",
  5: "compression",
  6: "too_large",
  7: "trailing_bytes",
  100: "out_of_memory",
});

/** Classes that describe the packet, as opposed to a fault of the module. */
const PACKET_CLASSES = new Set([1, 2, 3, 4, 5, 6, 7]);

/** Largest decompressed payload accepted by default; the room limit is 999 bytes. */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024;

const ABSENT = -1;
const RECORD_HEADER = 24;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/**
 * CodecError is thrown for a packet the module refuses (class is one of the
 * protocol's strict-decoding classes) or for a module fault (class
 * "out_of_memory" or "codec_fault"; packet is then false).
 */
export class CodecError extends Error {
  constructor(op, code, cause) {
    const cls = CLASSES[code] ?? "codec_fault";
    super(`codec: ${op}: ${cls}`, cause ? { cause } : undefined);
    this.name = "CodecError";
    this.op = op;
    this.code = code;
    this.class = cls;
    this.packet = PACKET_CLASSES.has(code);
  }
}

/** Exports the ABI requires, with their parameter and result counts. */
const REQUIRED = Object.freeze({
  wc_abi_version: [0, 1],
  wc_alloc: [1, 1],
  wc_free: [2, 0],
  wc_encode: [8, 1],
  wc_decode: [3, 1],
});

/**
 * Codec wraps one instance of the module. Calls are synchronous and one at
 * a time, as the ABI requires. A trap discards the instance and the next
 * call runs on a fresh one made from the same compiled module.
 */
export class Codec {
  /**
   * create instantiates a compiled codec module (it takes no imports) and
   * checks its exports and ABI version.
   * @param {WebAssembly.Module} module
   */
  static async create(module) {
    const instance = await WebAssembly.instantiate(module, {});
    return new Codec(module, instance);
  }

  /** Use Codec.create; the constructor takes an instance made from module. */
  constructor(module, instance) {
    this.module = module;
    this.#adopt(instance);
  }

  /** Replaces a trapped instance with a fresh one of the same module. */
  #instantiate() {
    this.#adopt(new WebAssembly.Instance(this.module, {}));
  }

  #adopt(instance) {
    const x = instance.exports;
    if (!(x.memory instanceof WebAssembly.Memory)) {
      throw new Error("codec: module exports no memory");
    }
    for (const [name, [params]] of Object.entries(REQUIRED)) {
      if (typeof x[name] !== "function" || x[name].length !== params) {
        throw new Error(`codec: module lacks export ${name} with ${params} parameters`);
      }
    }
    const version = x.wc_abi_version();
    if (version !== 1) {
      throw new Error(`codec: ABI version ${version}, want 1`);
    }
    this.x = x;
  }

  /** Runs fn against the instance, turning a trap into a codec_fault. */
  #guard(op, fn) {
    try {
      return fn(this.x);
    } catch (err) {
      if (err instanceof CodecError) throw err;
      this.#instantiate();
      throw new CodecError(op, 0, err);
    }
  }

  /** Copies bytes into a fresh module buffer; returns [ptr, len]. */
  #put(op, bytes) {
    const ptr = this.x.wc_alloc(bytes.length) >>> 0;
    if (ptr === 0) throw new CodecError(op, 100);
    new Uint8Array(this.x.memory.buffer, ptr, bytes.length).set(bytes);
    return [ptr, bytes.length];
  }

  /** Splits a packed i64 result; throws on an error code. */
  #result(op, packed) {
    const r = BigInt.asUintN(64, packed);
    const ptr = Number(r >> 32n);
    const len = Number(r & 0xffffffffn);
    if (ptr === 0) throw new CodecError(op, len);
    if (ptr + len > this.x.memory.buffer.byteLength) {
      throw new CodecError(op, 0, new RangeError("result outside memory"));
    }
    return [ptr, len];
  }

  /**
   * encode makes one packet.
   * @param {{kind:number, messageId?:string|null, userId?:string|null,
   *          reactionKind?:number|null, payload?:Uint8Array|string}} p
   * @returns {Uint8Array} the packet bytes
   */
  encode(p) {
    const payload = typeof p.payload === "string" ? utf8.encode(p.payload) : (p.payload ?? new Uint8Array(0));
    const mid = p.messageId == null ? null : utf8.encode(p.messageId);
    const uid = p.userId == null ? null : utf8.encode(p.userId);
    const reaction = p.reactionKind == null ? ABSENT : p.reactionKind;
    return this.#guard("encode", (x) => {
      const bufs = [];
      try {
        const put = (b) => {
          if (b === null) return [0, ABSENT];
          const buf = this.#put("encode", b);
          bufs.push(buf);
          return buf;
        };
        const [mp, ml] = put(mid);
        const [up, ul] = put(uid);
        const [pp, pl] = put(payload);
        const [rp, rl] = this.#result("encode", x.wc_encode(p.kind, mp, ml, up, ul, reaction, pp, pl));
        const out = new Uint8Array(x.memory.buffer, rp, rl).slice();
        x.wc_free(rp, rl);
        return out;
      } finally {
        for (const [ptr, len] of bufs) release(x, ptr, len);
      }
    });
  }

  /**
   * decode checks and decodes one packet.
   * @param {Uint8Array|ArrayBuffer} bytes the packet
   * @param {number} maxPayload largest decompressed payload accepted
   * @returns {{kind:number, messageId:string|null, userId:string|null,
   *            reactionKind:number|null, payload:Uint8Array, serialized:boolean}}
   */
  decode(bytes, maxPayload = DEFAULT_MAX_PAYLOAD) {
    const pkt = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    return this.#guard("decode", (x) => {
      const [ip, il] = this.#put("decode", pkt);
      let rp, rl;
      try {
        [rp, rl] = this.#result("decode", x.wc_decode(ip, il, maxPayload >>> 0));
      } finally {
        release(x, ip, il);
      }
      try {
        return readRecord(x.memory.buffer, rp, rl);
      } finally {
        x.wc_free(rp, rl);
      }
    });
  }
}

/**
 * Frees an input buffer. After a trap the instance is about to be replaced,
 * so a failure here must not hide the trap that caused it.
 */
function release(x, ptr, len) {
  try {
    x.wc_free(ptr, len);
  } catch {
    // the instance is discarded by the caller
  }
}

/** Reads a decode record (ABI.md § Decode result), copying everything out. */
function readRecord(buffer, ptr, len) {
  if (len < RECORD_HEADER) throw new CodecError("decode", 0, new RangeError("short record"));
  const v = new DataView(buffer, ptr, len);
  const kind = v.getUint32(0, true);
  const reaction = v.getInt32(4, true);
  const midLen = v.getInt32(8, true);
  const uidLen = v.getInt32(12, true);
  const payloadLen = v.getUint32(16, true);
  const serialized = v.getUint32(20, true);
  const body = Math.max(midLen, 0) + Math.max(uidLen, 0) + payloadLen;
  if (RECORD_HEADER + body !== len) {
    throw new CodecError("decode", 0, new RangeError("record length mismatch"));
  }
  const bytes = new Uint8Array(buffer, ptr + RECORD_HEADER, body);
  let off = 0;
  const take = (n) => {
    const b = bytes.subarray(off, off + n);
    off += n;
    return b;
  };
  const messageId = midLen < 0 ? null : utf8Strict.decode(take(midLen));
  const userId = uidLen < 0 ? null : utf8Strict.decode(take(uidLen));
  const payload = take(payloadLen).slice();
  return {
    kind,
    messageId,
    userId,
    reactionKind: reaction < 0 ? null : reaction,
    payload,
    serialized: serialized === 1,
  };
}

/**
 * loadCodec fetches and compiles the codec module (by default the one the
 * server embeds, at /codec.wasm) and returns a ready Codec.
 */
export async function loadCodec(url = "/codec.wasm") {
  const resp = await fetch(url, { credentials: "same-origin" });
  if (!resp.ok) throw new Error(`codec: fetch ${url}: HTTP ${resp.status}`);
  let module;
  if (WebAssembly.compileStreaming && resp.headers.get("content-type") === "application/wasm") {
    module = await WebAssembly.compileStreaming(resp);
  } else {
    module = await WebAssembly.compile(await resp.arrayBuffer());
  }
  return Codec.create(module);
}
