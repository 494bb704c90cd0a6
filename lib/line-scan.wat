;; The line scanner behind lib/line-scan.ts: WebAssembly SIMD. Assembled by
;; tools/assemble-line-scan.mjs into lib/line-scan-wasm.ts; spec/line-scan.spec.ts checks they match.
;;
;; scan(from, to, dot) returns the first position p in [from, to) of memory where
;;   - a CR is not followed by an LF (the octet at `to` is read: the caller puts the real next octet
;;     or 0 there), or
;;   - an LF is not preceded by a CR (the octet at from - 1 is read, likewise), or
;;   - the octet `dot` follows an LF (DATA passes '.', a line that may need unstuffing or end the
;;     data),
;; and `to` when there is none. Lanes past `to` may be flagged by stale octets; they are ignored.
;; bare(from, to) is scan() for BDAT: only the first two cases.
;;
;; Clean text is filtered 64 octets a step with two loads per 16 and no bitmask: lane i flags
;; (CR at i) xor (LF at i + 1), which is set for a bare CR at i and for a bare LF at i + 1, and
;; (for scan) (LF at i) and (`dot` at i + 1). So a clean block [p, p + 64) rules out every case at
;; positions p .. p + 64 except an LF or dot at p itself, which the block before it ruled out (or
;; `at` checks, at the start and after an exact pass). Only a flagged block gets the exact pass.
;; bare() drops the second term (about four vector operations per 16 octets instead of eight): a
;; BDAT body has no dot lines, and an LF after an LF is already a bare LF, flagged by the first.
(module
  ;; Two pages: a 64 KiB window at offset 16, its neighbours, and room for the last step's loads.
  (memory (export "memory") 2 2)

  ;; The exact test of one position: an LF not after a CR, or `dot` after an LF. (A bare CR at p
  ;; is the filter's own lane, so it needs no test here.)
  (func $at (param $p i32) (param $dot i32) (result i32)
    (local $c i32) (local $b i32)
    (local.set $c (i32.load8_u (local.get $p)))
    (local.set $b (i32.load8_u (i32.sub (local.get $p) (i32.const 1))))
    (i32.or
      (i32.and (i32.eq (local.get $c) (i32.const 10)) (i32.ne (local.get $b) (i32.const 13)))
      (i32.and (i32.eq (local.get $c) (local.get $dot)) (i32.eq (local.get $b) (i32.const 10)))))

  ;; The exact pass over [p, end): the first position flagged, or end.
  (func $exact (param $p i32) (param $end i32) (param $dot i32) (result i32)
    (local $m i32) (local $q i32)
    (local $v v128) (local $prev v128) (local $crs v128) (local $lfs v128) (local $dots v128)
    (local.set $crs (i8x16.splat (i32.const 13)))
    (local.set $lfs (i8x16.splat (i32.const 10)))
    (local.set $dots (i8x16.splat (local.get $dot)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
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
            (return (select (local.get $q) (local.get $end) (i32.lt_u (local.get $q) (local.get $end))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $step)))
    (local.get $end))

  (func $scan (export "scan") (param $from i32) (param $to i32) (param $dot i32) (result i32)
    (local $p i32) (local $end i32) (local $q i32)
    (local $v v128) (local $n v128) (local $crs v128) (local $lfs v128) (local $dots v128)
    (local.set $crs (i8x16.splat (i32.const 13)))
    (local.set $lfs (i8x16.splat (i32.const 10)))
    (local.set $dots (i8x16.splat (local.get $dot)))
    (local.set $p (local.get $from))
    (if (i32.ge_u (local.get $p) (local.get $to)) (then (return (local.get $to))))
    (if (call $at (local.get $p) (local.get $dot)) (then (return (local.get $p))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $p) (local.get $to)))
        ;; The filter of the block, written out four times (calls are not inlined).
        (if (v128.any_true
              (v128.or
                (v128.or
                  (v128.or
                  (v128.xor (i8x16.eq (local.tee $v (v128.load (local.get $p))) (local.get $crs))
                            (i8x16.eq (local.tee $n (v128.load offset=1 (local.get $p))) (local.get $lfs)))
                  (v128.and (i8x16.eq (local.get $v) (local.get $lfs)) (i8x16.eq (local.get $n) (local.get $dots))))
                  (v128.or
                  (v128.xor (i8x16.eq (local.tee $v (v128.load offset=16 (local.get $p))) (local.get $crs))
                            (i8x16.eq (local.tee $n (v128.load offset=17 (local.get $p))) (local.get $lfs)))
                  (v128.and (i8x16.eq (local.get $v) (local.get $lfs)) (i8x16.eq (local.get $n) (local.get $dots)))))
                (v128.or
                  (v128.or
                  (v128.xor (i8x16.eq (local.tee $v (v128.load offset=32 (local.get $p))) (local.get $crs))
                            (i8x16.eq (local.tee $n (v128.load offset=33 (local.get $p))) (local.get $lfs)))
                  (v128.and (i8x16.eq (local.get $v) (local.get $lfs)) (i8x16.eq (local.get $n) (local.get $dots))))
                  (v128.or
                  (v128.xor (i8x16.eq (local.tee $v (v128.load offset=48 (local.get $p))) (local.get $crs))
                            (i8x16.eq (local.tee $n (v128.load offset=49 (local.get $p))) (local.get $lfs)))
                  (v128.and (i8x16.eq (local.get $v) (local.get $lfs)) (i8x16.eq (local.get $n) (local.get $dots)))))))
          (then
            ;; Something in or just after this block: the exact pass says where, if in it.
            (local.set $end (select (i32.add (local.get $p) (i32.const 64)) (local.get $to)
                                    (i32.lt_u (i32.add (local.get $p) (i32.const 64)) (local.get $to))))
            (local.set $q (call $exact (local.get $p) (local.get $end) (local.get $dot)))
            (if (i32.lt_u (local.get $q) (local.get $end)) (then (return (local.get $q))))
            (if (i32.ge_u (local.get $end) (local.get $to)) (then (return (local.get $to))))
            ;; The flag may have been for the next block's first octet, which its filter does not cover.
            (if (call $at (local.get $end) (local.get $dot)) (then (return (local.get $end))))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $block)))
    (local.get $to))

  (func (export "bare") (param $from i32) (param $to i32) (result i32)
    (local $p i32) (local $end i32) (local $q i32) (local $crs v128) (local $lfs v128)
    (local.set $crs (i8x16.splat (i32.const 13)))
    (local.set $lfs (i8x16.splat (i32.const 10)))
    (local.set $p (local.get $from))
    (if (i32.ge_u (local.get $p) (local.get $to)) (then (return (local.get $to))))
    ;; $at and $exact with `dot` LF: an LF after an LF is bare, so they test nothing more.
    (if (call $at (local.get $p) (i32.const 10)) (then (return (local.get $p))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $p) (local.get $to)))
        (if (v128.any_true
              (v128.or
                (v128.or
                  (v128.xor (i8x16.eq (v128.load (local.get $p)) (local.get $crs))
                            (i8x16.eq (v128.load offset=1 (local.get $p)) (local.get $lfs)))
                  (v128.xor (i8x16.eq (v128.load offset=16 (local.get $p)) (local.get $crs))
                            (i8x16.eq (v128.load offset=17 (local.get $p)) (local.get $lfs))))
                (v128.or
                  (v128.xor (i8x16.eq (v128.load offset=32 (local.get $p)) (local.get $crs))
                            (i8x16.eq (v128.load offset=33 (local.get $p)) (local.get $lfs)))
                  (v128.xor (i8x16.eq (v128.load offset=48 (local.get $p)) (local.get $crs))
                            (i8x16.eq (v128.load offset=49 (local.get $p)) (local.get $lfs))))))
          (then
            ;; As in scan: the exact pass says where, if in this block; else the flag was a bare LF
            ;; just after it.
            (local.set $end (select (i32.add (local.get $p) (i32.const 64)) (local.get $to)
                                    (i32.lt_u (i32.add (local.get $p) (i32.const 64)) (local.get $to))))
            (local.set $q (call $exact (local.get $p) (local.get $end) (i32.const 10)))
            (if (i32.lt_u (local.get $q) (local.get $end)) (then (return (local.get $q))))
            (if (i32.ge_u (local.get $end) (local.get $to)) (then (return (local.get $to))))
            (if (call $at (local.get $end) (i32.const 10)) (then (return (local.get $end))))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $block)))
    (local.get $to))

