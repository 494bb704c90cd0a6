// The SMTP state machine behind SmtpProtocol: input modes, the pending-verdict gate, the ordered
// reply queue, flow control in both directions, and the session's end. The only stateful core
// file; command rules live in commands/, byte framing in line-reader.ts and dot-decoder.ts.
//
//   open() ─connect decision─► command lines ◄──────────────────────────────────┐
//                               │ DATA accepted ─► body reader ──CRLF.CRLF──────┤
//                               │ BDAT n ────────► chunk reader ──n octets──────┤
//                               │ AUTH ──────────► SASL reader ──done───────────┤
//                               │ STARTTLS ──────► upgrading ──secure───────────┘
//                               └ QUIT / 421 / peer gone / error ─► closed
//   In any mode, a listener that returns a Promise sets `waiting`: input is kept, the transport is
//   paused, and the loop restarts from the next unread byte once every listener has settled.

import { isUtf8 } from 'node:buffer'
import { AUTH_LINE_LIMIT, commandLineLimit, offeredMechanisms, type CapabilityFacts } from './capabilities.js'
import { isUnanswered } from './commands/data.js'
import { handleCommand } from './commands/index.js'
import { isTrustedProxy, XCLIENT_ATTRIBUTES, XFORWARD_ATTRIBUTES } from './commands/xclient.js'
import {
  commandChannel,
  connectionCloseChannel,
  connectionOpenChannel,
  decisionChannel,
  publishMessage,
  replyChannel,
  tlsHandshakeChannel,
} from './diagnostics.js'
import { SmtpwireError } from './errors.js'
import {
  combine,
  unexpectedErrors,
  type CloseReason,
  type DecisionEvents,
  type Listeners,
  type NoticeEvents,
  type Settled,
  type SmtpEvents,
  type TransactionEndReason,
} from './events.js'
import type { Release } from './gate.js'
import type { Host, InputReader } from './host.js'
import { LineReader } from './line-reader.js'
import { redactCommand, sessionLogger, SILENT, type Logger } from './logger.js'
import type { ResolvedOptions, SaslMechanismName } from './options.js'
import { isFault, parseCommand, type Command, type Fault } from './parser.js'
import { formatReply, REPLIES, type Reply } from './replies.js'
import { newSession, type SessionFacts, type SessionState, type TlsInfo, type TransactionState } from './session.js'
import { SessionTimers, type Expiry } from './timeouts.js'
import type { SmtpTransport } from './transport.js'

const EMPTY = Buffer.alloc(0)
// Replies are written in one batch per read; a batch this large is written at once, so a client
// that floods commands without reading replies meets the transport's backpressure early.
const FLUSH_AT = 16 * 1024
// Errors that only mean the peer went away; they are not worth an `error` event.
const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'])

export class Engine implements Host {
  readonly session: SessionState
  transaction: TransactionState | null = null
  refused = false
  closed = false
  private transport: SmtpTransport | null = null
  private input: Buffer = EMPTY
  private pos = 0
  private reader: InputReader | null = null
  private readonly lines: LineReader
  private waitingNow = false
  private readonly idleWaiters: Array<() => void> = []
  // A verdict is pending. Setting it false wakes whenIdle().
  private get waiting(): boolean {
    return this.waitingNow
  }
  private set waiting(value: boolean) {
    this.waitingNow = value
    if (!value) for (const wake of this.idleWaiters.splice(0)) wake()
  }
  private outputBlocked = false
  private inputPaused = false
  private peerEnded = false
  private pumping = false
  private shuttingDown = false
  private readonly pendingWork = new Set<Promise<unknown>>()
  /** The processing slot the pending decision holds: given back when the session closes, whatever the listener does. */
  private heldSlot: Release | null = null
  /** `listenerTimeout` for the pending decision. */
  private decisionTimer: ReturnType<typeof setTimeout> | null = null
  private closeNotified = false
  private out: Buffer[] = []
  private outLength = 0
  /** Whole command lines (and input-mode changes) so far: what restarts the command timer. */
  private progress = 0
  private progressAtTimer = -1
  private readonly timers: SessionTimers
  /** The command awaiting its reply, while `smtpwire:command` has subscribers (else null: no clock is read). */
  private commandVerb: string | null = null
  private commandStart = 0
  log: Logger

