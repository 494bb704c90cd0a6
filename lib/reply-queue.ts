// The ordered queue of reply bytes waiting to be written: replies go out strictly in command order,
// a batch of pipelined replies in one write (writev when the transport has it).

import type { SmtpTransport } from './transport.js'

// Replies are written in one batch per read; a batch this large is written at once, so a client
// that floods commands without reading replies meets the transport's backpressure early.
const FLUSH_AT = 16 * 1024

/** Reply bytes in command order, written as one batch per read of client input. */
export class ReplyQueue {
  // The usual batch is one reply (one command per read): it waits here, with no array. A
  // pipelined MAIL, RCPT, DATA batch waits in three fields and leaves in a list of exactly three:
  // a list grown by push() past two takes 19 slots.
  private first: Buffer | null = null
  private second: Buffer | null = null
  private third: Buffer | null = null
  /** The whole batch once it has four replies or more. */
  private many: Buffer[] | null = null
  private octets = 0

  /** Queues one formatted reply; true when the batch is large enough to be written now. */
  push(bytes: Buffer): boolean {
    if (this.first === null) this.first = bytes
    else if (this.second === null) this.second = bytes
    else if (this.third === null) this.third = bytes
    else if (this.many === null) this.many = [this.first, this.second, this.third, bytes]
    else this.many.push(bytes)
    this.octets += bytes.length
    return this.octets >= FLUSH_AT
  }

  /**
   * Writes the queued batch to `transport` (or drops it when the transport is gone). Returns the
   * octets written, negated when the transport asked the writer to wait for 'drain'.
   */
  flush(transport: SmtpTransport | null): number {
    const first = this.first
    if (first === null) return 0
    const second = this.second
    const third = this.third
    const many = this.many ?? (second === null ? null : third === null ? [first, second] : [first, second, third])
    const length = this.octets
    this.first = null
    this.second = null
    this.third = null
    this.many = null
    this.octets = 0
    if (!transport) return 0
    // A batch of pipelined replies goes out in one write, without joining them first when it can.
    let ok: boolean
    if (many === null) ok = transport.write(first)
    else if (transport.writev) ok = transport.writev(many)
    else ok = transport.write(Buffer.concat(many, length))
    return ok ? length : -length
  }
}
