// The input loop behind SmtpProtocol: one input mode, the ordered reply queue, flow control in both
// directions, and the session's end. Command rules live in commands/, session facts in session.ts,
// asking listeners in decisions.ts, byte framing in line-reader.ts and dot-decoder.ts.
//
//   open() ─connect decision─► 'command' ◄─────────────────────────────────────────┐
//                               │ DATA accepted ─► 'reader' (body) ──CRLF.CRLF──────┤
//                               │ BDAT n ────────► 'reader' (chunk) ──n octets──────┤
//                               │ AUTH ──────────► 'reader' (SASL) ──done───────────┤
//                               │ STARTTLS ──────► 'upgrading' ──secure─────────────┘
//                               └ QUIT / 421 / peer gone / error ─► 'closed'
//   From 'command' or 'reader', a listener that returns a Promise switches to 'awaiting-decision':
//   input is kept, the transport is paused, and the loop restarts from the next unread byte (in
//   the mode the reader implies) once every listener has settled.

import { commandLineLimit, offeredMechanisms } from './capabilities.js'
import { bareCommand, framingLimit, refusalOf } from './command-line.js'
import { greet, handleCommand, hasAuthListener } from './commands/index.js'
import {
  commandChannel,
  connectionOpenChannel,
  publishClose,
  publishMessage,
  publishStartTlsHandshake,
  ReplyObserver,
  tlsHandshakeChannel,
} from './diagnostics.js'
import { Decisions, type DecisionOwner } from './decisions.js'
import { SmtpwireError } from './errors.js'
import type { CloseReason, DecisionEvents, Listeners, NoticeEvents, Settled, TransactionEndReason } from './events.js'
import type { Host, InputReader } from './host.js'
import { LineReader } from './line-reader.js'
import { isLogging, redactCommand, sessionLogger, type Logger } from './logger.js'
import type { ResolvedOptions } from './options.js'
import { parseCommand } from './parser.js'
import { ReplyQueue } from './reply-queue.js'
import { formatHelloReply, formatReply, helloReply, REPLIES, type Reply } from './replies.js'
import { greetedExtended, Session, type TransactionState } from './session.js'
import type { SessionFacts, SessionInfo } from './session-info.js'
import { SessionTimers, type Expiry } from './timeouts.js'
import type { SmtpTransport } from './transport.js'

const EMPTY = Buffer.alloc(0)
// What queue() reads of an EHLO reply (its code), sent by sendHello().
const HELLO: Reply = Object.freeze({ code: 250, enhanced: null, text: '' })
// Errors that only mean the peer went away; they are not worth an `error` event.
const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'])

/**
 * What the loop does with input: read command lines, hand it to a reader (DATA, BDAT, AUTH), keep
 * it while listeners decide or TLS comes up, or nothing more.
 */
export type InputMode = 'command' | 'reader' | 'awaiting-decision' | 'upgrading' | 'closed'

export class Engine implements Host, DecisionOwner {
  readonly session: Session
  private mode: InputMode = 'command'
  private transport: SmtpTransport | null = null
  private input: Buffer = EMPTY
  private pos = 0
  /** The reader of the current non-command input; kept while a decision it started is pending. */
  private reader: InputReader | null = null
  private readonly lines: LineReader
  private readonly decisions: Decisions
  /** Callers of whenIdle() waiting; made at the first. */
  private idleWaiters: Array<() => void> | null = null
  /**
   * What input is held for (a decision or the TLS handshake), apart from the mode: the session may
   * close meanwhile, and `isWaiting`/`whenIdle()` still follow the listener or the handshake.
   */
  private awaited: 'awaiting-decision' | 'upgrading' | null = null
  private outputBlocked = false
  private inputPaused = false
  private peerEnded = false
  private pumping = false
  private shuttingDown = false
  private readonly replies = new ReplyQueue()
  private readonly timers: SessionTimers
  private readonly observer: ReplyObserver
  readonly log: Logger

  constructor(
    readonly options: ResolvedOptions,
    listeners: Listeners,
  ) {
    this.session = new Session((reason, transaction) => this.transactionEnded(reason, transaction))
    this.lines = new LineReader(options.lineEndings)
    this.timers = new SessionTimers(options, (what) => this.timedOut(what))
    this.log = sessionLogger(options.logger, this.session.info.id)
    this.observer = new ReplyObserver(this.session.info)
    // The engine is the decisions' owner itself: no object and closures per session for it.
    this.decisions = new Decisions(options, listeners, this)
  }

  /** For decisions: the session record listeners see. */
  get sessionInfo(): SessionInfo {
    return this.session.info
  }

  /** For decisions: true once the session ended. */
  isClosed(): boolean {
    return this.mode === 'closed'
  }

