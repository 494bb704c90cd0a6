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
  /** Undelivered `dataChunk` octets, when anyone listens to `dataChunk`. */
  readonly batch: Buffer[] | null
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
    this.batch = plan.streaming ? [] : null
    this.collected = plan.collect ? [] : null
    this.headers = plan.headers
  }

  /** Passes decoded octets on to the header scanner, the chunk batch and the collection. */
  add(piece: Buffer): void {
    if (this.headers?.take(piece)) this.headersReady = true
    if (this.batch) {
      this.batch.push(piece)
      this.batchLength += piece.length
    }
    if (this.collected) {
      this.collected.push(piece)
      this.collectedLength += piece.length
    }
  }

  /** Stops delivering the body: the message will be refused when its data ends. */
  stop(): void {
    this.decoder.discard()
    if (this.batch) this.batch.length = 0
    this.batchLength = 0
    if (this.collected) this.collected.length = 0
    this.collectedLength = 0
    this.headersReady = false
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
