// DATA and BDAT: the message body flows through the dot-decoder into `headers`, `dataChunk` and
// `message`, in bounded memory, and the message is answered (per recipient under LMTP) only after
// the listeners settled.

import { publishMessage, type MessageResult } from '../diagnostics.js'
import { DotDecoder } from '../dot-decoder.js'
import { SmtpwireError } from '../errors.js'
import { combine, type Settled } from '../events.js'
import { HeaderScanner } from '../header-scanner.js'
import type { Host, InputReader } from '../host.js'
import type { Command } from '../parser.js'
import { formatReceivedHeader } from '../received.js'
import { REPLIES, withText, type Reply } from '../replies.js'
import type { TransactionState } from '../session.js'
import { replyFor } from './answer.js'

type Bdat = Extract<Command, { verb: 'BDAT' }>

/** The body of one transaction, across all of its BDAT chunks. */
interface Body {
  readonly decoder: DotDecoder
  /** Undelivered `dataChunk` octets, when anyone listens to `dataChunk`. */
  readonly batch: Buffer[] | null
  batchLength: number
  /** The whole message, when it is being collected for `message.body`. */
  readonly collected: Buffer[] | null
  readonly headers: HeaderScanner | null
  headersReady: boolean
  tooBig: boolean
  /** A listener refused the body part-way (`headers` or `dataChunk`): the reply to send at the end. */
  refusal: Reply | null
  /** The LAST chunk was answered, or a chunk failed: later BDATs get `refusal` or 503. */
  closed: boolean
  /** The message got its final reply: a connection lost after that did not cut it off. */
  answered: boolean
}

// Body state is kept beside the transaction, not on it: listeners see the transaction object.
const bodies = new WeakMap<TransactionState, Body>()

/** True when the message's data started but its final reply was not given: the connection cut it off. */
export function isUnanswered(transaction: TransactionState): boolean {
  const body = bodies.get(transaction)
  return body !== undefined && !body.answered
}

/** True once DATA was accepted or a BDAT chunk arrived; recipients can no longer be added. */
export function hasDataStarted(transaction: TransactionState): boolean {
  return bodies.has(transaction)
}

function newBody(host: Host, transaction: TransactionState, dotStuffed: boolean): Body {
  const { options } = host
  const streaming = host.hasListeners('dataChunk')
  const collect = options.collectBody === 'auto' ? !streaming : options.collectBody
  // RFC 3030 §3: a BINARYMIME body is octets, not lines; no line rule applies to it.
  const binary = transaction.mailParams.body === 'BINARYMIME'
  const body: Body = {
    decoder: new DotDecoder({
      lineEndings: binary ? 'keep' : options.lineEndings,
      maxTextLineLength: binary ? 0 : options.maxTextLineLength,
      dotStuffed,
    }),
    batch: streaming ? [] : null,
    batchLength: 0,
    collected: collect ? [] : null,
    headers: options.maxHeaderSize > 0 && host.hasListeners('headers') ? new HeaderScanner(options.maxHeaderSize) : null,
    headersReady: false,
    tooBig: false,
    refusal: null,
    closed: false,
    answered: false,
  }
  bodies.set(transaction, body)
  if (options.addReceivedHeader) {
    const trace = Buffer.from(formatReceivedHeader(host.session, transaction, options.domain))
    addOutput(body, trace)
  }
  return body
}

/** Passes decoded octets on to the header scanner, the chunk batch and the collection. */
function addOutput(body: Body, piece: Buffer): void {
  if (body.headers?.take(piece)) body.headersReady = true
  if (body.batch) {
    body.batch.push(piece)
    body.batchLength += piece.length
  }
  body.collected?.push(piece)
}

/** Stops delivering the body: the message will be refused when its data ends. */
function stopBody(body: Body): void {
  body.decoder.discard()
  if (body.batch) body.batch.length = 0
  body.batchLength = 0
  if (body.collected) body.collected.length = 0
  body.headersReady = false
}

/** A refusal is `failed` when it is the reply to a listener that threw (replyFor's default), else `refused`. */
function resultOf(refusal: Reply): MessageResult {
  return refusal === REPLIES.localError ? 'failed' : 'refused'
}

/** Why the message is refused, if it is: a bare line ending, then a long line, size, a listener. */
function failureOf(body: Body): Reply | null {
  const fault = body.decoder.fault
  if (fault === 'bareLineEnding') return REPLIES.bareLineEnding
  if (fault === 'textLineTooLong') return REPLIES.textLineTooLong
  if (body.tooBig) return REPLIES.messageTooBig
  return body.refusal
}

/**
 * Reads a body: for DATA up to CRLF.CRLF (`remaining` null), for a BDAT chunk exactly
 * `remaining` octets. Between reads it fires `headers`, full `dataChunk` batches and, at the end,
 * the last chunk and `message`.
 */
class BodyReader implements InputReader {
  readonly timeout = 'data'
  private inputDone: boolean
  private readonly pieces: Buffer[] = []
  private readonly chunkOctets: number