  constructor(
    readonly options: ResolvedOptions,
    private readonly listeners: Listeners,
  ) {
    this.session = newSession()
    this.lines = new LineReader(options.lineEndings)
    this.timers = new SessionTimers(options, (what) => this.timedOut(what))
    this.log = sessionLogger(options.logger, this.session.id)
  }

  /** Enhanced status codes go on replies once EHLO/LHLO was accepted (RFC 2034 §3). */
  private get usesEnhancedCodes(): boolean {
    return this.options.enhancedStatusCodes && (this.session.heloVerb === 'EHLO' || this.session.heloVerb === 'LHLO')
  }

  /** True when some SASL mechanism is on offer now. */
  private authOffered(): boolean {
    return this.authMechanisms(this.session.tls !== null).length > 0
  }

  authMechanisms(secure: boolean): readonly SaslMechanismName[] {
    return offeredMechanisms(this.options, secure, this.hasListeners('plainAuth') || this.hasListeners('auth'))
  }

  /** True when a verdict is pending. */
  get isWaiting(): boolean {
    return this.waiting
  }

  /** Octets of client input held: unread input, a partial line, message data not yet delivered. */
  get bufferedInput(): number {
    if (this.closed) return 0
    return this.input.length - this.pos + this.lines.buffered + (this.reader?.buffered ?? 0)
  }

  /** Starts the session on `transport`: sends the greeting, or asks `connect` listeners first. */
  open(transport: SmtpTransport, facts: SessionFacts = {}): void {
    if (this.transport || this.closed) throw new SmtpwireError('SMTPWIRE_ERR_ALREADY_STARTED', 'the protocol was already opened')
    this.transport = transport
    Object.assign(this.session, newSession(facts), { id: this.session.id })
    const { remoteAddress, remotePort, tls } = this.session
    // Published before the first log line, so a subscriber can tie that line to its client.
    if (connectionOpenChannel.hasSubscribers) connectionOpenChannel.publish({ session: this.session })
    this.log.info(`connection from ${remoteAddress || 'unknown'}:${remotePort}${tls ? ` (${tls.protocol})` : ''}`)
    this.timers.start()
    this.greet()
    this.pump()
  }

  /** Sends the greeting, or asks `connect` listeners first (again after XCLIENT). */
  greet(): void {
    const greeting: Reply = { code: 220, enhanced: null, text: `${this.options.domain} ${this.options.greeting}` }
    this.refused = false
    this.decide('connect', { session: this.session }, (settled) => {
      const outcome = combine(settled)
      if (outcome.kind === 'accept') {
        this.send(outcome.reply ?? greeting)
      } else {
        // RFC 5321 §3.1: after a 554 greeting, answer 503 to everything but QUIT. A greeting can
        // only be 220, 421 or 554, so a listener that blew up gets 421.
        this.refused = true
        this.send(outcome.kind === 'fail' ? REPLIES.localErrorClosing : (outcome.reply ?? REPLIES.connectionRejected))
      }
    })
  }

  /** Takes bytes from the client; false asks the caller to pause until `resume()` is called. */
  feed(chunk: Buffer): boolean {
    if (this.closed) return false
    this.session.counters.bytesIn += chunk.length
    if (this.pos >= this.input.length) {
      this.input = chunk
    } else {
      this.input = Buffer.concat([this.input.subarray(this.pos), chunk])
    }
    this.pos = 0
    this.pump(true)
    return this.wantsInput()
  }

  /** The client finished sending (EOF). Buffered commands are still answered. */
  end(): void {
    if (this.closed) return
    this.peerEnded = true
    // The client left while a listener decides and sent nothing after that command (no QUIT to
    // answer): nobody is waiting for the reply, so the session ends now rather than whenever (or
    // if ever) the listener settles.
    if (this.waiting && this.pos >= this.input.length) return this.close('peer')
    this.pump()
  }