  /** For decisions: a decision is pending (or waits for a processing slot), so input stops. */
  hold(): void {
    this.holdInput('awaiting-decision')
  }

  /** True once the session has ended. */
  get closed(): boolean {
    return this.mode === 'closed'
  }

  /** True while input is held: a decision is pending, or TLS is coming up. */
  private get holding(): boolean {
    return this.mode === 'awaiting-decision' || this.mode === 'upgrading'
  }

  /** Stops reading input until `resume()`. */
  private holdInput(mode: 'awaiting-decision' | 'upgrading'): void {
    this.awaited = mode
    // A listener may have closed the session before returning its Promise: closed stays closed.
    if (this.mode === 'closed') return
    this.mode = mode
    this.updateFlow()
  }

  /** The decision or handshake that held input is over (the mode is restored by resume()). */
  release(): void {
    this.awaited = null
    const waiters = this.idleWaiters
    if (waiters !== null && waiters.length > 0) for (const wake of waiters.splice(0)) wake()
  }

  /** Resolves once no verdict is pending and TLS is not coming up: at once when neither. */
  whenIdle(): Promise<void> {
    if (!this.isWaiting) return Promise.resolve()
    return new Promise((resolve) => void (this.idleWaiters ??= []).push(resolve))
  }

  /** Input flows again, in the mode the reader implies; runs `then` first, then the loop. */
  resume(then: () => void): void {
    if (this.mode === 'closed') return
    this.mode = this.reader ? 'reader' : 'command'
    this.guarded(then)
    this.pump()
  }

  /** Enhanced status codes go on replies once EHLO/LHLO was accepted (RFC 2034 §3). */
  private get usesEnhancedCodes(): boolean {
    return this.options.enhancedStatusCodes && greetedExtended(this.session.info)
  }

  /** True when some SASL mechanism is on offer now. */
  private authOffered(): boolean {
    return offeredMechanisms(this.options, this.session.info.tls !== null, hasAuthListener(this)).length > 0
  }

  /** The transport can be upgraded to TLS. */
  get canUpgrade(): boolean {
    return this.transport?.upgrade !== undefined
  }

  /** True when a verdict is pending (or TLS is coming up). */
  get isWaiting(): boolean {
    return this.awaited !== null
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
    this.session.opened(facts)
    const { remoteAddress, remotePort, tls } = this.session.info
    // Published before the first log line, so a subscriber can tie that line to its client.
    if (connectionOpenChannel.hasSubscribers) connectionOpenChannel.publish({ session: this.session.info })
    if (isLogging(this.log)) this.log.info(`connection from ${remoteAddress || 'unknown'}:${remotePort}${tls ? ` (${tls.protocol})` : ''}`)
    this.timers.start()
    greet(this)
    this.pump()
  }

  /** Takes bytes from the client; false asks the caller to pause until `resume()` is called. */
  feed(chunk: Buffer): boolean {
    if (this.closed) return false
    this.session.bytesRead(chunk.length)
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
    if (this.holding && this.pos >= this.input.length) return this.close('peer')
    this.pump()
  }

