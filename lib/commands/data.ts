// DATA and BDAT: the message body flows through the dot-decoder into `headers`, `dataChunk` and
// `message`, in bounded memory, and the message is answered (per recipient under LMTP) only after
// the listeners settled.

import { publishMessage, type MessageResult } from '../diagnostics.js'
import { SmtpwireError } from '../errors.js'
import { combine, NO_ANSWERS, replyFor, type Settled } from '../events.js'
import { HeaderScanner } from '../header-scanner.js'
import type { Host, InputReader } from '../host.js'
import { isLogging } from '../logger.js'
import { MessageBody } from '../message-body.js'
import type { Command } from '../parser.js'
import { formatReceivedHeader } from '../received.js'
import { chunkReceivedReply, REPLIES, type Reply } from '../replies.js'
import type { TransactionState } from '../session.js'
import type { PieceSink } from '../dot-decoder.js'
import { noTransactionReply } from './guards.js'

type Bdat = Extract<Command, { verb: 'BDAT' }>

/** A new body for the transaction's data, placed on the transaction. */
function newBody(host: Host, transaction: TransactionState, dotStuffed: boolean): MessageBody {
  const { options } = host
  const streaming = host.hasListeners('dataChunk')
  // RFC 3030 §3: a BINARYMIME body is octets, not lines; no line rule applies to it.
  const binary = transaction.mailParams.body === 'BINARYMIME'
  const body = new MessageBody({
    decoder: {
      lineEndings: binary ? 'keep' : options.lineEndings,
      maxTextLineLength: binary ? 0 : options.maxTextLineLength,
      dotStuffed,
    },
    streaming,
    collect: options.collectBody === 'auto' ? !streaming : options.collectBody,
    headers: options.maxHeaderSize > 0 && host.hasListeners('headers') ? new HeaderScanner(options.maxHeaderSize) : null,
    chunkSize: options.chunkSize,
  })
  transaction.bodyStarted(body)
  if (options.addReceivedHeader) body.add(Buffer.from(formatReceivedHeader(host.session.info, transaction, options.domain)))
  return body
}

/** A refusal is `failed` when it is the reply to a listener that threw (replyFor's default), else `refused`. */
function resultOf(refusal: Reply): MessageResult {
  return refusal === REPLIES.localError ? 'failed' : 'refused'
}

/**
 * Reads a body: for DATA up to CRLF.CRLF (`remaining` null), for a BDAT chunk exactly
 * `remaining` octets. Between reads it fires `headers`, full `dataChunk` batches and, at the end,
 * the last chunk and `message`.
 */
class BodyReader implements InputReader, PieceSink {
  readonly timeout = 'data'
  private inputDone: boolean
  private readonly chunkOctets: number
  /** Set when the decision on `headers` or a `dataChunk` settled; read just after asking. */
  private decided = false
  /** The `message` decision was asked for: `settle` takes its answer. */
  private finishing = false
  /** Replies the message gets (one per recipient under LMTP), counted when it was asked for. */
  private recipients = 1

  constructor(
    private readonly host: Host,
    private readonly transaction: TransactionState,
    private readonly body: MessageBody,
    private remaining: number | null,
    private readonly last: boolean,
  ) {
    this.inputDone = remaining === 0
    this.chunkOctets = remaining ?? 0
    // consume() never runs for a BDAT 0 LAST, so a header block still open ends here.
    if (this.inputDone && last && body.headers?.finish()) body.headersReady = true
  }

  get buffered(): number {
    return this.body.batchLength + this.body.collectedLength
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
    const body = this.body
    const end = this.remaining === null ? input.length : Math.min(input.length, pos + this.remaining)
    // The decoder hands each piece to push() as it goes: no list of pieces per read.
    const next = body.decoder.decode(input, pos, end, this)
    if (this.remaining !== null) this.remaining -= next - pos
    if (body.decoder.done || this.remaining === 0) {
      this.inputDone = true
      if (this.last && body.headers?.finish()) body.headersReady = true
    }
    return next
  }

  /** Takes one decoded piece from the decoder. */
  push(piece: Buffer): void {
    if (this.admit(piece.length)) this.body.add(piece)
  }

  /** Takes decoded octets from the decoder's scratch memory (unstuffed dot lines): as push(), copied. */
  append(source: Uint8Array, from: number, to: number, more: number): void {
    if (this.admit(to - from)) this.body.append(source, from, to, more)
  }

