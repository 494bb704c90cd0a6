// The internal surface command handlers work through (implemented by SmtpProtocol), and the
// input-reader contract for modes that are not command lines (DATA, BDAT, AUTH). Types only.

import type { CapabilityFacts } from './capabilities.js'
import type { Logger } from './logger.js'
import type { CloseReason, DecisionEvents, NoticeEvents, Settled, TransactionEndReason } from './events.js'
import type { ResolvedOptions, SaslMechanismName } from './options.js'
import type { Reply } from './replies.js'
import type { SessionState, TransactionState } from './session.js'
import type { IdleKind } from './timeouts.js'

/** Reads input in a mode other than command lines. */
export interface InputReader {
  /**
   * Reads from `input[pos]` and returns the position after what it consumed. It must consume
   * something, finish (`host.setReader(null)`), start a decision, or leave `needsInput` true.
   */
  read(input: Buffer, pos: number): number
  /** True when the reader cannot go on until more input arrives. */
  readonly needsInput: boolean
  /** Which idle limit applies while it reads: `data` (message octets) or `command` (lines; the default). */
  readonly timeout?: IdleKind
  /** Octets of client input the reader holds (a partial line, message data not yet delivered). */
  readonly buffered?: number
}

/** What SmtpProtocol offers the command handlers. */
export interface Host {
  readonly options: ResolvedOptions
  readonly session: SessionState
  /** The open transaction, or null. */
  transaction: TransactionState | null
  /** True after the connect decision refused the client: only QUIT is served (RFC 5321 §3.1). */
  readonly refused: boolean
  /** Queues a reply. A 421 also closes the session once it is written. */
  send(reply: Reply): void
  /** Queues the reply to a failed command, counting it toward `maxErrors` (which may close with 421). */
  sendError(reply: Reply): void
  /**
   * Asks the listeners of a decision event. `then` runs with their results at once when all
   * answered synchronously, else later; meanwhile no input is read. Errors that are not
   * SmtpErrors are emitted on `error` before `then` runs.
   */
  decide<K extends keyof DecisionEvents>(event: K, payload: DecisionEvents[K], then: (settled: readonly Settled[]) => void): void
  /** Emits a notice event; listener errors go to `error`. */
  notice<K extends keyof NoticeEvents>(event: K, payload: NoticeEvents[K]): void
  /** True when event K has listeners. */
  hasListeners(event: keyof DecisionEvents | keyof NoticeEvents): boolean
  /** Switches input to a reader, or back to command lines with null. */
  setReader(reader: InputReader | null): void
  /** Clears the open transaction (if any) and emits `transaction`. */
  endTransaction(reason: TransactionEndReason): void
  /** What EHLO advertises now (STARTTLS, AUTH, XCLIENT depend on the session). */
  capabilities(): CapabilityFacts
  /** The SASL mechanisms on offer without TLS (`secure` false) or with it; empty when AUTH is not. */
  authMechanisms(secure: boolean): readonly SaslMechanismName[]
  /**
   * STARTTLS: sends 220, discards input already read, and upgrades the transport; the session
   * resumes (state reset) once TLS is up, or closes when the handshake fails.
   */
  beginTls(): void
  /** Sends the greeting again, after the connect decision (XCLIENT starts the session over). */
  greet(): void
  /** The session's logger (the session id is on every line). */
  readonly log: Logger
  /** Logs a line of the wire trace when `trace` is on (`C` from the client, `S` from the server). */
  trace(direction: 'C' | 'S', text: string): void
  /** Sends `reply` (if any), then ends the session. */
  close(reason: CloseReason, reply?: Reply): void
}
