;; The line scanner behind lib/line-scan.ts: WebAssembly SIMD, 16 octets a step. Assembled by
;; tools/assemble-line-scan.mjs into lib/line-scan-wasm.ts; spec/line-scan.spec.ts checks they match.
;;
;; scan(from, to, dot) returns the first position p in [from, to) of memory where
;;   - a CR is not followed by an LF (the octet at `to` is read: the caller puts the real next octet
;;     or 0 there), or
;;   - an LF is not preceded by a CR (the octet at from - 1 is read, likewise), or
;;   - the octet `dot` follows an LF (DATA passes '.', a line that may need unstuffing or end the
;;     data; BDAT passes LF, which is already a bare LF),
;; and `to` when there is none. Lanes past `to` may be flagged by stale octets; they are ignored.
(module
  ;; Two pages: a 64 KiB window at offset 16, its neighbours, and room for the last step's loads.
  (memory (export "memory") 2 2)
  (func (export "scan") (param $from i32) (param $to i32) (param $dot i32) (result i32)
    (local $p i32) (local $m i32) (local $q i32)
    (local $v v128) (local $prev v128) (local $crs v128) (local $lfs v128) (local $dots v128)
    (local.set $crs (i8x16.splat (i32.const 13)))
    (local.set $lfs (i8x16.splat (i32.const 10)))
    (local.set $dots (i8x16.splat (local.get $dot)))
    (local.set $p (local.get $from))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $p) (local.get $to)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $prev (v128.load (i32.sub (local.get $p) (i32.const 1))))
        (local.set $m (i8x16.bitmask
          (v128.or
            (v128.or
              ;; CR and the next octet is not LF
              (v128.andnot (i8x16.eq (local.get $v) (local.get $crs))
                           (i8x16.eq (v128.load (i32.add (local.get $p) (i32.const 1))) (local.get $lfs)))
              ;; LF and the previous octet is not CR
              (v128.andnot (i8x16.eq (local.get $v) (local.get $lfs))
                           (i8x16.eq (local.get $prev) (local.get $crs))))
            ;; `dot` after an LF
            (v128.and (i8x16.eq (local.get $v) (local.get $dots))
                      (i8x16.eq (local.get $prev) (local.get $lfs))))))
        (if (local.get $m)
          (then
            (local.set $q (i32.add (local.get $p) (i32.ctz (local.get $m))))
            (return (select (local.get $q) (local.get $to) (i32.lt_u (local.get $q) (local.get $to))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $step)))
    (local.get $to))
)
