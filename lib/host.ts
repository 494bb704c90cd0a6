// The seam between the engine and the command handlers: what a handler may touch (implemented by
// the engine, faked in specs), and the input-reader contract for modes that are not command lines
// (DATA, BDAT, AUTH). Types only.

import type { CloseReason, DecisionEvents, NoticeEvents, Settled } from './events.js'
import type { Logger } from './logger.js'
import type { ResolvedOptions } from './options.js'
import type { Reply } from './replies.js'
import type { Session } from './session.js'
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

/**
 * What a command handler may touch: the resolved options, the session (its facts and the
 * transitions that change them), the reply queue, decisions and notices, the input mode, the
 * TLS upgrade, and the end of the session. The engine implements it; a plain object
 * can stand in for it (spec/host.spec.ts).
 */
export interface Host {
  readonly options: ResolvedOptions
  /** The session's one owner: `session.info` as listeners see it, the open transaction, the transitions. */
  readonly session: Session
  /** True when the transport can be upgraded to TLS (STARTTLS is possible on this connection). */
  readonly canUpgrade: boolean
  /** Queues a reply. A 421 also closes the session once it is written. */
  send(reply: Reply): void
  /** Queues the 250 to EHLO/LHLO: `helloReply(options.domain, clientName, keywords)`, as formatHelloReply writes it. */
  sendHello(clientName: string, keywords: readonly string[]): void
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
  /**
   * STARTTLS: sends 220, discards input already read, and upgrades the transport; the session
   * resumes (`session.secured()`) once TLS is up, or closes when the handshake fails.
   */
  beginTls(): void
  /** The session's logger (the session id is on every line). */
  readonly log: Logger
  /** Logs a line of the wire trace when `trace` is on (`C` from the client, `S` from the server). */
  trace(direction: 'C' | 'S', text: string): void
  /** Sends `reply` (if any), then ends the session. */
  close(reason: CloseReason, reply?: Reply): void
}
