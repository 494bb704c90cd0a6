// Command-line framing: bytes → lines, with a length limit that never buffers past it and the
// bare-LF policy. Holds a partial line as views of the input until its LF arrives (no copying
// per read). Pure state; no I/O.

import { isUtf8 } from 'node:buffer'
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
  /** Set instead of a line when the last line was too long or ended in a bare LF under `reject`. */
  fault: LineFault | null = null
  // The last complete line is source[start, end): a place, not a view, so a command line costs
  // no Buffer object (four per message showed in allocation profiles); `line` makes one if asked.
  private source: Buffer | null = null
  private start = 0
  private end = 0
  /** text(), once decoded. */
  private decoded: string | null = null
  private parts: Buffer[] = []
  private partLength = 0
  private overflow = false

  constructor(private readonly policy: LineEndingPolicy) {}

  /** True when the last read() ended a line. */
  get hasLine(): boolean {
    return this.source !== null
  }

  /** The last complete line, without its line ending (a view); null when `read()` needs more input. */
  get line(): Buffer | null {
    return this.source === null ? null : this.source.subarray(this.start, this.end)
  }

  /** Octets of the last line, without its line ending; 0 when there is none. */
  get lineLength(): number {
    return this.end - this.start
  }

  /** The last line decoded as UTF-8 (what is not UTF-8 becomes U+FFFD); '' when there is none. */
  text(): string {
    if (this.decoded === null) this.decoded = this.source === null ? '' : this.source.toString('utf8', this.start, this.end)
    return this.decoded
  }

  /** True when the last line is valid UTF-8. */
  isUtf8(): boolean {
    // As many characters as octets and no U+FFFD: every octet was ASCII (a multi-octet character
    // makes fewer, a malformed one a U+FFFD). Anything else is checked octet by octet.
    const text = this.text()
    if (text.length === this.lineLength && !text.includes('\uFFFD')) return true
    const line = this.line
    return line !== null && isUtf8(line)
  }

  /** True when the last line is exactly `octets` (a fixed command recognised without decoding it). */
  is(octets: Uint8Array): boolean {
    const source = this.source
    const start = this.start
    if (source === null || this.end - start !== octets.length) return false
    for (let i = 0; i < octets.length; i++) if (source[start + i] !== octets[i]) return false
    return true
  }

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
    this.source = null
    this.decoded = null
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
      // The whole line is in this input: nothing copied.
      this.setLine(input, pos, lf + 1 - ending)
    } else {
      const whole = Buffer.concat([...this.parts, input.subarray(pos, lf + 1)], total)
      this.parts = []
      this.partLength = 0
      this.setLine(whole, 0, total - ending)
    }
    return lf + 1
  }

  /** Forgets any partial line (after STARTTLS, the plaintext bytes must not be kept). */
  reset(): void {
    this.parts = []
    this.partLength = 0
    this.overflow = false
    this.source = null
    this.decoded = null
    this.fault = null
  }

  private setLine(source: Buffer, start: number, end: number): void {
    this.source = source
    this.start = start
    this.end = end
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
