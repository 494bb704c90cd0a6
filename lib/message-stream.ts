// The message body as a Readable per transaction, built on the `dataChunk` primitive: a chunk the
// stream cannot buffer below its highWaterMark holds the core's reading until the consumer reads.
// Listeners only; imports no socket module.

import { Readable } from 'node:stream'
import { SmtpReply, SmtpwireError } from './errors.js'
import type { DataChunkEvent, MessageEvent, MessageVerdict, TransactionEvent, Verdict } from './events.js'
import type { SmtpProtocol } from './protocol.js'
import type { SessionInfo, TransactionInfo } from './session-info.js'

/** How `messageStream` builds each body stream. */
export interface MessageStreamOptions {
  /**
   * Octets the body stream buffers before the session stops reading from the client (default: the
   * protocol's `chunkSize`). The session holds at most about this plus one `chunkSize` batch.
   */
  highWaterMark?: number
}

/** What a `MessageStreamHandler` is told about the message besides its body. */
export interface MessageStreamContext {
  /** The live session record. */
  readonly session: SessionInfo
  /** The transaction whose body the stream carries. */
  readonly transaction: TransactionInfo
}

/**
 * Consumes one message body and answers for it, as a `message` listener would: resolve to `true`
 * or nothing to accept, `false` or an `SmtpReply` to refuse, or reject (an `SmtpError` sends its
 * reply, anything else `451 4.3.0` and the `error` event).
 */
export type MessageStreamHandler = (
  body: Readable,
  context: MessageStreamContext,
) => MessageVerdict | PromiseLike<MessageVerdict>

type Outcome =
  | { readonly kind: 'pending' }
  | { readonly kind: 'answered'; readonly value: MessageVerdict }
  | { readonly kind: 'failed'; readonly error: unknown }

const PENDING: Outcome = Object.freeze({ kind: 'pending' })

// Only a refusal can come before the body ended (an early acceptance fails), so a per-recipient
// LMTP array never reaches a chunk; were one to, the message answer still carries it.
async function chunkVerdict(value: MessageVerdict | Promise<MessageVerdict>): Promise<Verdict> {
  const settled = await value
  return Array.isArray(settled) ? undefined : (settled as Verdict)
}

function refuses(value: MessageVerdict): boolean {
  return value === false || (value instanceof SmtpReply && value.code >= 400)
}

// A stream destroyed with an error nobody listens to would crash the process; the handler's own
// consumer (pipeline, for await) still sees the error.
function ignore(): void {}

/** One transaction's body: the Readable, the handler's answer, and the chunk waiting for room. */
class BodyStream {
  readonly readable: Readable
  readonly done: Promise<void>
  private outcome: Outcome = PENDING
  private release: (() => void) | null = null
  /** The transaction ended unaccepted: nothing is left to decide, and no error to report. */
  private aborted = false

  constructor(handler: MessageStreamHandler, context: MessageStreamContext, highWaterMark: number) {
    this.readable = new Readable({
      highWaterMark,
      read: () => this.wake(),
      destroy: (error, callback) => {
        this.wake()
        callback(error)
      },
    })
    this.readable.on('error', ignore)
    let result: MessageVerdict | PromiseLike<MessageVerdict>
    try {
      result = handler(this.readable, context)
    } catch (error) {
      result = Promise.reject(error)
    }
    this.done = Promise.resolve(result).then(
      (value) => this.settle(value),
      (error: unknown) => this.fail(error),
    )
  }

  /** A `dataChunk` answer: accept at once while the stream has room, else once the consumer read. */
  push(chunk: Buffer): Verdict | Promise<Verdict> {
    if (this.outcome.kind !== 'pending' || this.readable.destroyed) return chunkVerdict(this.answer())
    if (this.readable.push(chunk)) return undefined
    return new Promise<void>((resolve) => (this.release = resolve)).then(() => chunkVerdict(this.answer()))
  }

  /** The `message` answer: the body ends, and the verdict is the handler's, once it settled. */
  end(): Promise<MessageVerdict> {
    if (this.outcome.kind === 'pending' && !this.readable.destroyed) this.readable.push(null)
    return this.done.then(() => this.answer())
  }

  /** The transaction ended without its message being accepted: the consumer sees an error. */
  abort(transaction: TransactionInfo, reason: string): void {
    this.aborted = true
    if (this.readable.readableEnded || this.readable.destroyed) return
    const error = new SmtpwireError('SMTPWIRE_ERR_ABORTED', `transaction ${transaction.id} ended before its message was accepted (${reason})`)
    this.readable.destroy(error)
  }

