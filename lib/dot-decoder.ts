// The message-body decoder for DATA (end-of-data marker, dot-unstuffing) and BDAT (no framing),
// with the line-ending policy and the text-line limit. Works on Buffers with indexOf; holds no
// bytes between calls, only a state, so any split of the input gives the same output.

import { lineScanner, type LineScanner } from './line-scan.js'

/**
 * What to do with a CR or LF that is not part of a CRLF pair inside message data.
 * - `reject`: read to the end of the data, then refuse the message (550 5.6.0). Nothing is changed.
 * - `normalize`: turn each bare CR or LF into CRLF.
 * - `keep`: pass them through untouched (RFC 5321 allows nothing else to end a line, so they are data).
 * In every mode only CRLF.CRLF ends DATA, and only CRLF starts a line for dot-unstuffing.
 */
export type LineEndingPolicy = 'reject' | 'normalize' | 'keep'

/** Why a message body was refused while it was being read. */
export type DecodeFault = 'bareLineEnding' | 'textLineTooLong'

/** Settings of one decoder. */
export interface DotDecoderOptions {
  readonly lineEndings: LineEndingPolicy
  /** Longest text line in octets including its CRLF (RFC 5321 §4.5.3.1.6: 1000); 0 turns the check off. */
  readonly maxTextLineLength: number
  /** True for DATA (dot-stuffed, ends at CRLF.CRLF); false for BDAT chunks (raw, no end marker). */
  readonly dotStuffed: boolean
}

/** Where decode() puts its output pieces: an array, or a reader that takes each piece at once. */
export interface PieceSink {
  /** Takes a piece to keep as it is: a view of the input, or a constant. */
  push(piece: Buffer): unknown
  /**
   * Takes the octets `source[from, to)`, which are overwritten after the call (the line scanner's
   * memory, where dot lines were unstuffed): the sink copies what it keeps. A sink without it
   * (an array) gets views of the input only, a piece per dot line, as the per-line lane makes.
   * `more` is how much of this decode() call's input is still to come (at most that much output).
   */
  append?(source: Uint8Array, from: number, to: number, more: number): unknown
}

const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e
const CRLF_DOT = Buffer.from('\r\n.')
const CR_BYTES = Buffer.from('\r')
const LF_BYTES = Buffer.from('\n')
const CRLF_BYTES = Buffer.from('\r\n')
/** A read this long that did not end the data starts the next one with full scanner windows. */
const LONG_READ = 16 * 1024

// The decoder's position relative to lines (go-smtp's dot-reader state names).
const BEGIN_LINE = 0 // just after CRLF, or the start of the data
const DOT_SEEN = 1 // a line began with '.', which is not part of the output
const DOT_CR = 2 // ".\r" at the start of a line: the end marker if LF follows
const CR_SEEN = 3 // the last byte was a CR (already in the output) that may pair with an LF
const IN_LINE = 4 // anywhere else in a line
type State = typeof BEGIN_LINE | typeof DOT_SEEN | typeof DOT_CR | typeof CR_SEEN | typeof IN_LINE

/**
 * Decodes one message body. Call `decode()` with each slice of input; it pushes output pieces
 * (views of the input where possible) to `out` and returns how far it read. For DATA, `done`
 * turns true once CRLF.CRLF was read, and the returned position is just after it.
 *
 * Faults never depend on how the input was split: after a fault the body is still checked (only
 * output stops), and a bare line ending outranks an over-long line.
 */
export class DotDecoder {
  /** True once the end-of-data marker was read (DATA only). */
  done = false
  /** The policy violation to report, if any; once set, nothing more is output. */
  fault: DecodeFault | null = null
  private discarding = false
  private state: State = BEGIN_LINE
  /** Octets of the current line so far, without a CR that may still pair with an LF. */
  private lineLength = 0
  /** Where the current line's octets not yet in lineLength begin, in the current input. */
  private lineFrom = 0
  /** Position of the next CR at or after the scan point in the current input; -1 when none is left. */
  private nextCr = -1
  private checkEndings: boolean
  private maxLine: number
  private readonly normalize: boolean
  private readonly dotStuffed: boolean
  /** Skips clean lines a window at a time while line endings are checked and lines are not measured. */
  private readonly scanner: LineScanner | null
  /** DATA with the scanner: it also takes the dots out of ordinary dot lines, a window at a time. */
  private readonly unstuffing: boolean
  /** The last decode() read at least LONG_READ octets and did not reach the end of the data. */
  private longBody = false

