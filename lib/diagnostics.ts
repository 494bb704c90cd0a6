// The `node:diagnostics_channel` channels smtpwire publishes on, and their payload types. Callers
// check `hasSubscribers` before building a payload or reading a clock, so an unobserved server pays
// nothing. Types and channel objects only; imports no net/tls.

import diagnosticsChannel from 'node:diagnostics_channel'
import { knownVerb } from './command-line.js'
import type { CloseReason, DecisionEvents } from './events.js'
import type { Command, Fault } from './parser.js'
import type { Reply } from './replies.js'
import type { SessionInfo, TlsInfo, TransactionInfo } from './session-info.js'

/**
 * The names of the channels smtpwire publishes on. Subscribe with `node:diagnostics_channel`;
 * nothing is built or measured for a channel without subscribers.
 *
 * @example
 * import { subscribe } from 'node:diagnostics_channel'
 * subscribe(CHANNELS.command, (message) => {
 *   const { verb, code, duration } = message as CommandDiagnostic
 *   console.log(verb, code, `${duration.toFixed(1)} ms`)
 * })
 */
export const CHANNELS = {
  /** A session started (after the PROXY header and implicit TLS, before the greeting): ConnectionOpenDiagnostic. */
  connectionOpen: 'smtpwire:connection:open',
  /** A session ended: ConnectionCloseDiagnostic. */
  connectionClose: 'smtpwire:connection:close',
  /** A command was answered: CommandDiagnostic. */
  command: 'smtpwire:command',
  /** A reply was queued to the client: ReplyDiagnostic. */
  reply: 'smtpwire:reply',
  /** A message was answered, or cut off: MessageDiagnostic. */
  message: 'smtpwire:message',
  /** A TLS handshake (STARTTLS or implicit TLS) finished or failed: TlsHandshakeDiagnostic. */
  tlsHandshake: 'smtpwire:tls:handshake',
  /** Credentials were accepted or refused: AuthDiagnostic. */
  auth: 'smtpwire:auth',
  /** The listeners of a decision event settled: DecisionDiagnostic. */
  decision: 'smtpwire:listener:decision',
} as const

/** One of the channel names in `CHANNELS`. */
export type ChannelName = (typeof CHANNELS)[keyof typeof CHANNELS]

/** `smtpwire:connection:open`: a session started. The greeting (or the `connect` decision) follows. */
export interface ConnectionOpenDiagnostic {
  /** The session, updated in place as it goes on (read what you need at once). */
  readonly session: SessionInfo
}

/** `smtpwire:connection:close`: a session ended. */
export interface ConnectionCloseDiagnostic {
  /** The session (updated in place; read what you need at once). */
  readonly session: SessionInfo
  /** Why it ended, as the `close` event says. */
  readonly reason: CloseReason
  /** True when a mail transaction was still open. */
  readonly aborted: boolean
  /** Milliseconds since `session.connectedAt`. */
  readonly duration: number
}

/** `smtpwire:command`: a command line got its reply (for AUTH, the final one after any 334). */
export interface CommandDiagnostic {
  /** The session (updated in place; read what you need at once). */
  readonly session: SessionInfo
  /**
   * The verb in upper case (`MAIL`, `DATA`, …) when smtpwire knows it; `UNKNOWN` for any other
   * line (an unknown verb, a line too long, invalid UTF-8), so the set of values stays small.
   */
  readonly verb: string
  /** The reply's code. DATA is answered by its 354; the message's own reply is on `smtpwire:message`. */
  readonly code: number
  /** Milliseconds from reading the line to queueing the reply: listener decisions included. */
  readonly duration: number
}

/** `smtpwire:reply`: a reply was queued, whatever prompted it (greeting, command, message, 421). */
export interface ReplyDiagnostic {
  /** The session (updated in place; read what you need at once). */
  readonly session: SessionInfo
  /** The reply as queued: code, enhanced code (if any) and text. */
  readonly reply: Reply
}

