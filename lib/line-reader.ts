// Command-line framing: bytes → lines, with a length limit that never buffers past it and the
// bare-LF policy. Holds a partial line as views of the input until its LF arrives (no copying
// per read). Pure state; no I/O.

import type { LineEndingPolicy } from './dot-decoder.js'

const LF = 0x0a
const CR = 0x0d

/** Why a line was thrown away instead of returned. */
export type LineFault = 'tooLong' | 'bareLineFeed'

/**
 * Splits input into lines. `read()` returns after one line (or fault), or when the input ran out;
 * `line`/`fault` then say which.
 */
export class LineReader {
  /** The last complete line, without its line ending; null when `read()` needs more input. */
  line: Buffer | null = null
  /** Set instead of `line` when the last line was too long or ended in a bare LF under `reject`. */
  fault: LineFault | null = null
  private parts: Buffer[] = []
  private partLength = 0
  private overflow = false

  constructor(private readonly policy: LineEndingPolicy) {}

  /** True when part of a line is held, waiting for its end. */
  get hasPartial(): boolean {
    return this.partLength > 0 || this.overflow
  }

  /** Octets of a partial line held (never more than the limit). */
  get buffered(): number {
    return this.partLength
  }

  /**
   * Reads from `input[pos]` until one line ends or the input runs out, and returns the position
   * after what it read. `limit` is the longest line accepted, in octets including CRLF.
   */
  read(input: Buffer, pos: number, limit: number): number {
    this.line = null
    this.fault = null
    const lf = input.indexOf(LF, pos)
    if (lf < 0) {
      // No end yet: keep the bytes (as a view) unless the line is already too long.
      const rest = input.length - pos
      if (!this.overflow && this.partLength + rest > limit) this.dropPartial()
      if (!this.overflow && rest > 0) {
        this.parts.push(input.subarray(pos))
        this.partLength += rest
      }
      return input.length
    }
    const total = this.partLength + (lf + 1 - pos)
    if (this.overflow || total > limit) {
      this.dropPartial()
      this.overflow = false
      this.fault = 'tooLong'
      return lf + 1
    }
    // CR before the LF, in this input or (for a line split after its CR) at the end of the held part.
    const hasCr = lf > pos ? input[lf - 1] === CR : this.lastHeld() === CR
    if (!hasCr && this.policy === 'reject') {
      this.parts = []
      this.partLength = 0
      this.fault = 'bareLineFeed'
      return lf + 1
    }
    const ending = hasCr ? 2 : 1
    if (this.parts.length === 0) {
      // The whole line is in this input: one view of it, nothing copied.
      this.line = input.subarray(pos, lf + 1 - ending)
    } else {
      const whole = Buffer.concat([...this.parts, input.subarray(pos, lf + 1)], total)
      this.parts = []
      this.partLength = 0
      this.line = whole.subarray(0, total - ending)
    }
    return lf + 1
  }

  /** Forgets any partial line (after STARTTLS, the plaintext bytes must not be kept). */
  reset(): void {
    this.parts = []
    this.partLength = 0
    this.overflow = false
    this.line = null
    this.fault = null
  }

  /** The last octet of the held partial line, or -1. */
  private lastHeld(): number {
    const last = this.parts[this.parts.length - 1]
    return last && last.length > 0 ? (last[last.length - 1] as number) : -1
  }

  private dropPartial(): void {
    this.parts = []
    this.partLength = 0
    this.overflow = true
  }
}