  /**
   * Counts `length` more octets of the message; false when they would pass the size limit. Never
   * hold more than the limit: past it, the body is only read to its end, and the size stops at the
   * limit. stop() discards the decoder's output, so nothing follows a refusal.
   */
  private admit(length: number): boolean {
    const { body, transaction } = this
    const max = this.host.options.maxMessageSize
    if (max > 0 && transaction.size + length > max) {
      transaction.overLimit(max)
      body.tooBig = true
      body.stop()
      return false
    }
    transaction.received(length)
    return true
  }

  /** Fires `headers`; false while its listeners are still deciding. */
  private fireHeaders(): boolean {
    const { host, body, transaction } = this
    body.headersReady = false
    const scanner = body.headers
    // A body already refused asks nobody anything more.
    if (!scanner || body.failure) return true
    this.decided = false
    host.decide('headers', { session: host.session.info, transaction, headers: scanner.headers(), truncated: scanner.truncated }, this.settle)
    return this.decided
  }

  /** Fires one `dataChunk` with the batch; false while its listeners are still deciding. */
  private fireChunk(): boolean {
    const { host, body, transaction } = this
    const chunk = body.takeBatch(host.options.chunkSize)
    this.decided = false
    host.decide('dataChunk', { session: host.session.info, transaction, chunk }, this.settle)
    return this.decided
  }

  /**
   * The end of a decision on part of the body (one function per reader, not two closures per
   * chunk): a refusal stops the body. Only one decision is pending at a time, and input waits for it.
   */
  private readonly settle = (settled: readonly Settled[]): void => {
    // The `message` decision comes back here too: no closure per message.
    if (this.finishing) return this.messageDecided(settled)
    this.decided = true
    const outcome = combine(settled)
    if (outcome.kind === 'accept' || this.body.refusal) return
    this.body.refusal = replyFor(outcome, REPLIES.messageAccepted, REPLIES.messageRejected)
    this.body.stop()
  }

  private finish(): void {
    const { host, body, transaction } = this
    host.setReader(null)
    const failure = body.failure
    if (!this.last) {
      // RFC 3030 §2: each chunk but the last gets its own reply, once its octets are read.
      if (failure) body.closed = true
      host.send(failure ?? chunkReceivedReply(this.chunkOctets))
      return
    }
    body.closed = true
    const recipients = host.options.lmtp ? transaction.to.length : 1
    if (failure) {
      body.answered = true
      publishMessage(host.session.info, transaction, resultOf(failure), failure.code)
      for (let i = 0; i < recipients; i++) host.send(failure)
      host.session.endTransaction('rejected')
      return
    }
    const messageBody = body.collected ? Buffer.concat(body.collected) : null
    // Not collected: the shared thrower, not a closure per message.
    const requireBody = messageBody ? (): Buffer => messageBody : notCollected
    this.finishing = true
    this.recipients = recipients
    host.decide('message', { session: host.session.info, transaction, body: messageBody, requireBody }, this.settle)
  }

  /** The `message` listeners settled: one reply (per recipient under LMTP), then the transaction ends. */
  private messageDecided(settled: readonly Settled[]): void {
    const { host, body, transaction } = this
    const recipients = this.recipients
    body.answered = true
    let delivered = false
    let failed = false
    // The first reply alone (one recipient, or SMTP); a list only for LMTP's further ones.
    let first: Reply | null = null
    let more: Reply[] | null = null
    for (let i = 0; i < recipients; i++) {
      // RFC 2033 §4.2: under LMTP, one reply per accepted recipient, in RCPT order.
      const outcome = combine(settled, i === 0 ? firstVerdict : verdictAt(i))
      if (outcome.kind === 'accept') delivered = true
      if (outcome.kind === 'fail') failed = true
      const reply = replyFor(outcome, REPLIES.messageAccepted, REPLIES.messageRejected)
      if (first === null) first = reply
      else (more ??= []).push(reply)
    }
    // Published before the replies go out: a 421 among them closes the session at once.
    publishMessage(host.session.info, transaction, delivered ? 'accepted' : failed ? 'failed' : 'refused', first?.code ?? null)
    if (first) host.send(first)
    if (more) for (const reply of more) host.send(reply)
    if (delivered) host.session.delivered()
    if (isLogging(host.log)) host.log.info(`message ${transaction.id} ${delivered ? 'accepted' : 'refused'}: ${transaction.size} octets from <${transaction.from?.address ?? ''}> to ${transaction.to.length} recipient(s)`)
    host.session.endTransaction(delivered ? 'delivered' : 'rejected')
  }
}