  constructor(options: DotDecoderOptions) {
    this.checkEndings = options.lineEndings === 'reject' || options.lineEndings === 'normalize'
    this.normalize = options.lineEndings === 'normalize'
    this.maxLine = options.maxTextLineLength
    this.dotStuffed = options.dotStuffed
    // It cannot count line lengths, so a text-line limit keeps the per-line lane.
    this.scanner = this.checkEndings && this.maxLine === 0 ? lineScanner() : null
    this.unstuffing = this.scanner !== null && this.dotStuffed
  }

  /** Stops output from now on (the message is refused); the body is still read to its end. */
  discard(): void {
    this.discarding = true
  }

  /** Reads `input[start, end)`; returns the position after the last byte read. */
  decode(input: Buffer, start: number, end: number, out: PieceSink): number {
    // BDAT with nothing to check: the chunk is the output.
    if (!this.dotStuffed && !this.checkEndings && this.maxLine === 0) {
      this.emit(input, start, end, out)
      return end
    }
    // A view that ends at `end`, so no search runs into the bytes after a BDAT chunk.
    const view = end === input.length ? input : input.subarray(0, end)
    this.nextCr = this.checkEndings ? view.indexOf(CR, start) : -1
    // A body that went on past the last read most likely fills this one too: full windows at once.
    this.scanner?.reset(this.longBody)
    let i = start
    let seg = start // output not yet emitted: view[seg, i)
    while (i < end) {
      switch (this.state) {
        case BEGIN_LINE:
          if (this.dotStuffed && view[i] === DOT) {
            // RFC 5321 §4.5.2: a leading dot is removed; ".CRLF" alone ends the data.
            this.emit(view, seg, i, out)
            seg = ++i
            this.state = DOT_SEEN
          } else {
            this.state = IN_LINE
          }
          break
        case DOT_SEEN:
          if (view[i] === CR) {
            seg = ++i // hold the CR back until we know it is not the end marker's
            this.state = DOT_CR
          } else {
            this.state = IN_LINE
          }
          break
        case DOT_CR:
          if (view[i] === LF) {
            this.done = true
            return i + 1
          }
          // ".\r" then something else: the held CR is a bare CR in the data.
          this.state = IN_LINE
          if (this.bareCr()) {
            this.push(CRLF_BYTES, out)
          } else {
            this.push(CR_BYTES, out)
            this.lineLength = 1
          }
          break
        case CR_SEEN:
          if (view[i] === LF) {
            i++
            this.endLine(2)
          } else {
            this.state = IN_LINE
            if (this.bareCr()) {
              this.emit(view, seg, i, out)
              this.push(LF_BYTES, out)
              seg = i
            } else {
              this.lineLength++ // the CR was data after all
            }
          }
          break
        case IN_LINE: {
          // Only once the body has gone on past a long read: a small message (pipelined ones share a
          // read) costs less as views and one batch copy than as arena copies (in memory, 4 KiB bench
          // messages 16 to a read: ~10 µs each that way, 13.5–18 through the arena).
          if (this.unstuffing && this.longBody && this.checkEndings && out.append !== undefined && view[i] !== LF) {
            // IN_LINE means no CR waits for this octet, so an LF here is bare (the per-line lane's
            // call); otherwise the scanner runs window by window, unstuffing ordinary dot lines,
            // up to the first octet the state machine must decide on.
            const scanner = this.scanner as LineScanner
            let p = i
            for (;;) {
              const found = scanner.unstuff(view, p)
              if (scanner.unstuffedTo !== p) {
                // Dots were taken out: the output up to just after the last of them is in the
                // scanner's memory (the rest, to `found`, is as in the input and stays pending).
                if (!this.discarding) {
                  this.emit(view, seg, p, out)
                  out.append(scanner.memory, scanner.outFrom, scanner.outTo, end - scanner.unstuffedTo)
                }
                seg = scanner.unstuffedTo
              }
              p = found
              if (found === end || found < scanner.windowEnd) break
            }
            if (p !== i) {
              // An LF before p ends a CRLF (a bare one would have stopped the scan), so a line
              // starts at p; else p is inside a line (a bare CR or LF there is the next step's).
              // No CR can be last before p: it would have stopped the scan.
              this.state = view[p - 1] === LF ? BEGIN_LINE : IN_LINE
              i = p
              break
            }
          }
          const after = this.scanner && this.checkEndings ? this.scannedLines(view, i, end, this.scanner) : this.cleanLines(view, i, end)
          if (after !== i) {
            i = after // whole clean lines consumed; they stay in the pending output segment
            break
          }
          const lf = view.indexOf(LF, i)
          const stop = lf < 0 ? end : lf
          this.lineFrom = i
          if (this.checkEndings) seg = this.bareCrsBefore(view, i, stop, seg, out)
          if (lf < 0) {
            // The line goes on in the next input; a CR at the very end may pair with its LF.
            const pendingCr = view[end - 1] === CR
            this.lineLength += end - this.lineFrom - (pendingCr ? 1 : 0)
            // Checked now, not only at the line's end, so a line without end cannot grow unseen.
            if (this.maxLine > 0 && this.lineLength + 1 > this.maxLine) this.fail('textLineTooLong')
            this.state = pendingCr ? CR_SEEN : IN_LINE
            i = end
          } else if (lf > i && view[lf - 1] === CR) {
            this.lineLength += lf - 1 - this.lineFrom
            i = lf + 1
            this.endLine(2)
          } else {
            // A bare LF never starts a line for the end marker (RFC 5321 §2.3.8; SMTP smuggling).
            this.lineLength += lf - this.lineFrom
            this.endLine(this.normalize ? 2 : 1)
            this.state = IN_LINE
            if (this.checkEndings && this.bareLf()) {
              this.emit(view, seg, lf, out)
              this.push(CRLF_BYTES, out)
              seg = lf + 1
            }
            i = lf + 1
          }
          break
        }
      }
    }
    this.emit(view, seg, end, out)
    this.longBody = end - start >= LONG_READ
    return end
  }