  constructor(
    private readonly host: Host,
    private readonly transaction: TransactionState,
    private readonly body: Body,
    private remaining: number | null,
    private readonly last: boolean,
  ) {
    this.inputDone = remaining === 0
    this.chunkOctets = remaining ?? 0
    // consume() never runs for a BDAT 0 LAST, so a header block still open ends here.
    if (this.inputDone && last && body.headers?.finish()) body.headersReady = true
  }

  get buffered(): number {
    return this.body.batchLength + (this.body.collected?.reduce((sum, piece) => sum + piece.length, 0) ?? 0)
  }

  get needsInput(): boolean {
    // A partial batch waits for the next BDAT chunk; only the LAST one flushes it.
    return !this.inputDone && !this.body.headersReady && this.body.batchLength < this.host.options.chunkSize
  }

  read(input: Buffer, pos: number): number {
    for (;;) {
      const body = this.body
      if (body.headersReady) {
        if (!this.fireHeaders()) return pos
      } else if (body.batchLength >= this.host.options.chunkSize || (this.inputDone && this.last && body.batchLength > 0)) {
        if (!this.fireChunk()) return pos
      } else if (this.inputDone) {
        this.finish()
        return pos
      } else if (pos < input.length) {
        pos = this.consume(input, pos)
      } else {
        return pos
      }
    }
  }

  private consume(input: Buffer, pos: number): number {
    const { body, transaction } = this
    const end = this.remaining === null ? input.length : Math.min(input.length, pos + this.remaining)
    const next = body.decoder.decode(input, pos, end, this.pieces)
    if (this.remaining !== null) this.remaining -= next - pos
    const max = this.host.options.maxMessageSize
    for (const piece of this.pieces) {
      // Never hold more than the limit: past it, the body is only read to its end, and the size
      // stops at the limit.
      if (max > 0 && transaction.size + piece.length > max) {
        transaction.size = max
        body.tooBig = true
        stopBody(body)
        break
      }
      transaction.size += piece.length
      addOutput(body, piece)
    }
    this.pieces.length = 0
    if (body.decoder.done || this.remaining === 0) {
      this.inputDone = true
      if (this.last && body.headers?.finish()) body.headersReady = true
    }
    return next
  }

  /** Fires `headers`; false while its listeners are still deciding. */
  private fireHeaders(): boolean {
    const { host, body, transaction } = this
    body.headersReady = false
    const scanner = body.headers
    // A body already refused asks nobody anything more.
    if (!scanner || failureOf(body)) return true
    const payload = { session: host.session, transaction, headers: scanner.headers(), truncated: scanner.truncated }
    return this.settledNow((then) => host.decide('headers', payload, then))
  }

  /** Fires one `dataChunk` with the batch; false while its listeners are still deciding. */
  private fireChunk(): boolean {
    const { host, body, transaction } = this
    const batch = body.batch ?? []
    const chunk = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, body.batchLength)
    batch.length = 0
    body.batchLength = 0
    return this.settledNow((then) => host.decide('dataChunk', { session: host.session, transaction, chunk }, then))
  }

  /** Starts a decision on part of the body; a refusal stops the body. True when it settled at once. */
  private settledNow(start: (then: (settled: readonly Settled[]) => void) => void): boolean {
    let now = false
    start((settled) => {
      now = true
      const outcome = combine(settled)
      if (outcome.kind === 'accept' || this.body.refusal) return
      this.body.refusal = replyFor(outcome, REPLIES.messageAccepted, REPLIES.messageRejected)
      stopBody(this.body)
    })
    return now
  }

  private finish(): void {
    const { host, body, transaction } = this
    host.setReader(null)
    const failure = failureOf(body)
    if (!this.last) {
      // RFC 3030 §2: each chunk but the last gets its own reply, once its octets are read.
      if (failure) body.closed = true
      host.send(failure ?? withText(REPLIES.chunkReceived, `${this.chunkOctets} octets received`))
      return
    }
    body.closed = true
    const recipients = host.options.lmtp ? transaction.to.length : 1
    if (failure) {
      body.answered = true
      publishMessage(host.session, transaction, resultOf(failure), failure.code)
      for (let i = 0; i < recipients; i++) host.send(failure)
      host.endTransaction('rejected')
      return
    }
    const messageBody = body.collected ? Buffer.concat(body.collected) : null
    const requireBody = (): Buffer => messageBody ?? notCollected()
    host.decide('message', { session: host.session, transaction, body: messageBody, requireBody }, (settled) => {
      body.answered = true
      let delivered = false
      let failed = false
      const replies: Reply[] = []
      for (let i = 0; i < recipients; i++) {
        // RFC 2033 §4.2: under LMTP, one reply per accepted recipient, in RCPT order.
        const pick = (value: unknown): unknown => (Array.isArray(value) ? (value as unknown[])[i] : value)
        const outcome = combine(settled, pick)
        if (outcome.kind === 'accept') delivered = true
        if (outcome.kind === 'fail') failed = true
        replies.push(replyFor(outcome, REPLIES.messageAccepted, REPLIES.messageRejected))
      }
      // Published before the replies go out: a 421 among them closes the session at once.
      publishMessage(host.session, transaction, delivered ? 'accepted' : failed ? 'failed' : 'refused', replies[0]?.code ?? null)
      for (const reply of replies) host.send(reply)
      if (delivered) host.session.counters.messages++
      host.log.info(`message ${transaction.id} ${delivered ? 'accepted' : 'refused'}: ${transaction.size} octets from <${transaction.from?.address ?? ''}> to ${transaction.to.length} recipient(s)`)
      host.endTransaction(delivered ? 'delivered' : 'rejected')
    })
  }
}