  /** The connection is gone: nothing more can be written. */
  destroy(error?: Error): void {
    if (this.closed) return
    this.transport = null
    const code = (error as { code?: unknown } | undefined)?.code
    const failed = error !== undefined && !(typeof code === 'string' && PEER_GONE.has(code))
    if (failed) {
      this.log.warn(`connection from ${this.session.remoteAddress || 'unknown'} failed: ${error.message}`)
      this.notice('error', { session: this.session, error, event: null })
    }
    this.close(failed ? 'error' : 'peer')
  }

  /** The transport can take writes again after `write()` returned false. */
  drained(): void {
    if (!this.outputBlocked) return
    this.outputBlocked = false
    this.pump()
  }

  /**
   * Ends the session gracefully: at once (421) when idle, else once the message in progress was
   * answered; a command that arrives meanwhile is answered 421.
   */
  shutdown(): void {
    this.shuttingDown = true
    this.pump()
  }

  /** No command in flight, no verdict pending, no message data being read. */
  private get isIdle(): boolean {
    return !this.waiting && this.reader === null && this.transaction?.via !== 'BDAT' && this.pos >= this.input.length
  }

  send(reply: Reply): void {
    if (this.commandVerb !== null || replyChannel.hasSubscribers) this.observeReply(reply)
    const bytes = formatReply(reply, this.usesEnhancedCodes)
    if (this.options.trace) this.trace('S', bytes.toString('utf8').trimEnd())
    this.out.push(bytes)
    this.outLength += bytes.length
    // A 421 ends the session (RFC 5321 §3.8), whoever chose it.
    if (reply.code === 421) this.close('protocol')
    else if (this.outLength >= FLUSH_AT) this.flush()
  }

  sendError(reply: Reply): void {
    const counters = this.session.counters
    counters.errors++
    const limit = this.options.maxErrors
    if (limit > 0 && counters.errors >= limit) this.send(REPLIES.tooManyErrors)
    else this.send(reply)
  }

  decide<K extends keyof DecisionEvents>(event: K, payload: DecisionEvents[K], then: (settled: readonly Settled[]) => void): void {
    // A closed session asks nobody anything (a listener may have closed it mid-command).
    if (this.closed) return
    const gate = this.options.gate
    if (!gate || this.listeners.count(event) === 0) return this.dispatchDecision(event, payload, then, null)
    const slot = gate.tryAcquire()
    if (slot) return this.dispatchDecision(event, payload, then, slot)
    // maxProcessing: wait in line for a slot; no input is read meanwhile.
    this.waiting = true
    this.updateFlow()
    void gate.acquire().then((release) => {
      this.waiting = false
      if (this.closed) return release()
      this.guarded(() => this.dispatchDecision(event, payload, then, release))
      this.pump()
    })
  }

  private dispatchDecision<K extends keyof DecisionEvents>(
    event: K,
    payload: DecisionEvents[K],
    then: (settled: readonly Settled[]) => void,
    release: (() => void) | null,
  ): void {
    const start = decisionChannel.hasSubscribers && this.listeners.count(event) > 0 ? performance.now() : -1
    const result = this.listeners.dispatch(event, payload as SmtpEvents[K])
    if (Array.isArray(result)) {
      release?.()
      if (start >= 0) this.observeDecision(event, start, result, false)
      this.reportErrors(event, result)
      // A listener may have closed the session; the command then goes no further.
      if (!this.closed) then(result)
      return
    }
    this.waiting = true
    this.heldSlot = release
    this.updateFlow()
    let answered = false
    const answer = (settled: readonly Settled[]): void => {
      answered = true
      this.stopDecisionTimer()
      release?.()
      this.waiting = false
      if (start >= 0) this.observeDecision(event, start, settled, true)
      // Errors are reported even when the session ended meanwhile: a failure is never lost.
      this.reportErrors(event, settled)
      if (this.closed) return
      this.guarded(() => then(settled))
      this.pump()
    }
    const work = this.track(result)
    work.then(
      (settled) => {
        if (!answered) return answer(settled)
        this.reportErrors(event, settled) // a late result after listenerTimeout: only its errors count
      },
      (error: unknown) => {
        release?.()
        this.internalError(error)
      },
    )
    const limit = this.options.listenerTimeout
    if (limit > 0 && limit !== Infinity) {
      this.decisionTimer = setTimeout(() => {
        // Given up on: `settled()` and a server's close() no longer wait for it either.
        this.pendingWork.delete(work)
        const error = new SmtpwireError('SMTPWIRE_ERR_LISTENER_TIMEOUT', `${event} listener did not settle within ${limit} ms`)
        answer([{ ok: false, error }])
      }, limit)
      this.decisionTimer.unref?.()
    }
  }