  /** What the handler's outcome means for the transaction so far (before it settled: go on). */
  private answer(): MessageVerdict | Promise<MessageVerdict> {
    // A chunk still waiting when the connection dropped: the session is over, its answer unused.
    if (this.aborted) return undefined
    const outcome = this.outcome
    if (outcome.kind === 'failed') throw outcome.error
    if (outcome.kind === 'answered') return outcome.value
    // The consumer destroyed the stream (a failed pipeline): wait for the handler to say why.
    if (this.readable.destroyed) return this.done.then(() => this.answer())
    return undefined
  }

  private settle(value: MessageVerdict): void {
    // Accepting with octets still unread would acknowledge data nobody took; refusing early is fine.
    if (!refuses(value) && !this.readable.readableEnded) {
      const why = this.readable.destroyed ? 'the body stream was destroyed' : 'the handler returned'
      this.fail(new SmtpwireError('SMTPWIRE_ERR_STREAM', `${why} before the whole message body was read`))
      return
    }
    this.outcome = { kind: 'answered', value }
    this.finish()
  }

  private fail(error: unknown): void {
    this.outcome = { kind: 'failed', error }
    this.finish()
  }

  private finish(): void {
    if (!this.readable.readableEnded) this.readable.destroy()
    this.wake()
  }

  private wake(): void {
    const release = this.release
    this.release = null
    release?.()
  }
}

/**
 * Hands each message body to `handler` as a `Readable`, with backpressure: while the stream holds
 * `highWaterMark` octets the session reads no more from the client. The handler is called with the
 * first body octets (or at the end, for an empty body); the message is answered once it settles and
 * every other `message` listener accepted, so resolve only after the body was consumed (e.g. after
 * `await pipeline(body, destination)`). Built on `dataChunk`, `message` and `transaction` listeners,
 * so the body is not collected (`collectBody: 'auto'`).
 *
 * If the transaction ends without its message being accepted (RSET, a new EHLO, the connection
 * lost, a timeout, `maxMessageSize` exceeded, a refusal), the stream is destroyed with a
 * `SmtpwireError` `SMTPWIRE_ERR_ABORTED`, so a `pipeline()` rejects instead of waiting. A handler
 * that refuses (or throws) before the body ended stops the transfer: the rest of the body is
 * discarded and the message refused with its answer. A handler that accepts before the whole body
 * was read (or after destroying the stream) gets `451 4.3.0` and an `error` event with
 * `SMTPWIRE_ERR_STREAM`.
 *
 * @returns A function that removes the listeners again.
 * @example
 * const server = new SmtpServer({ domain: 'mx.example.org' }, (smtp) => {
 *   messageStream(smtp, async (body, { transaction }) => {
 *     await pipeline(body, createWriteStream(`/var/mail/${transaction.id}.eml`))
 *   })
 * })
 */
export function messageStream(smtp: SmtpProtocol, handler: MessageStreamHandler, options: MessageStreamOptions = {}): () => void {
  const highWaterMark = options.highWaterMark ?? smtp.options.chunkSize
  if (!Number.isSafeInteger(highWaterMark) || highWaterMark < 1) {
    throw new SmtpwireError('SMTPWIRE_ERR_INVALID_OPTION', `option \`highWaterMark\` must be a positive integer, got ${highWaterMark}`)
  }
  // One transaction at a time per session: the body in progress, if any.
  let current: { transaction: TransactionInfo; body: BodyStream } | null = null
  const bodyOf = (session: SessionInfo, transaction: TransactionInfo): BodyStream => {
    if (current?.transaction !== transaction) {
      current = { transaction, body: new BodyStream(handler, { session, transaction }, highWaterMark) }
    }
    return current.body
  }
  const onChunk = ({ session, transaction, chunk }: DataChunkEvent): Verdict | Promise<Verdict> =>
    bodyOf(session, transaction).push(chunk)
  const onMessage = ({ session, transaction }: MessageEvent): Promise<MessageVerdict> => bodyOf(session, transaction).end()
  const onTransaction = ({ transaction, reason }: TransactionEvent): Promise<void> | undefined => {
    if (!current || current.transaction !== transaction) return undefined
    const { body } = current
    current = null
    if (reason !== 'delivered') body.abort(transaction, reason)
    // settled() (and so SmtpServer.close()) waits for the handler to finish its cleanup.
    return body.done
  }
  smtp.on('dataChunk', onChunk)
  smtp.on('message', onMessage)
  smtp.on('transaction', onTransaction)
  return () => {
    smtp.off('dataChunk', onChunk)
    smtp.off('message', onMessage)
    smtp.off('transaction', onTransaction)
  }
}