/** What `message.requireBody()` throws when the body was not collected. */
function notCollected(): never {
  throw new SmtpwireError('SMTPWIRE_ERR_NO_BODY', "message body not collected: collectBody is false, or 'auto' with a dataChunk listener")
}

/** Reads and drops a refused BDAT chunk, then answers it. */
class SkipReader implements InputReader {
  readonly needsInput = true
  readonly timeout = 'data'

  constructor(
    private readonly host: Host,
    private remaining: number,
    private readonly answer: () => void,
  ) {}

  read(input: Buffer, pos: number): number {
    const take = Math.min(this.remaining, input.length - pos)
    this.remaining -= take
    if (this.remaining === 0) {
      this.host.setReader(null)
      this.answer()
    }
    return pos + take
  }
}

/** Reads and drops the chunk of a BDAT refused before `bdat()` ran (RFC 3030 §2), then sends `reply`. */
export function skipChunk(host: Host, size: number, reply: Reply): void {
  if (size > 0) host.setReader(new SkipReader(host, size, () => host.send(reply)))
  else host.send(reply)
}

/** DATA: ask `data` listeners, then 354 and read the body. */
export function data(host: Host): void {
  const transaction = host.transaction
  if (!transaction) return host.sendError(host.session.heloVerb ? REPLIES.needMail : REPLIES.needHelo)
  if (transaction.via === 'BDAT') return host.sendError(REPLIES.mixedDataAndBdat)
  if (transaction.to.length === 0) return host.sendError(REPLIES.needRcpt)
  // RFC 3030 §3: a BINARYMIME body can only be sent with BDAT.
  if (transaction.mailParams.body === 'BINARYMIME') return host.sendError(REPLIES.binaryNeedsBdat)
  transaction.via = 'DATA'
  host.decide('data', { session: host.session, transaction }, (settled) => {
    const outcome = combine(settled)
    if (outcome.kind !== 'accept') {
      host.send(replyFor(outcome, REPLIES.startData, REPLIES.dataRejected))
      return
    }
    const body = newBody(host, transaction, true)
    host.setReader(new BodyReader(host, transaction, body, null, true))
    host.send(REPLIES.startData)
  })
}

/** BDAT size [LAST]: the chunk's octets are always read, whatever the reply (RFC 3030 §2). */
export function bdat(host: Host, command: Bdat): void {
  const { size, last } = command
  /** With `ends`, this LAST chunk closes a transaction an earlier chunk already failed. */
  const refuse = (reply: Reply, ends = false): void => {
    const answer = (): void => {
      const transaction = ends ? host.transaction : null
      const body = transaction && bodies.get(transaction)
      if (transaction && body) {
        body.answered = true
        publishMessage(host.session, transaction, resultOf(reply), reply.code)
      }
      host.sendError(reply)
      if (!ends) return
      // Under LMTP the last chunk is answered once per recipient, as finish() does (RFC 2033 §4.2).
      const recipients = host.options.lmtp ? (host.transaction?.to.length ?? 1) : 1
      for (let i = 1; i < recipients; i++) host.send(reply)
      host.endTransaction('rejected')
    }
    if (size > 0) host.setReader(new SkipReader(host, size, answer))
    else answer()
  }
  if (!host.options.chunking) return refuse(REPLIES.chunkingDisabled)
  if (host.session.heloVerb === 'HELO') return refuse(REPLIES.needEhlo)
  const transaction = host.transaction
  if (!transaction) return refuse(host.session.heloVerb ? REPLIES.needMail : REPLIES.needHelo)
  if (transaction.via === 'DATA') return refuse(REPLIES.mixedDataAndBdat)
  if (transaction.to.length === 0) return refuse(REPLIES.needRcpt)
  const existing = bodies.get(transaction)
  if (existing?.closed) return refuse(failureOf(existing) ?? REPLIES.badBdatSequence, last)
  const read = (body: Body): void => {
    const reader = new BodyReader(host, transaction, body, size, last)
    host.setReader(reader)
  }
  if (existing) return read(existing)
  transaction.via = 'BDAT'
  host.decide('data', { session: host.session, transaction }, (settled) => {
    const outcome = combine(settled)
    const body = newBody(host, transaction, false)
    if (outcome.kind === 'accept') return read(body)
    body.refusal = replyFor(outcome, REPLIES.chunkReceived, REPLIES.dataRejected)
    stopBody(body)
    read(body)
  })
}
