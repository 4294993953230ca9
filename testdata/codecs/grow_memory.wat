;; grow_memory: a test module for wasm/ABI.md with exactly one defect.
;; Defect: wc_decode grows memory one page at a time until memory.grow
;; fails, so only the host's memory limit bounds it. It then reports
;; out_of_memory (code 100), which the host must treat as a module fault.
;;
;; Everything else is a minimal but working ABI module: an exported memory,
;; wc_abi_version, a bump allocator (wc_alloc, 8-byte aligned, growing memory
;; on demand; wc_free is a no-op), and a wc_encode that refuses every packet
;; with code 2 (invalid_enum).
;; Rebuild with `make codecs`.
(module
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 1024))

  (func (export "wc_abi_version") (result i32)
    (i32.const 1))

  ;; wc_alloc(size) -> ptr: bump allocation, 0 when memory cannot grow.
  (func (export "wc_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local $end i64)
    (local $have i64)
    (local.set $p (global.get $top))
    ;; end = align8(p + n + 8): never empty, so size 0 gets its own pointer
    (local.set $end
      (i64.and
        (i64.add (i64.extend_i32_u (local.get $p))
                 (i64.add (i64.extend_i32_u (local.get $n)) (i64.const 15)))
        (i64.const -8)))
    (local.set $have (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        (if (i64.gt_u (local.get $end) (i64.const 0xFFFFFFFF))
          (then (return (i32.const 0))))
        (if (i32.eq
              (memory.grow
                (i32.wrap_i64
                  (i64.shr_u
                    (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 65535))
                    (i64.const 16))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $top (i32.wrap_i64 (local.get $end)))
    (local.get $p))

  (func (export "wc_free") (param i32 i32))

  (func (export "wc_encode")
    (param i32 i32 i32 i32 i32 i32 i32 i32) (result i64)
    (i64.const 2))

  ;; wc_decode grows memory until it cannot.
  (func (export "wc_decode") (param i32 i32 i32) (result i64)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (i64.const 100))
)