/**
 * How a message ended: `accepted` (2xx), `refused` (a listener or a limit said no), or `failed`
 * (a listener threw something other than an SmtpError, or the connection ended before the message
 * was answered).
 */
export type MessageResult = 'accepted' | 'refused' | 'failed'

/** `smtpwire:message`: a message (DATA body or the BDAT LAST chunk) was answered, or cut off. */
export interface MessageDiagnostic {
  /** The session (updated in place; read what you need at once). */
  readonly session: SessionInfo
  /** The transaction the message belongs to. */
  readonly transaction: TransactionInfo
  /** How it ended. */
  readonly result: MessageResult
  /** Octets of message data received (after dot-unstuffing; trace header excluded). */
  readonly size: number
  /** Accepted recipients of the transaction. */
  readonly recipients: number
  /** The reply's code (under LMTP, the first recipient's); null when the connection ended first. */
  readonly code: number | null
}

/** `smtpwire:tls:handshake`: a TLS handshake finished or failed. */
export interface TlsHandshakeDiagnostic {
  /** The session for STARTTLS; null for implicit TLS, whose handshake comes before the session. */
  readonly session: SessionInfo | null
  /** The client's address (after a PROXY header, the one it reported). */
  readonly remoteAddress: string
  /** The client's port. */
  readonly remotePort: number
  /** True for implicit TLS (SMTPS), false for STARTTLS. */
  readonly implicit: boolean
  /** What was negotiated; null when the handshake failed. */
  readonly tls: TlsInfo | null
  /** Why the handshake failed; null when it succeeded. */
  readonly error: Error | null
  /** Milliseconds the handshake took: for STARTTLS, from writing the 220 (the client reads it first). */
  readonly duration: number
}

/** How an AUTH exchange ended: `accepted`, `refused` (535 or a listener's reply) or `failed` (a listener threw: 454). */
export type AuthResult = 'accepted' | 'refused' | 'failed'

/** `smtpwire:auth`: credentials were checked. Exchanges that end before credentials (501, `*`) are only commands. */
export interface AuthDiagnostic {
  /** The session (updated in place; read what you need at once). */
  readonly session: SessionInfo
  /** The SASL mechanism used. */
  readonly mechanism: string
  /** The user name the client gave. */
  readonly username: string
  /** How the check ended. */
  readonly result: AuthResult
  /** The final reply's code (235, 535, 454, or 421 after too many failures). */
  readonly code: number
}

/** `smtpwire:listener:decision`: every listener of a decision event settled. Not published for events without listeners. */
export interface DecisionDiagnostic {
  /** The session (updated in place; read what you need at once). */
  readonly session: SessionInfo
  /** The decision event whose listeners were asked. */
  readonly event: keyof DecisionEvents
  /** Listeners asked. */
  readonly listeners: number
  /** True when some listener returned a Promise. */
  readonly async: boolean
  /**
   * The combined verdict: `accept`, `reject` (false or an SmtpError) or `fail` (a listener threw
   * something else). An LMTP `message` verdict given per recipient counts as `accept` here.
   */
  readonly outcome: 'accept' | 'reject' | 'fail'
  /** Milliseconds from calling the first listener to the last one settling (a maxProcessing wait excluded). */
  readonly duration: number
}

/** Each channel name with the payload published on it. */
export interface DiagnosticPayloads {
  /** See {@link ConnectionOpenDiagnostic}. */
  'smtpwire:connection:open': ConnectionOpenDiagnostic
  /** See {@link ConnectionCloseDiagnostic}. */
  'smtpwire:connection:close': ConnectionCloseDiagnostic
  /** See {@link CommandDiagnostic}. */
  'smtpwire:command': CommandDiagnostic
  /** See {@link ReplyDiagnostic}. */
  'smtpwire:reply': ReplyDiagnostic
  /** See {@link MessageDiagnostic}. */
  'smtpwire:message': MessageDiagnostic
  /** See {@link TlsHandshakeDiagnostic}. */
  'smtpwire:tls:handshake': TlsHandshakeDiagnostic
  /** See {@link AuthDiagnostic}. */
  'smtpwire:auth': AuthDiagnostic
  /** See {@link DecisionDiagnostic}. */
  'smtpwire:listener:decision': DecisionDiagnostic
}