  /**
   * The fast lane: consumes whole clean lines (CRLF-terminated, within the line limit, no bare CR)
   * from an IN_LINE position and returns where it stopped, leaving the state BEGIN_LINE, CR_SEEN or
   * IN_LINE. Anything else (a dot line, a bare CR or LF, a long or unfinished line) is left for the
   * state machine, so the result is the same as its own. Returns `i` when it consumed nothing.
   */
  private cleanLines(view: Buffer, i: number, end: number): number {
    if (!this.checkEndings && this.maxLine === 0 && this.dotStuffed) {
      // Nothing to check per line: only a dot after CRLF matters, so jump to the next one.
      const at = view.indexOf(CRLF_DOT, i)
      if (at >= 0) {
        this.state = BEGIN_LINE
        this.lineLength = 0
        return at + 2
      }
      // No dot line in this input: the end may still start one (CR or CRLF, then a dot next time).
      this.state = view[end - 1] === CR ? CR_SEEN : end - i >= 2 && view[end - 2] === CR && view[end - 1] === LF ? BEGIN_LINE : IN_LINE
      return end
    }
    const max = this.maxLine
    let consumed = i
    for (;;) {
      const lf = view.indexOf(LF, i)
      if (lf <= i || view[lf - 1] !== CR) break
      if (this.checkEndings) {
        if (this.nextCr >= 0 && this.nextCr < i) this.nextCr = view.indexOf(CR, i)
        if (this.nextCr >= 0 && this.nextCr < lf - 1) break // a bare CR in this line
        this.nextCr = view.indexOf(CR, lf + 1)
      }
      if (max > 0 && this.lineLength + (lf - 1 - i) + 2 > max) break
      this.lineLength = 0
      i = lf + 1
      consumed = i
      this.state = BEGIN_LINE
      // At the end of the input, or before a dot, the state machine takes over from BEGIN_LINE.
      if (i === end || (this.dotStuffed && view[i] === DOT)) break
      this.state = IN_LINE
    }
    return consumed
  }