  /** The connection is gone: nothing more can be written. */
  destroy(error?: Error): void {
    if (this.closed) return
    this.transport = null
    const code = (error as { code?: unknown } | undefined)?.code
    const failed = error !== undefined && !(typeof code === 'string' && PEER_GONE.has(code))
    if (failed) {
      this.log.warn(`connection from ${this.session.info.remoteAddress || 'unknown'} failed: ${error.message}`)
      this.notice('error', { session: this.session.info, error, event: null })
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
    return this.mode === 'command' && this.session.transaction?.via !== 'BDAT' && this.pos >= this.input.length
  }

  send(reply: Reply): void {
    if (this.observer.watching) this.observer.replied(reply)
    this.queue(reply, formatReply(reply, this.usesEnhancedCodes))
  }

  sendHello(clientName: string, keywords: readonly string[]): void {
    const domain = this.options.domain
    // The Reply itself only for someone who observes it: the bytes come from kept keyword lines.
    if (this.observer.watching) this.observer.replied(helloReply(domain, clientName, keywords))
    this.queue(HELLO, formatHelloReply(domain, clientName, keywords))
  }

  /** Queues a reply's bytes; `reply` for its code. */
  private queue(reply: Reply, bytes: Buffer): void {
    if (this.options.trace) this.trace('S', bytes.toString('utf8').trimEnd())
    const full = this.replies.push(bytes)
    // A 421 ends the session (RFC 5321 §3.8), whoever chose it.
    if (reply.code === 421) this.close('protocol')
    else if (full) this.flush()
  }

  sendError(reply: Reply): void {
    const errors = this.session.errorCounted()
    const limit = this.options.maxErrors
    if (limit > 0 && errors >= limit) this.send(REPLIES.tooManyErrors)
    else this.send(reply)
  }

  decide<K extends keyof DecisionEvents>(event: K, payload: DecisionEvents[K], then: (settled: readonly Settled[]) => void): void {
    this.decisions.decide(event, payload, then)
  }

  notice<K extends keyof NoticeEvents>(event: K, payload: NoticeEvents[K]): void {
    this.decisions.notice(event, payload)
  }

  /** Resolves once every Promise returned by listeners so far has settled. */
  settled(): Promise<void> {
    return this.decisions.settled()
  }

  /** True while a Promise returned by a listener has not settled. */
  get hasPendingWork(): boolean {
    return this.decisions.pending
  }

  hasListeners(event: keyof DecisionEvents | keyof NoticeEvents): boolean {
    return this.decisions.has(event)
  }

  setReader(reader: InputReader | null): void {
    if (this.mode === 'closed') return
    this.reader = reader
    // A decision or upgrade under way restores the mode from the reader when it ends.
    if (this.mode === 'command' || this.mode === 'reader') this.mode = reader ? 'reader' : 'command'
    this.timers.progressed()
  }

  trace(direction: 'C' | 'S', text: string): void {
    if (this.options.trace) for (const line of text.split('\r\n')) this.log.debug(`${direction}: ${line}`)
  }

  /** Reports the end of a transaction (the session's `endTransaction` is the one way to end one). */
  private transactionEnded(reason: TransactionEndReason, transaction: TransactionState | null): void {
    // Once closed, the transaction was already ended (as 'closed') by close() itself.
    if (this.closed && reason !== 'closed') return
    // Every transaction ends, usually with nobody listening: no payload for nobody.
    if (this.decisions.has('transaction')) this.notice('transaction', { session: this.session.info, reason, transaction })
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
    this.holdInput('upgrading')
    const start = tlsHandshakeChannel.hasSubscribers ? performance.now() : -1
    transport.upgrade().then(
      (tls) => {
        this.release()
        if (start >= 0) publishStartTlsHandshake(this.session.info, start, tls, null)
        // A 'drain' owed by the plaintext stream never comes once the transport swapped it; the
        // handshake could only finish because the client read the 220, so output is flowing.
        this.outputBlocked = false
        if (this.mode === 'closed') return
        this.mode = 'command'
        this.log.info(`TLS up: ${tls.protocol ?? '?'} ${tls.cipher ?? ''}`.trimEnd())
        this.session.secured(tls)
        this.notice('secure', { session: this.session.info })
        this.pump()
      },
      (error: unknown) => {
        this.release()
        if (this.mode === 'closed') return
        // The connection is mid-handshake: no plaintext reply can be sent, so it just closes.
        const failure = error instanceof Error ? error : new Error(String(error))
        if (start >= 0) publishStartTlsHandshake(this.session.info, start, null, failure)
        this.log.warn(`TLS handshake failed: ${failure.message}`)
        this.notice('tlsError', { session: this.session.info, error: failure })
        this.close('error')
      },
    )
  }

  close(reason: CloseReason, reply?: Reply): void {
    if (this.closed) return
    if (reply) {
      if (this.observer.watching) this.observer.replied(reply)
      this.replies.push(formatReply(reply, this.usesEnhancedCodes))
    }
    this.flush()
    this.mode = 'closed'
    this.timers.stop()
    // A listener that never settles must not keep its processing slot once nobody waits for the answer.
    this.decisions.abandon()
    this.reader = null
    this.input = EMPTY
    this.pos = 0
    this.lines.reset()
    const transaction = this.session.transaction
    // A message whose data had started but was never answered is a failed one.
    if (transaction?.body && !transaction.body.answered) publishMessage(this.session.info, transaction, 'failed', null)
    if (transaction) this.session.endTransaction('closed')
    // A paused stream never reads the peer's end, so it would not finish closing.
    if (this.inputPaused) this.transport?.resume?.()
    this.transport?.end()
    this.transport = null
    const session = this.session.info
    if (isLogging(this.log)) {
      const { commands, messages, bytesIn, bytesOut } = session.counters
      const summary = `${commands} commands, ${messages} messages, ${bytesIn} octets in, ${bytesOut} out`
      const client = session.remoteAddress || 'unknown'
      this.log.info(`closed ${client} (${reason}${transaction ? ', transaction aborted' : ''}): ${summary}`)
    }
    publishClose(session, reason, transaction !== null)
    this.notice('close', { session, reason, aborted: transaction !== null })
    this.decisions.closeNoticed()
  }

  private timedOut(what: Expiry): void {
    if (this.closed) return
    this.log.warn(`${what} timeout`)
    this.close('timeout', REPLIES.timeout)
  }

  /** Arms the clock for what the session now waits for: nothing (a listener decides), data, or a command. */
  private armTimers(dataArrived: boolean): void {
    if (this.mode === 'closed') return
    if (this.holding) return this.timers.pause()
    this.timers.armFor(this.reader?.timeout ?? 'command', dataArrived)
  }

  /** Runs the input loop until it needs bytes, waits for a verdict, or the output is blocked. */
  private pump(dataArrived = false): void {
    if (this.pumping || this.closed) return
    this.pumping = true
    // Not through guarded(): a closure per read is measurable on small messages.
    try {
      this.readInput()
    } catch (error) {
      this.internalError(error)
    } finally {
      this.pumping = false
    }
    this.flush()
    if (this.shuttingDown && !this.closed && this.isIdle) this.close('shutdown', REPLIES.shuttingDown)
    if (this.peerEnded && !this.closed && !this.holding && this.pos >= this.input.length) this.close('peer')
    this.updateFlow()
    this.armTimers(dataArrived)
  }

  private readInput(): void {
    let stalled = 0
    while (!this.outputBlocked && this.step()) {
      // A command may have thrown the rest of the input away (STARTTLS).
      if (this.pos > this.input.length) this.pos = this.input.length
      // A reader that neither consumed, finished, started a decision nor asked for input is a bug.
      if (this.stalled && ++stalled > 1) throw new Error('input reader made no progress')
    }
    if (this.pos >= this.input.length) {
      this.input = EMPTY
      this.pos = 0
    }
  }

  /** Set by step(): the reader made no progress and does not say it needs input. */
  private stalled = false

  /** One step of the loop in the current mode; false when it must stop (no input, or input is held). */
  private step(): boolean {
    const mode = this.mode
    switch (mode) {
      case 'command':
        if (this.pos >= this.input.length) return false
        this.pos = this.readCommand(this.input, this.pos)
        this.stalled = false
        return true
      case 'reader': {
        const reader = this.reader as InputReader
        if (this.pos >= this.input.length && reader.needsInput) return false
        const before = this.pos
        this.pos = reader.read(this.input, this.pos)
        this.stalled = this.pos === before && this.mode === 'reader' && this.reader === reader && !reader.needsInput
        return true
      }
      case 'awaiting-decision':
      case 'upgrading':
      case 'closed':
        return false
      default:
        return unreachable(mode)
    }
  }

  private readCommand(input: Buffer, pos: number): number {
    const auth = this.authOffered()
    const limit = commandLineLimit(this.options, auth)
    // Frame at the AUTH limit when AUTH is offered; other commands are held to theirs below.
    const end = this.lines.read(input, pos, framingLimit(limit, auth))
    const lines = this.lines
    if (!lines.hasLine && lines.fault === null) return end
    this.session.commandRead()
    this.timers.progressed()
    if (commandChannel.hasSubscribers) this.observer.commandRead()
    if (this.options.trace) this.trace('C', lines.hasLine ? redactCommand(lines.text()) : `(${lines.fault})`)
    // Shutting down: new work is refused, but a BDAT transaction under way may finish.
    if (this.shuttingDown && this.session.transaction?.via !== 'BDAT') {
      this.close('shutdown', REPLIES.shuttingDown)
      return end
    }
    // DATA, RSET, QUIT, NOOP as clients send them: known from the octets, no string and no parse.
    const bare = bareCommand(lines)
    const refusal = bare === null ? refusalOf(lines, limit) : null
    if (refusal) {
      this.sendError(refusal)
    } else if (lines.hasLine) {
      const parsed = bare ?? parseCommand(lines.text())
      this.observer.parsed(parsed)
      handleCommand(this, parsed)
    }
    return end
  }

  private flush(): void {
    const written = this.replies.flush(this.transport)
    if (written === 0) return
    this.session.bytesWritten(Math.abs(written))
    if (written < 0) this.outputBlocked = true
  }

  private wantsInput(): boolean {
    return this.mode !== 'closed' && !this.holding && !this.outputBlocked
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

  private guarded(run: () => void): void {
    try {
      run()
    } catch (error) {
      this.internalError(error)
    }
  }

  /** A bug in smtpwire itself: report it and end the session rather than the process. */
  internalError(error: unknown): void {
    const cause = error instanceof Error ? error : new Error(String(error))
    const wrapped = new SmtpwireError('SMTPWIRE_ERR_INTERNAL', `internal error: ${cause.message}`, { cause })
    this.log.error(wrapped.message)
    this.notice('error', { session: this.session.info, error: wrapped, event: null })
    this.close('error', REPLIES.localErrorClosing)
  }
}

function unreachable(mode: never): never {
  throw new Error(`unknown input mode ${String(mode)}`)
}