/** A channel that only takes its own payload type. */
export interface TypedChannel<T> {
  readonly hasSubscribers: boolean
  publish(message: T): void
}

function open<N extends ChannelName>(name: N): TypedChannel<DiagnosticPayloads[N]> {
  return diagnosticsChannel.channel(name)
}

// Held here for the life of the process: Node keeps a channel only while someone references it.
export const connectionOpenChannel = open(CHANNELS.connectionOpen)
export const connectionCloseChannel = open(CHANNELS.connectionClose)
export const commandChannel = open(CHANNELS.command)
export const replyChannel = open(CHANNELS.reply)
export const messageChannel = open(CHANNELS.message)
export const tlsHandshakeChannel = open(CHANNELS.tlsHandshake)
export const authChannel = open(CHANNELS.auth)
export const decisionChannel = open(CHANNELS.decision)

/** Publishes how a message ended, when anyone listens. */
export function publishMessage(session: SessionInfo, transaction: TransactionInfo, result: MessageResult, code: number | null): void {
  if (!messageChannel.hasSubscribers) return
  messageChannel.publish({ session, transaction, result, size: transaction.size, recipients: transaction.to.length, code })
}

/** Publishes the outcome of checking credentials, when anyone listens. */
export function publishAuth(session: SessionInfo, mechanism: string, username: string, result: AuthResult, code: number): void {
  if (authChannel.hasSubscribers) authChannel.publish({ session, mechanism, username, result, code })
}

/** Publishes the end of a session, when anyone listens. */
export function publishClose(session: SessionInfo, reason: CloseReason, aborted: boolean): void {
  if (!connectionCloseChannel.hasSubscribers) return
  connectionCloseChannel.publish({ session, reason, aborted, duration: Date.now() - session.connectedAt.getTime() })
}

/** Publishes how a STARTTLS handshake begun at `start` (performance.now()) ended, when anyone listens. */
export function publishStartTlsHandshake(session: SessionInfo, start: number, tls: TlsInfo | null, error: Error | null): void {
  if (!tlsHandshakeChannel.hasSubscribers) return
  const { remoteAddress, remotePort } = session
  const duration = performance.now() - start
  tlsHandshakeChannel.publish({ session, remoteAddress, remotePort, implicit: false, tls, error, duration })
}

/**
 * Publishes each reply, and times each command from its line to its reply (`smtpwire:command`).
 * The clock is read only while the command channel has subscribers.
 */
export class ReplyObserver {
  /** The command awaiting its reply, while `smtpwire:command` has subscribers (else null). */
  private verb: string | null = null
  private start = 0

  constructor(private readonly session: SessionInfo) {}

  /** True when a reply must be reported: a command is timed, or someone listens to replies. */
  get watching(): boolean {
    return this.verb !== null || replyChannel.hasSubscribers
  }

  /** A command line was read; its verb is filled in once the line is parsed. */
  commandRead(): void {
    this.verb = 'UNKNOWN'
    this.start = performance.now()
  }

  /** The line parsed: the verb the diagnostics report for it. */
  parsed(parsed: Command | Fault): void {
    if (this.verb !== null) this.verb = knownVerb(parsed)
  }

  /** A reply is queued: published, and the end of the command it answers (AUTH's 334 challenges do not end it). */
  replied(reply: Reply): void {
    if (replyChannel.hasSubscribers) replyChannel.publish({ session: this.session, reply })
    const verb = this.verb
    if (verb === null || reply.code === 334) return
    this.verb = null
    if (commandChannel.hasSubscribers) {
      commandChannel.publish({ session: this.session, verb, code: reply.code, duration: performance.now() - this.start })
    }
  }
}