  private stopDecisionTimer(): void {
    if (this.decisionTimer) clearTimeout(this.decisionTimer)
    this.decisionTimer = null
    this.heldSlot = null
  }

  notice<K extends keyof NoticeEvents>(event: K, payload: NoticeEvents[K]): void {
    // After `close`, only `error` may still be told (a listener that fails late).
    if (this.closeNotified && event !== 'error') return
    if (event === 'error' && this.listeners.count('error') === 0 && this.options.logger === SILENT) {
      return warnUnheard(payload as NoticeEvents['error'])
    }
    const result = this.listeners.dispatch(event, payload as SmtpEvents[K])
    if (Array.isArray(result)) return this.reportErrors(event, result)
    this.track(result.then((settled) => this.reportErrors(event, settled)))
  }

  /** Keeps listener work until it settles, so `settled()` can wait for it. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.pendingWork.add(work)
    const forget = (): void => void this.pendingWork.delete(work)
    work.then(forget, forget)
    return work
  }

  /** Resolves once no verdict is pending: at once when none is. */
  whenIdle(): Promise<void> {
    if (!this.waitingNow) return Promise.resolve()
    return new Promise((resolve) => void this.idleWaiters.push(resolve))
  }

  /** Resolves once every Promise returned by listeners so far has settled. */
  async settled(): Promise<void> {
    // Called from a listener, the dispatch it is part of registers its Promise just after: wait a tick.
    await null
    while (this.pendingWork.size > 0) await Promise.allSettled(this.pendingWork)
  }

  hasListeners(event: keyof DecisionEvents | keyof NoticeEvents): boolean {
    return this.listeners.count(event) > 0
  }

  setReader(reader: InputReader | null): void {
    if (this.closed) return
    this.reader = reader
    this.progress++
  }

  trace(direction: 'C' | 'S', text: string): void {
    if (this.options.trace) for (const line of text.split('\r\n')) this.log.debug(`${direction}: ${line}`)
  }

  endTransaction(reason: TransactionEndReason): void {
    // Once closed, the transaction was already ended (as 'closed') by close() itself.
    if (this.closed && reason !== 'closed') return
    const transaction = this.transaction
    this.transaction = null
    // Postfix XFORWARD attributes describe one transaction.
    this.session.forwarded = null
    if (transaction && reason !== 'delivered') transaction.abort(reason)
    this.notice('transaction', { session: this.session, reason, transaction })
  }

  capabilities(): CapabilityFacts {
    const secure = this.session.tls !== null
    const trusted = isTrustedProxy(this)
    return {
      canStartTls: this.options.tlsPolicy !== 'forbidden' && !secure && this.transport?.upgrade !== undefined,
      authMechanisms: this.authMechanisms(secure),
      xclient: trusted ? XCLIENT_ATTRIBUTES : null,
      xforward: trusted ? XFORWARD_ATTRIBUTES : null,
    }
  }