  /**
   * cleanLines() by window, with the same contract: the scanner finds the first octet anywhere ahead that needs a decision
   * (a CR or LF outside a CRLF, a CR at the end, a dot after an LF), and every whole line before it
   * is clean, so it is consumed in one step and the state machine resumes at that line's start.
   * The per-line lane did two indexOf calls a line; this is one native pass a window. Only for
   * maxTextLineLength 0: the lines' lengths are never counted here.
   */
  private scannedLines(view: Buffer, i: number, end: number, scanner: LineScanner): number {
    // IN_LINE means no CR waits for this octet, so an LF here is bare whatever precedes it (the
    // scanner would look at the octet before): the state machine says so.
    if (view[i] === LF) return i
    const found = scanner.find(view, i, this.dotStuffed)
    if (found === end) {
      // All clean to the end; no CR can be last (it would have been found), so a final LF ends a CRLF.
      this.state = view[end - 1] === LF ? BEGIN_LINE : IN_LINE
      return end
    }
    // Every LF before `found` ends a CRLF line; the last of them is where the clean lines stop
    // (just before `found` when it is a dot line's dot, the common case).
    const lf = found <= i ? -1 : view[found - 1] === LF ? found - 1 : view.lastIndexOf(LF, found - 1)
    if (lf < i) return i
    this.state = BEGIN_LINE
    return lf + 1
  }

  /** Deals with bare CRs in view[from, stop - 1); returns the new start of pending output. */
  private bareCrsBefore(view: Buffer, from: number, stop: number, seg: number, out: PieceSink): number {
    // A CR before `from` was already dealt with by the DOT_CR or CR_SEEN state.
    if (this.nextCr >= 0 && this.nextCr < from) this.nextCr = view.indexOf(CR, from)
    while (this.nextCr >= 0 && this.nextCr < stop - 1) {
      this.lineLength += this.nextCr - this.lineFrom
      if (!this.bareCr()) return seg
      // normalize: the CR stays and an LF follows it, which ends the line
      this.emit(view, seg, this.nextCr + 1, out)
      this.push(LF_BYTES, out)
      seg = this.nextCr + 1
      this.lineFrom = seg // bareCr() reset the count: the line starts again after the CR
      this.nextCr = view.indexOf(CR, seg)
    }
    // Step past a CR at stop - 1 (it pairs with the LF at stop) so the next line searches beyond it.
    if (this.nextCr >= 0 && this.nextCr <= stop) this.nextCr = view.indexOf(CR, stop + 1)
    return seg
  }

  /** A bare CR was read: true when it is to be normalised to CRLF; false under `keep` or after a reject. */
  private bareCr(): boolean {
    if (!this.checkEndings) return false
    if (this.normalize) {
      this.endLine(2) // the CR becomes a CRLF, which ends the line
      this.state = IN_LINE
      return true
    }
    this.fail('bareLineEnding')
    return false
  }

  /** A bare LF was read: true when it is to be normalised to CRLF. */
  private bareLf(): boolean {
    if (this.normalize) return true
    this.fail('bareLineEnding')
    return false
  }

  private emit(view: Buffer, from: number, to: number, out: PieceSink): void {
    if (to > from && !this.discarding) out.push(view.subarray(from, to))
  }

  private push(bytes: Buffer, out: PieceSink): void {
    if (!this.discarding) out.push(bytes)
  }

  /** Ends a line whose terminator is `terminator` octets long in the output (CRLF 2, bare LF 1). */
  private endLine(terminator: number): void {
    if (this.maxLine > 0 && this.lineLength + terminator > this.maxLine) this.fail('textLineTooLong')
    this.lineLength = 0
    this.state = BEGIN_LINE
  }

  private fail(fault: DecodeFault): void {
    this.discarding = true
    if (fault === 'bareLineEnding') {
      // The highest-ranked fault: nothing more needs checking.
      this.fault = fault
      this.checkEndings = false
      this.maxLine = 0
      this.nextCr = -1
    } else {
      this.fault ??= fault
      this.maxLine = 0
    }
  }
}
