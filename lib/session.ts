// The facts of one session and one mail transaction, as listeners see them (read-only views),
// with the mutable records the protocol keeps behind them. Data, and a transaction's AbortSignal.

import { randomBytes } from 'node:crypto'
import type { Mailbox } from './address.js'
import type { MailParams, RcptParams } from './params.js'

/** The TLS state of a secure session. */
export interface TlsInfo {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  readonly protocol: string | null
  /** Negotiated cipher name, e.g. `TLS_AES_256_GCM_SHA384`. */
  readonly cipher: string | null
  /** SNI name the client asked for, if any. */
  readonly servername: string | null
  /** True when TLS began before the greeting (SMTPS), false after STARTTLS. */
  readonly implicit: boolean
}

/** What the transport knows about a connection when it hands it to the protocol. */
export interface SessionFacts {
  remoteAddress?: string
  remotePort?: number
  localAddress?: string
  localPort?: number
  /** Reverse-DNS name of the client, when the glue looked it up. */
  clientHostname?: string | null
  /** TLS state when the connection is already secure (implicit TLS). */
  tls?: TlsInfo | null
  connectedAt?: Date
}

/** Running totals for one session. */
export interface SessionCounters {
  /** Commands read (including rejected ones). */
  commands: number
  /** Commands that were refused as unknown, out of sequence or malformed. */
  errors: number
  /** Mail transactions begun (MAIL accepted). */
  transactions: number
  /** Messages accepted with 250. */
  messages: number
  /** AUTH attempts whose credentials were refused. */
  authFailures: number
  /** Octets read from and written to the client. */
  bytesIn: number
  bytesOut: number
}

/** One session as listeners see it. The object lives as long as the connection and is updated in place. */
export interface SessionInfo {
  /** Unique id for logs, e.g. `k3x9a1f2`. */
  readonly id: string
  readonly remoteAddress: string
  readonly remotePort: number
  readonly localAddress: string
  readonly localPort: number
  readonly clientHostname: string | null
  readonly connectedAt: Date
  /** The name the client gave in HELO/EHLO/LHLO, or null before it did. */
  readonly heloName: string | null
  readonly heloVerb: 'HELO' | 'EHLO' | 'LHLO' | null
  /** TLS state, or null while the session is in plaintext. */
  readonly tls: TlsInfo | null
  readonly secureAt: Date | null
  /** The authenticated identity (AUTH), or null. */
  readonly user: string | null
  readonly authenticatedAt: Date | null
  /** Postfix XFORWARD attributes for the coming transaction (from a trusted proxy), or null. */
  readonly forwarded: Readonly<Record<string, string>> | null
  readonly counters: Readonly<SessionCounters>
}

/** An accepted recipient. */
export interface RecipientInfo {
  readonly address: Mailbox
  readonly params: RcptParams
}

/** One mail transaction as listeners see it. */
export interface TransactionInfo {
  /** `<session id>.<n>`, unique per transaction. */
  readonly id: string
  /** The reverse-path; null for the null sender `<>`. */
  readonly from: Mailbox | null
  readonly mailParams: MailParams
  /** Accepted recipients in the order they were given. */
  readonly to: readonly RecipientInfo[]
  /** How the data came, once it started. */
  readonly via: 'DATA' | 'BDAT' | null
  /** Octets of message data received so far (after dot-unstuffing; trace header excluded). */
  readonly size: number
  readonly startedAt: Date
  /** XFORWARD attributes a trusted proxy sent for this transaction (NAME, ADDR, HELO, …), or null. */
  readonly forwarded: Readonly<Record<string, string>> | null
  /**
   * Aborted when the transaction ends without its message being accepted (RSET, EHLO, STARTTLS,
   * a refusal, the connection lost, a timeout): async work for it can stop, even work that resumes
   * after the `transaction` event was emitted.
   */
  readonly signal: AbortSignal
}

/** The mutable record behind SessionInfo. */
export type SessionState = { -readonly [K in Exclude<keyof SessionInfo, 'counters'>]: SessionInfo[K] } & {
  counters: SessionCounters
}

/**
 * The mutable record behind TransactionInfo. Its AbortSignal is made only when someone asks for
 * it: most transactions end without anyone listening, and a controller per message shows up in
 * profiles of many small messages.
 */
export class TransactionState implements TransactionInfo {
  to: RecipientInfo[] = []
  via: 'DATA' | 'BDAT' | null = null
  size = 0
  readonly startedAt = new Date()
  private controller: AbortController | null = null
  private endedBecause: string | null = null

  constructor(
    readonly id: string,
    readonly from: Mailbox | null,
    readonly mailParams: MailParams,
    readonly forwarded: Readonly<Record<string, string>> | null,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.endedBecause !== null) this.controller.abort(abortReason(this.endedBecause))
    }
    return this.controller.signal
  }

  /** The transaction ended without its message being accepted. */
  abort(because: string): void {
    if (this.endedBecause !== null) return
    this.endedBecause = because
    this.controller?.abort(abortReason(because))
  }
}

function abortReason(because: string): Error {
  const error = new Error(`transaction ended: ${because}`)
  error.name = 'AbortError'
  return error
}

const ID_PREFIX = randomBytes(3).toString('hex')
let nextId = 0

/** A new session record from the transport's facts. */
export function newSession(facts: SessionFacts = {}): SessionState {
  nextId = (nextId + 1) % Number.MAX_SAFE_INTEGER
  return {
    id: `${ID_PREFIX}${nextId.toString(36)}`,
    remoteAddress: facts.remoteAddress ?? '',
    remotePort: facts.remotePort ?? 0,
    localAddress: facts.localAddress ?? '',
    localPort: facts.localPort ?? 0,
    clientHostname: facts.clientHostname ?? null,
    connectedAt: facts.connectedAt ?? new Date(),
    heloName: null,
    heloVerb: null,
    tls: facts.tls ?? null,
    secureAt: facts.tls ? (facts.connectedAt ?? new Date()) : null,
    user: null,
    authenticatedAt: null,
    forwarded: null,
    counters: { commands: 0, errors: 0, transactions: 0, messages: 0, authFailures: 0, bytesIn: 0, bytesOut: 0 },
  }
}
