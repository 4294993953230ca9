;; bindgen_unknown_import: bindgen_throw, plus an import of a glue function
;; the host does not provide (__wbg_alert_…). Refused; the error names it.
;;
;; It has the import and export shapes of the original wasm-bindgen codec
;; build (../shared/upstream-codec), with trivial bodies, so that the host
;; takes it for one: a bump __wbindgen_malloc, getters of an empty packet,
;; and a calculate_crc32 that answers the host's self-check.
;; Rebuild with `make codecs`.

(module
  (import "./wasmchannel_bg.js" "__wbindgen_init_externref_table" (func $init))
  (import "./wasmchannel_bg.js" "__wbindgen_throw" (func $throw (param i32 i32)))
  (import "./wasmchannel_bg.js" "__wbindgen_string_new" (func $string_new (param i32 i32) (result externref)))
  (import "./wasmchannel_bg.js" "__wbg_alert_0123456789abcdef" (func $alert (param i32 i32)))
  (memory (export "memory") 1)
  (table (export "__wbindgen_export_0") 128 externref)
  (global $top (mut i32) (i32.const 1024))
  (data (i32.const 16) "boom: a thrown error")

  (export "__wbindgen_start" (func $init))

  ;; __wbindgen_malloc(size, align) -> ptr: bump allocation, never freed.
  (func (export "__wbindgen_malloc") (param $n i32) (param i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 15)) (i32.const -8)))
    (local.get $p))
  (func (export "__wbindgen_free") (param i32 i32 i32))
  (func (export "__externref_table_dealloc") (param i32))
  (func (export "__wbg_wasmpacket_free") (param i32 i32))
  (func (export "wasmpacket_new") (param i32 i32 i32 i32 i32 i32 externref) (result i32)
    (i32.const 8))
  (func (export "wasmpacket_kind") (param i32) (result i32)
    (i32.const 0))
  (func (export "wasmpacket_message_id") (param i32) (result i32 i32)
    (i32.const 0) (i32.const 0))
  (func (export "wasmpacket_user_id") (param i32) (result i32 i32)
    (i32.const 0) (i32.const 0))
  (func (export "wasmpacket_reaction_kind") (param i32) (result i32)
    (i32.const 5))
  (func (export "wasmpacket_payload") (param i32) (result externref)
    (ref.null extern))
  ;; deserialize throws, as the glue's __wbindgen_throw would in JavaScript.
  (func (export "wasmpacket_deserialize") (param externref) (result i32 i32 i32)
    (call $throw (i32.const 16) (i32.const 20))
    (unreachable))
  ;; serialize never returns: only the call deadline stops it.
  (func (export "wasmpacket_serialize") (param i32) (result i32 i32 i32)
    (loop $spin (br $spin))
    (unreachable))
  ;; calculate_crc32 answers the host's self-check, CRC-32("123456789").
  (func (export "calculate_crc32") (param i32 i32) (result i32)
    (i32.const 0xCBF43926))
)