/** A `message` listener's verdict for recipient `i`: its own entry when it answered one per recipient. */
function verdictFor(value: unknown, i: number): unknown {
  return Array.isArray(value) ? (value as unknown[])[i] : value
}

/**
 * verdictFor(value, i) as a function. Made here, not by an arrow in the loop: a loop variable an
 * arrow captures is given a context of its own on every turn, even when no arrow is made.
 */
function verdictAt(i: number): (value: unknown) => unknown {
  return (value) => verdictFor(value, i)
}

/** verdictFor(value, 0), shared: the one recipient of most messages needs no closure. */
function firstVerdict(value: unknown): unknown {
  return verdictFor(value, 0)
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
  const transaction = host.session.transaction
  if (!transaction) return host.sendError(noTransactionReply(host.session.info))
  if (transaction.via === 'BDAT') return host.sendError(REPLIES.mixedDataAndBdat)
  if (transaction.to.length === 0) return host.sendError(REPLIES.needRcpt)
  // RFC 3030 §3: a BINARYMIME body can only be sent with BDAT.
  if (transaction.mailParams.body === 'BINARYMIME') return host.sendError(REPLIES.binaryNeedsBdat)
  transaction.dataStarted('DATA')
  // Most servers do not listen to `data`: then no payload and no closure are built for nobody.
  if (!host.hasListeners('data')) return dataDecided(host, transaction, NO_ANSWERS)
  host.decide('data', { session: host.session.info, transaction }, (settled) => dataDecided(host, transaction, settled))
}

/** DATA was decided on: 354 and read the body, or the refusal. */
function dataDecided(host: Host, transaction: TransactionState, settled: readonly Settled[]): void {
  const outcome = combine(settled)
  if (outcome.kind !== 'accept') {
    host.send(replyFor(outcome, REPLIES.startData, REPLIES.dataRejected))
    return
  }
  const body = newBody(host, transaction, true)
  host.setReader(new BodyReader(host, transaction, body, null, true))
  host.send(REPLIES.startData)
}

/** BDAT size [LAST]: the chunk's octets are always read, whatever the reply (RFC 3030 §2). */
export function bdat(host: Host, command: Bdat): void {
  const { size, last } = command
  /** With `ends`, this LAST chunk closes a transaction an earlier chunk already failed. */
  const refuse = (reply: Reply, ends = false): void => {
    const answer = (): void => {
      const transaction = ends ? host.session.transaction : null
      const body = transaction?.body
      if (transaction && body) {
        body.answered = true
        publishMessage(host.session.info, transaction, resultOf(reply), reply.code)
      }
      host.sendError(reply)
      if (!ends) return
      // Under LMTP the last chunk is answered once per recipient, as finish() does (RFC 2033 §4.2).
      const recipients = host.options.lmtp ? (host.session.transaction?.to.length ?? 1) : 1
      for (let i = 1; i < recipients; i++) host.send(reply)
      host.session.endTransaction('rejected')
    }
    if (size > 0) host.setReader(new SkipReader(host, size, answer))
    else answer()
  }
  if (!host.options.chunking) return refuse(REPLIES.chunkingDisabled)
  if (host.session.info.heloVerb === 'HELO') return refuse(REPLIES.needEhlo)
  const transaction = host.session.transaction
  if (!transaction) return refuse(noTransactionReply(host.session.info))
  if (transaction.via === 'DATA') return refuse(REPLIES.mixedDataAndBdat)
  if (transaction.to.length === 0) return refuse(REPLIES.needRcpt)
  const existing = transaction.body
  if (existing?.closed) return refuse(existing.failure ?? REPLIES.badBdatSequence, last)
  const read = (body: MessageBody): void => {
    const reader = new BodyReader(host, transaction, body, size, last)
    host.setReader(reader)
  }
  if (existing) return read(existing)
  transaction.dataStarted('BDAT')
  host.decide('data', { session: host.session.info, transaction }, (settled) => {
    const outcome = combine(settled)
    const body = newBody(host, transaction, false)
    if (outcome.kind === 'accept') return read(body)
    body.refusal = replyFor(outcome, REPLIES.chunkReceived, REPLIES.dataRejected)
    body.stop()
    read(body)
  })
}
