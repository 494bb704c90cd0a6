// The body of one transaction, across all of its BDAT chunks: the dot-decoder, the `dataChunk`
// batch, the collected message, the header scanner, and why the message will be refused, if it
// is. It lives on its transaction (TransactionState.body) and ends with it. No I/O, no events.

import { DotDecoder, type DotDecoderOptions } from './dot-decoder.js'
import type { HeaderScanner } from './header-scanner.js'
import { REPLIES, type Reply } from './replies.js'

/** How a body is read and where its octets go, decided when the data starts. */
export interface MessageBodyPlan {
  readonly decoder: DotDecoderOptions
  /** Someone listens to `dataChunk`: octets are batched for it. */
  readonly streaming: boolean
  /** The whole message is kept for `message.body`. */
  readonly collect: boolean
  /** Scans the header block for `headers` listeners, or null. */
  readonly headers: HeaderScanner | null
}

/** The state of one message body while it is read; its reader (commands/data.ts) is the only writer. */
export class MessageBody {
  readonly decoder: DotDecoder
  /** Someone listens to `dataChunk`: decoded octets wait in the batch until `takeBatch()`. */
  readonly streaming: boolean
  // The batch: its first piece alone (a small message has one), the rest in a list made only for
  // them. An emptied list gives up its room, so refilling one per message cost a 16-slot array.
  private batchFirst: Buffer | null = null
  private batchMore: Buffer[] | null = null
  /** Octets in the batch. */
  batchLength = 0
  /** The whole message, when it is being collected for `message.body`. */
  readonly collected: Buffer[] | null
  /** Octets in `collected`, kept as it grows: `bufferedInput` may be asked after every read. */
  collectedLength = 0
  readonly headers: HeaderScanner | null
  headersReady = false
  tooBig = false
  /** A listener refused the body part-way (`headers` or `dataChunk`): the reply to send at the end. */
  refusal: Reply | null = null
  /** The LAST chunk was answered, or a chunk failed: later BDATs get `refusal` or 503. */
  closed = false
  /** The message got its final reply: a connection lost after that did not cut it off. */
  answered = false

  constructor(plan: MessageBodyPlan) {
    this.decoder = new DotDecoder(plan.decoder)
    this.streaming = plan.streaming
    this.collected = plan.collect ? [] : null
    this.headers = plan.headers
  }

  /** Passes decoded octets on to the header scanner, the chunk batch and the collection. */
  add(piece: Buffer): void {
    if (this.headers?.take(piece)) this.headersReady = true
    if (this.streaming) {
      if (this.batchFirst === null) this.batchFirst = piece
      else if (this.batchMore === null) {
        // new Array() starts with room for four (V8); [piece] has room for one, then grows to 17 at
        // the next push (a 4 KiB message with a few dot lines is five or so pieces).
        this.batchMore = new Array<Buffer>()
        this.batchMore.push(piece)
      } else this.batchMore.push(piece)
      this.batchLength += piece.length
    }
    if (this.collected) {
      this.collected.push(piece)
      this.collectedLength += piece.length
    }
  }

  /**
   * Takes the next `dataChunk` batch off the front of the pending pieces. A piece of at least
   * `chunkSize` octets at the front goes out alone, as it is: a view of the input, which nothing
   * writes into afterwards. Otherwise pieces are copied into one new Buffer (they never lie side by
   * side: a read ends between them, a stuffed dot was taken out, or one is the Received header or a
   * normalised line ending) until it holds `chunkSize` octets; the piece that crosses that mark is
   * cut there when its rest could go out alone (at least `chunkSize` more), else taken whole. The
   * pieces after it stay for the next batch. So a copied batch is under 2 × chunkSize (not 2 reads
   * joined), and a long piece is never copied only to be joined to the next. With fewer than
   * `chunkSize` octets pending (the last batch) everything is taken.
   */
  takeBatch(chunkSize: number): Buffer {
    const first = this.batchFirst
    if (first === null) return Buffer.alloc(0)
    const more = this.batchMore
    if (more === null) {
      this.clearBatch()
      return first
    }
    if (first.length >= chunkSize) {
      this.shift(more, 0, null)
      this.batchLength -= first.length
      return first
    }
    // Whole pieces up to the one that crosses chunkSize (or all of them).
    let length = first.length
    let taken = 0
    while (length < chunkSize && taken < more.length) length += (more[taken++] as Buffer).length
    const crossing = more[taken - 1] as Buffer
    const size = length - chunkSize >= chunkSize ? chunkSize : length
    const batch = Buffer.allocUnsafeSlow(size)
    batch.set(first, 0)
    let at = first.length
    for (let i = 0; i < taken - 1; i++) {
      const piece = more[i] as Buffer
      batch.set(piece, at)
      at += piece.length
    }
    if (size === length) {
      batch.set(crossing, at)
      this.shift(more, taken, null)
    } else {
      batch.set(crossing.subarray(0, size - at), at)
      this.shift(more, taken, crossing.subarray(size - at))
    }
    this.batchLength -= size
    return batch
  }

  /** Drops batchMore[0, count) and makes `rest` (or else the next piece) the first one. */
  private shift(more: Buffer[], count: number, rest: Buffer | null): void {
    if (rest === null) rest = count < more.length ? (more[count++] as Buffer) : null
    if (count >= more.length) this.batchMore = null
    else more.splice(0, count)
    this.batchFirst = rest
  }

  /** Stops delivering the body: the message will be refused when its data ends. */
  stop(): void {
    this.decoder.discard()
    this.clearBatch()
    if (this.collected) this.collected.length = 0
    this.collectedLength = 0
    this.headersReady = false
  }

  private clearBatch(): void {
    this.batchFirst = null
    this.batchMore = null
    this.batchLength = 0
  }

  /** Why the message is refused, if it is: a bare line ending, then a long line, size, a listener. */
  get failure(): Reply | null {
    const fault = this.decoder.fault
    if (fault === 'bareLineEnding') return REPLIES.bareLineEnding
    if (fault === 'textLineTooLong') return REPLIES.textLineTooLong
    if (this.tooBig) return REPLIES.messageTooBig
    return this.refusal
  }
}
