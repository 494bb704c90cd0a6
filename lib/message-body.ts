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
      else if (this.batchMore === null) this.batchMore = [piece]
      else this.batchMore.push(piece)
      this.batchLength += piece.length
    }
    if (this.collected) {
      this.collected.push(piece)
      this.collectedLength += piece.length
    }
  }

  /**
   * Empties the batch into one Buffer for `dataChunk`. One piece goes out as it is: a view of the
   * input, which nothing writes into afterwards. Several are copied, as one Buffer of at least
   * chunkSize must be: they never lie side by side (a read ends between them, a stuffed dot was
   * taken out, or one is the Received header or a normalised line ending), so no view could cover them.
   */
  takeBatch(): Buffer {
    const first = this.batchFirst
    const more = this.batchMore
    const length = this.batchLength
    this.clearBatch()
    if (first === null) return Buffer.alloc(0)
    return more === null ? first : Buffer.concat([first, ...more], length)
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
