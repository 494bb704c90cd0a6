// The facts of one session and one mail transaction as listeners see them: read-only views, and
// the mutable shape session.ts keeps behind them. Types only.

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
  /** The client's IP address. */
  remoteAddress?: string
  /** The client's port. */
  remotePort?: number
  /** The address the client connected to. */
  localAddress?: string
  /** The port the client connected to. */
  localPort?: number
  /** Reverse-DNS name of the client, when the glue looked it up. */
  clientHostname?: string | null
  /** TLS state when the connection is already secure (implicit TLS). */
  tls?: TlsInfo | null
  /** When the connection was accepted; default: when the protocol opened. */
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
  /** Octets read from the client. */
  bytesIn: number
  /** Octets written to the client. */
  bytesOut: number
}

/** One session as listeners see it. The object lives as long as the connection and is updated in place. */
export interface SessionInfo {
  /** Unique id for logs, e.g. `k3x9a1f2`. */
  readonly id: string
  /** The client's IP address (as a trusted proxy reported it, with PROXY or XCLIENT); '' when unknown. */
  readonly remoteAddress: string
  /** The client's port; 0 when unknown. */
  readonly remotePort: number
  /** The address the client connected to; '' when unknown. */
  readonly localAddress: string
  /** The port the client connected to; 0 when unknown. */
  readonly localPort: number
  /** The client's name from reverse DNS (SmtpServer's `reverseDns`) or XCLIENT, or null. */
  readonly clientHostname: string | null
  /** When the connection was accepted. */
  readonly connectedAt: Date
  /** The name the client gave in HELO/EHLO/LHLO, or null before it did. */
  readonly heloName: string | null
  /** Which greeting command the client used, or null before it sent one. */
  readonly heloVerb: 'HELO' | 'EHLO' | 'LHLO' | null
  /** TLS state, or null while the session is in plaintext. */
  readonly tls: TlsInfo | null
  /** When TLS came up, or null while in plaintext. */
  readonly secureAt: Date | null
  /** The authenticated identity (AUTH), or null. */
  readonly user: string | null
  /** When AUTH succeeded, or null. */
  readonly authenticatedAt: Date | null
  /** Postfix XFORWARD attributes for the coming transaction (from a trusted proxy), or null. */
  readonly forwarded: Readonly<Record<string, string>> | null
  /** Running totals: commands, errors, transactions, messages, octets. */
  readonly counters: Readonly<SessionCounters>
}

/** An accepted recipient. */
export interface RecipientInfo {
  /** The forward-path as given in RCPT TO. */
  readonly address: Mailbox
  /** The RCPT TO parameters (DSN's NOTIFY and ORCPT). */
  readonly params: RcptParams
}

/** One mail transaction as listeners see it. */
export interface TransactionInfo {
  /** `<session id>.<n>`, unique per transaction. */
  readonly id: string
  /** The reverse-path; null for the null sender `<>`. */
  readonly from: Mailbox | null
  /** The MAIL FROM parameters (SIZE, BODY, SMTPUTF8, DSN's RET and ENVID, AUTH=). */
  readonly mailParams: MailParams
  /** Accepted recipients in the order they were given. */
  readonly to: readonly RecipientInfo[]
  /** How the data came, once it started. */
  readonly via: 'DATA' | 'BDAT' | null
  /**
   * Octets of message data received so far (after dot-unstuffing; trace header excluded). Never
   * more than `maxMessageSize`: once the data passes it, the size stays at the limit (the message
   * will get `552`) and the rest is read and dropped.
   */
  readonly size: number
  /** When MAIL FROM was accepted. */
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

/** Why transaction state was cleared. */
export type TransactionEndReason = 'delivered' | 'rejected' | 'reset' | 'helo' | 'tls' | 'auth' | 'closed'
