// The dot-decoder's per-window check: one WebAssembly SIMD pass (line-scan.wat) finds the first
// octet in a stretch of body where the decoder's exact state machine has anything to decide (a CR
// or LF outside a CRLF pair, or a possible dot line), so clean lines cost per window, not per line.
// Without WebAssembly (node --jitless) `lineScanner()` is null and the decoder keeps its
// per-line path.

import { LINE_SCAN_WASM } from './line-scan-wasm.js'

const DOT = 0x2e
/** Where a window starts in the module's memory: the octet before it sits at DATA - 1. */
const DATA = 16
/** Octets one window holds at most; the memory has room for it, its neighbours and the last 16-octet loads. */
export const WINDOW = 64 * 1024
/**
 * The first window of each decode() call; each next one doubles up to WINDOW. A small message in
 * a read full of pipelined ones is found to end early, so the rest of the read is not copied.
 */
const FIRST_WINDOW = 2 * 1024
/** A rest of the input up to this long is loaded as one window, whatever the window size. */
const WHOLE_REST = 8 * 1024

interface ScanExports {
  readonly memory: WebAssembly.Memory
  readonly scan: (from: number, to: number, dot: number) => number
  readonly bare: (from: number, to: number) => number
  readonly unstuff: (from: number, to: number) => number
}

/**
 * The one module instance. Its memory is scratch space, not state: a LineScanner only trusts what
 * it copied there itself since its last `reset()`, and decoders run one at a time.
 */
const MODULE = instantiate()

function instantiate(): Omit<ScanExports, 'memory'> & { memory: Uint8Array } | null {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(LINE_SCAN_WASM, 'base64')))
    const exports = instance.exports as unknown as ScanExports
    return { scan: exports.scan, bare: exports.bare, unstuff: exports.unstuff, memory: new Uint8Array(exports.memory.buffer) }
  } catch {
    return null // no WebAssembly, or no SIMD: the per-line path does the work
  }
}

/**
 * The scanner decoders use, or null when this Node cannot run the module. One for all of them, as
 * the memory is: a decoder resets it at each decode(), and decoders run one at a time.
 */
export function lineScanner(): LineScanner | null {
  return SHARED
}

/** Finds where the state machine is needed; remembers which part of which input is in the memory. */
export class LineScanner {
  /** The input whose window is in the memory, or null. */
  private view: Buffer | null = null
  /** The window: view[from, to) sits at memory[DATA, DATA + to - from). */
  private from = 0
  private to = 0
  /** The size of the last window loaded since reset(), 0 for none. */
  private size = 0
  /** After unstuff(): memory[outFrom, outTo) is the output of view[from, unstuffedTo). */
  outFrom = 0
  outTo = 0
  unstuffedTo = 0
  /** Where the window in the memory ends in the input (unstuff() reads no further). */
  get windowEnd(): number {
    return this.to
  }
  /** The i32s at address 0 and 4, where the module's unstuff() leaves the ends of its output and input. */
  private readonly words: Int32Array

  constructor(
    private readonly scan: ScanExports['scan'],
    /** scan() without the dot-line lanes, for BDAT (half the vector work a window). */
    private readonly bare: ScanExports['bare'],
    private readonly unstuffIn: ScanExports['unstuff'],
    /** The module's memory; octets of unstuff()'s output are read from it. */
    readonly memory: Uint8Array,
  ) {
    this.words = new Int32Array(memory.buffer, 0, 2)
  }

  /**
   * Forgets the window: another decoder may have written the memory since. Call at each decode().
   * `whole`: start with full windows, not FIRST_WINDOW (the body is known to go on past this read).
   */
  reset(whole = false): void {
    this.view = null
    this.size = whole ? WINDOW / 2 : 0
  }

  /**
   * The first position p in view[from, view.length) where view[p] is a CR not followed by an LF
   * (a CR at the end of the view counts: its LF is not known), an LF not preceded by a CR, or (with
   * `dots`) a '.' after an LF; view.length when there is none. The octet at `from` is judged with
   * the one before it, as any other.
   */
  find(view: Buffer, from: number, dots: boolean): number {
    const end = view.length
    for (;;) {
      if (this.view !== view || from < this.from || from >= this.to) this.load(view, from)
      const base = this.from - DATA
      const to = this.to
      const found = (dots ? this.scan(from - base, to - base, DOT) : this.bare(from - base, to - base)) + base
      if (found < to || to === end) return found
      from = to // nothing in this window: on to the next
    }
  }

  /**
   * find(view, from, true) within the window that holds `from` (loaded if need be), which also
   * takes the stuffing dot out of every ordinary dot line before the position it returns: a '.'
   * after a CRLF, not at `from`, followed inside the window by an octet that is neither CR nor LF
   * (so it cannot start the end marker). unstuffedTo is then just after the last dot taken out
   * (`from` when none), and memory[outFrom, outTo) is the output of view[from, unstuffedTo): that
   * input less its dots, valid until the next call. What lies between unstuffedTo and the
   * returned position is as in the input. Returns the window's end when nothing in it needs the
   * state machine (call again from there for the next window).
   * Only for DATA, and only called with non-decreasing positions between two reset()s.
   */
  unstuff(view: Buffer, from: number): number {
    if (this.view !== view || from < this.from || from >= this.to) this.load(view, from)
    const base = this.from - DATA
    const found = this.unstuffIn(from - base, this.to - base) + base
    this.outFrom = from - base
    this.outTo = this.words[0] ?? 0
    this.unstuffedTo = (this.words[1] ?? 0) + base
    return found
  }

  /** Copies the next window, view[from, from + size) or less at the end, into the memory, with its neighbours. */
  private load(view: Buffer, from: number): void {
    this.size = this.size === 0 ? FIRST_WINDOW : Math.min(WINDOW, this.size * 2)
    // A short rest is taken whole (a small message alone in its read, as a client that waits for
    // 354 sends it): one window, and no view of it when it is the whole input.
    const to = view.length - from <= WHOLE_REST ? view.length : Math.min(view.length, from + this.size)
    const memory = this.memory
    // The octets on either side decide whether an edge CR or LF pairs up; past the view there is
    // nothing (0), so a CR at its very end is reported.
    memory[DATA - 1] = from > 0 ? (view[from - 1] ?? 0) : 0
    memory.set(from === 0 && to === view.length ? view : view.subarray(from, to), DATA)
    memory[DATA + to - from] = to < view.length ? (view[to] ?? 0) : 0
    this.view = view
    this.from = from
    this.to = to
  }
}

const SHARED = MODULE ? new LineScanner(MODULE.scan, MODULE.bare, MODULE.unstuff, MODULE.memory) : null
