// The ordered queue of reply bytes waiting to be written: replies go out strictly in command order,
// a batch of pipelined replies in one write (writev when the transport has it).

import type { SmtpTransport } from './transport.js'

// Replies are written in one batch per read; a batch this large is written at once, so a client
// that floods commands without reading replies meets the transport's backpressure early.
const FLUSH_AT = 16 * 1024

/** Reply bytes in command order, written as one batch per read of client input. */
export class ReplyQueue {
  private batch: Buffer[] = []
  private octets = 0

  /** Queues one formatted reply; true when the batch is large enough to be written now. */
  push(bytes: Buffer): boolean {
    this.batch.push(bytes)
    this.octets += bytes.length
    return this.octets >= FLUSH_AT
  }

  /**
   * Writes the queued batch to `transport` (or drops it when the transport is gone). Returns the
   * octets written, negated when the transport asked the writer to wait for 'drain'.
   */
  flush(transport: SmtpTransport | null): number {
    const count = this.batch.length
    if (count === 0) return 0
    const length = this.octets
    this.octets = 0
    let ok: boolean
    if (count === 1) {
      // The usual case (one reply per read): the array is kept for the next batch.
      const bytes = this.batch[0] as Buffer
      this.batch.length = 0
      if (!transport) return 0
      ok = transport.write(bytes)
    } else {
      // A new array for the next batch: the transport may keep the one it is given.
      const batch = this.batch
      this.batch = []
      if (!transport) return 0
      // A batch of pipelined replies goes out in one write, without joining them first when it can.
      if (transport.writev) ok = transport.writev(batch)
      else ok = transport.write(Buffer.concat(batch, length))
    }
    return ok ? length : -length
  }
}