  beginTls(): void {
    const transport = this.transport
    if (!transport?.upgrade) return
    this.send(REPLIES.readyToStartTls)
    this.flush()
    // The STARTTLS command-injection class of bugs: bytes pipelined after STARTTLS arrived in
    // plaintext, so they are thrown away, never run as commands once TLS is up (RFC 3207 §6).
    this.input = EMPTY
    this.pos = 0
    this.lines.reset()
    this.waiting = true
    this.updateFlow()
    const start = tlsHandshakeChannel.hasSubscribers ? performance.now() : -1
    transport.upgrade().then(
      (tls) => {
        this.waiting = false
        if (start >= 0) this.observeHandshake(start, tls, null)
        // A 'drain' owed by the plaintext stream never comes once the transport swapped it; the
        // handshake could only finish because the client read the 220, so output is flowing.
        this.outputBlocked = false
        if (this.closed) return
        const session = this.session
        // RFC 3207 §4.2: forget everything learnt from the client before TLS, except the greeting.
        session.heloName = null
        session.heloVerb = null
        session.user = null
        session.authenticatedAt = null
        session.tls = tls
        session.secureAt = new Date()
        this.log.info(`TLS up: ${tls.protocol ?? '?'} ${tls.cipher ?? ''}`.trimEnd())
        if (this.transaction) this.endTransaction('tls')
        this.notice('secure', { session })
        this.pump()
      },
      (error: unknown) => {
        this.waiting = false
        if (this.closed) return
        // The connection is mid-handshake: no plaintext reply can be sent, so it just closes.
        const failure = error instanceof Error ? error : new Error(String(error))
        if (start >= 0) this.observeHandshake(start, null, failure)
        this.log.warn(`TLS handshake failed: ${failure.message}`)
        this.notice('tlsError', { session: this.session, error: failure })
        this.close('error')
      },
    )
  }

  close(reason: CloseReason, reply?: Reply): void {
    if (this.closed) return
    if (reply) {
      if (this.commandVerb !== null || replyChannel.hasSubscribers) this.observeReply(reply)
      const bytes = formatReply(reply, this.usesEnhancedCodes)
      this.out.push(bytes)
      this.outLength += bytes.length
    }
    this.flush()
    this.closed = true
    this.timers.stop()
    // A listener that never settles must not keep its processing slot once nobody waits for the answer.
    const slot = this.heldSlot
    this.stopDecisionTimer()
    slot?.()
    this.reader = null
    this.input = EMPTY
    this.pos = 0
    this.lines.reset()
    const transaction = this.transaction
    // A message whose data had started but was never answered is a failed one.
    if (transaction && isUnanswered(transaction)) publishMessage(this.session, transaction, 'failed', null)
    if (transaction) this.endTransaction('closed')
    // A paused stream never reads the peer's end, so it would not finish closing.
    if (this.inputPaused) this.transport?.resume?.()
    this.transport?.end()
    this.transport = null
    const { commands, messages, bytesIn, bytesOut } = this.session.counters
    const summary = `${commands} commands, ${messages} messages, ${bytesIn} octets in, ${bytesOut} out`
    const client = this.session.remoteAddress || 'unknown'
    this.log.info(`closed ${client} (${reason}${transaction ? ', transaction aborted' : ''}): ${summary}`)
    if (connectionCloseChannel.hasSubscribers) {
      const duration = Date.now() - this.session.connectedAt.getTime()
      connectionCloseChannel.publish({ session: this.session, reason, aborted: transaction !== null, duration })
    }
    this.notice('close', { session: this.session, reason, aborted: transaction !== null })
    this.closeNotified = true
  }

  private timedOut(what: Expiry): void {
    if (this.closed) return
    this.log.warn(`${what} timeout`)
    this.close('timeout', REPLIES.timeout)
  }

  /** Arms the clock for what the session now waits for: nothing (a listener decides), data, or a command. */
  private armTimers(dataArrived: boolean): void {
    if (this.closed) return
    if (this.waiting) return this.timers.pause()
    const kind = this.reader?.timeout ?? 'command'
    const progress = kind === 'data' ? dataArrived : this.progress !== this.progressAtTimer
    this.progressAtTimer = this.progress
    this.timers.waitFor(kind, progress)
  }

