// Finds the end of the message header block (the first empty line, RFC 5322 §2.1) in the decoded
// body as it streams past, holding at most `max` octets. Pure; no I/O.

const BLANK_LINE = Buffer.from('\r\n\r\n')

/** Collects the header block of one message. */
export class HeaderScanner {
  /** True once the block is complete, cut at the limit, or the data ended. */
  done = false
  /** True when the block was longer than the limit and only its start was kept. */
  truncated = false
  private parts: Buffer[] = []
  private length = 0
  // The last three octets seen, to find a blank line split across pieces. It starts as CRLF so
  // a message that begins with an empty line has an empty header block.
  private tail = Buffer.from('\r\n')

  constructor(private readonly max: number) {}

  /** Feeds decoded body octets; true when this piece completed the header block. */
  take(piece: Buffer): boolean {
    if (this.done || piece.length === 0) return false
    const end = this.findEnd(piece)
    const keep = end >= 0 ? end : piece.length
    if (this.length + keep > this.max) {
      this.add(piece.subarray(0, this.max - this.length))
      this.truncated = true
      this.done = true
      return true
    }
    this.add(piece.subarray(0, keep))
    if (end >= 0) this.done = true
    return this.done
  }

  /** The data ended before a blank line: the whole message was header. */
  finish(): boolean {
    if (this.done) return false
    this.done = true
    return true
  }

  /** The header octets collected, up to and including the blank line when there was one. */
  headers(): Buffer {
    return Buffer.concat(this.parts, this.length)
  }

  /** Where in `piece` the header block ends (just after the blank line), or -1. */
  private findEnd(piece: Buffer): number {
    // A blank line that straddles the previous piece and this one.
    const joint = Buffer.concat([this.tail, piece.subarray(0, 3)])
    const across = joint.indexOf(BLANK_LINE)
    if (across >= 0 && across + 4 > this.tail.length) return across + 4 - this.tail.length
    const inside = piece.indexOf(BLANK_LINE)
    if (inside >= 0) return inside + 4
    const seen = piece.length >= 3 ? piece : Buffer.concat([this.tail, piece])
    this.tail = Buffer.from(seen.subarray(seen.length - 3))
    return -1
  }

  private add(bytes: Buffer): void {
    if (bytes.length === 0) return
    this.parts.push(bytes)
    this.length += bytes.length
  }
}