;; unstuff(from, to) scans [from, to) as scan(from, to, '.') does, and removes the stuffing dot of
;; every ordinary dot line on the way: a '.' after an LF (which the scan only passes when the LF
;; ends a CRLF) that is not at `from` and is followed, before `to`, by an octet that is neither CR
;; nor LF. Such a dot cannot start the end marker ".\r\n" and leaves nothing for the state machine
;; to decide. The octets before each such dot are moved down in place (memory.copy), so when it
;; returns, [from, w) holds the output of the input [from, r), where r is just after the last dot
;; it took out (from when none); [r, q) is untouched. It stores w at address 0 and r at address 4
;; and returns q: the first position the state machine must decide on (a bare CR or LF, a dot line
;; it must judge) or `to`. Nothing at r - 1 or later is written, so a next call from q or later
;; reads the same neighbours as the input has.
  (func (export "unstuff") (param $from i32) (param $to i32) (result i32)
    (local $r i32) (local $w i32) (local $q i32) (local $c i32)
    (local.set $r (local.get $from))
    (local.set $w (local.get $from))
    (block $stop
      (loop $next
        (local.set $q (call $scan (local.get $r) (local.get $to) (i32.const 46)))
        (br_if $stop (i32.ge_u (i32.add (local.get $q) (i32.const 1)) (local.get $to)))
        (br_if $stop (i32.eq (local.get $q) (local.get $from)))
        (br_if $stop (i32.ne (i32.load8_u (local.get $q)) (i32.const 46)))
        (local.set $c (i32.load8_u offset=1 (local.get $q)))
        (br_if $stop (i32.eq (local.get $c) (i32.const 13)))
        (br_if $stop (i32.eq (local.get $c) (i32.const 10)))
        ;; An ordinary dot line: the run [r, q) moves down to w (it is there already while no dot
        ;; was taken out), and the dot at q is skipped.
        (if (i32.ne (local.get $w) (local.get $r))
          (then (memory.copy (local.get $w) (local.get $r) (i32.sub (local.get $q) (local.get $r)))))
        (local.set $w (i32.add (local.get $w) (i32.sub (local.get $q) (local.get $r))))
        (local.set $r (i32.add (local.get $q) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 0) (local.get $w))
    (i32.store (i32.const 4) (local.get $r))
    (local.get $q))
)