  /** Runs the input loop until it needs bytes, waits for a verdict, or the output is blocked. */
  private pump(dataArrived = false): void {
    if (this.pumping || this.closed) return
    this.pumping = true
    try {
      this.guarded(() => this.readInput())
    } finally {
      this.pumping = false
    }
    this.flush()
    if (this.shuttingDown && !this.closed && this.isIdle) this.close('shutdown', REPLIES.shuttingDown)
    if (this.peerEnded && !this.closed && !this.waiting && this.pos >= this.input.length) this.close('peer')
    this.updateFlow()
    this.armTimers(dataArrived)
  }

  private readInput(): void {
    let stalled = 0
    while (!this.waiting && !this.closed && !this.outputBlocked) {
      const hasInput = this.pos < this.input.length
      const reader = this.reader
      if (reader) {
        if (!hasInput && reader.needsInput) break
        const before = this.pos
        this.pos = reader.read(this.input, this.pos)
        const stuck = this.pos === before && this.reader === reader && !this.waiting && !reader.needsInput
        if (stuck && ++stalled > 1) throw new Error('input reader made no progress')
      } else {
        if (!hasInput) break
        this.pos = this.readCommand(this.input, this.pos)
      }
      // A command may have thrown the rest of the input away (STARTTLS).
      if (this.pos > this.input.length) this.pos = this.input.length
    }
    if (this.pos >= this.input.length) {
      this.input = EMPTY
      this.pos = 0
    }
  }

  private readCommand(input: Buffer, pos: number): number {
    const auth = this.authOffered()
    const limit = commandLineLimit(this.options, auth)
    // Frame at the AUTH limit when AUTH is offered; other commands are held to theirs below.
    const end = this.lines.read(input, pos, auth ? Math.max(limit, AUTH_LINE_LIMIT) : limit)
    const { line, fault } = this.lines
    if (line === null && fault === null) return end
    this.session.counters.commands++
    this.progress++
    // Timed only while someone listens; the verb is filled in once the line is parsed.
    if (commandChannel.hasSubscribers) {
      this.commandVerb = 'UNKNOWN'
      this.commandStart = performance.now()
    }
    if (this.options.trace) this.trace('C', line ? redactCommand(line.toString('utf8')) : `(${fault})`)
    // Shutting down: new work is refused, but a BDAT transaction under way may finish.
    if (this.shuttingDown && this.transaction?.via !== 'BDAT') {
      this.close('shutdown', REPLIES.shuttingDown)
    } else if (fault) {
      this.sendError(fault === 'tooLong' ? REPLIES.lineTooLong : REPLIES.bareLineFeed)
    } else if (line && line.length + 2 > limit && !isAuthLine(line)) {
      this.sendError(REPLIES.lineTooLong)
    } else if (line && !isUtf8(line)) {
      this.sendError(REPLIES.invalidUtf8)
    } else if (line) {
      const parsed = parseCommand(line.toString('utf8'))
      if (this.commandVerb !== null) this.commandVerb = knownVerb(parsed)
      handleCommand(this, parsed)
    }
    return end
  }

  private flush(): void {
    if (this.out.length === 0) return
    const transport = this.transport
    const batch = this.out
    const length = this.outLength
    this.out = []
    this.outLength = 0
    if (!transport) return
    this.session.counters.bytesOut += length
    // A batch of pipelined replies goes out in one write, without joining them first when it can.
    let ok: boolean
    if (batch.length === 1) ok = transport.write(batch[0] as Buffer)
    else if (transport.writev) ok = transport.writev(batch)
    else ok = transport.write(Buffer.concat(batch, length))
    if (!ok) this.outputBlocked = true
  }

  private wantsInput(): boolean {
    return !this.closed && !this.waiting && !this.outputBlocked
  }

  /** Pauses or resumes the transport to match whether the loop can use more input. */
  private updateFlow(): void {
    const want = this.wantsInput()
    if (want && this.inputPaused) {
      this.inputPaused = false
      this.transport?.resume?.()
    } else if (!want && !this.inputPaused && !this.closed) {
      this.inputPaused = true
      this.transport?.pause?.()
    }
  }

  /** Publishes a reply, and the end of the command it answers (AUTH's 334 challenges do not end it). */
  private observeReply(reply: Reply): void {
    if (replyChannel.hasSubscribers) replyChannel.publish({ session: this.session, reply })
    const verb = this.commandVerb
    if (verb === null || reply.code === 334) return
    this.commandVerb = null
    if (commandChannel.hasSubscribers) {
      commandChannel.publish({ session: this.session, verb, code: reply.code, duration: performance.now() - this.commandStart })
    }
  }

  private observeDecision(event: keyof DecisionEvents, start: number, settled: readonly Settled[], async: boolean): void {
    if (!decisionChannel.hasSubscribers) return
    const duration = performance.now() - start
    const { kind: outcome } = combine(settled)
    decisionChannel.publish({ session: this.session, event, listeners: settled.length, async, outcome, duration })
  }

  private observeHandshake(start: number, tls: TlsInfo | null, error: Error | null): void {
    if (!tlsHandshakeChannel.hasSubscribers) return
    const { remoteAddress, remotePort } = this.session
    const duration = performance.now() - start
    tlsHandshakeChannel.publish({ session: this.session, remoteAddress, remotePort, implicit: false, tls, error, duration })
  }

  private reportErrors(event: string, settled: readonly Settled[]): void {
    for (const error of unexpectedErrors(settled)) {
      this.log.error(`${event} listener failed: ${error.message}`)
      if (event === 'error') process.emitWarning(error) // an `error` listener threw: nowhere else to go
      else this.notice('error', { session: this.session, error, event })
    }
  }

  private guarded(run: () => void): void {
    try {
      run()
    } catch (error) {
      this.internalError(error)
    }
  }

  /** A bug in smtpwire itself: report it and end the session rather than the process. */
  private internalError(error: unknown): void {
    const cause = error instanceof Error ? error : new Error(String(error))
    const wrapped = new SmtpwireError('SMTPWIRE_ERR_INTERNAL', `internal error: ${cause.message}`, { cause })
    this.log.error(wrapped.message)
    this.notice('error', { session: this.session, error: wrapped, event: null })
    this.close('error', REPLIES.localErrorClosing)
  }
}

// The kinds of unheard error already warned about, process-wide as the warnings are.
const warnedKinds = new Set<string>()

/**
 * An error with no `error` listener and the silent logger would vanish (a `TypeError` in a
 * `message` listener would be a bare `451`): it goes to `process.emitWarning` instead, once per
 * kind (the event and the error's name), so a hot failure cannot flood the process.
 */
function warnUnheard({ error, event }: NoticeEvents['error']): void {
  const kind = `${event ?? 'connection'}:${error.name}`
  if (warnedKinds.has(kind)) return
  warnedKinds.add(kind)
  const where = event === null ? 'a connection' : `a '${event}' listener`
  process.emitWarning(`${where} failed with ${error.name}: ${error.message} (no 'error' listener and no logger; later ${kind} errors are not reported)`, {
    type: 'SmtpwireWarning',
    code: 'SMTPWIRE_UNHEARD_ERROR',
    ...(error.stack === undefined ? {} : { detail: error.stack }),
  })
}

/** The verb as `smtpwire:command` reports it: only verbs smtpwire knows, so the set stays small. */
function knownVerb(parsed: Command | Fault): string {
  if (!isFault(parsed)) return parsed.verb
  return parsed.verb === null || parsed.fault === 'unknownCommand' ? 'UNKNOWN' : parsed.verb
}

function isAuthLine(line: Buffer): boolean {
  return line.length >= 5 && line.subarray(0, 5).toString('latin1').toUpperCase() === 'AUTH '
}
