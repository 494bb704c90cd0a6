// The one owner of session and transaction state: every write to a session or transaction record
// is a named transition in this file (greeted, secured, authenticated, proxied, transaction
// begun/ended). The engine calls them; commands reach them through the Host. The record types
// themselves are in session-info.ts, which everything else imports them from.

import { randomBytes } from 'node:crypto'
import type { Mailbox } from './address.js'
import type { MessageBody } from './message-body.js'
import type { MailParams } from './params.js'
import type {
  RecipientInfo,
  SessionFacts,
  SessionInfo,
  SessionState,
  TlsInfo,
  TransactionEndReason,
  TransactionInfo,
} from './session-info.js'

/**
 * The record behind TransactionInfo, changed only through its transitions. Its AbortSignal is made
 * only when someone asks for it: most transactions end without anyone listening, and a controller
 * per message shows up in profiles of many small messages.
 */
export class TransactionState implements TransactionInfo {
  // Own enumerable fields, as listeners have always seen them; only the transitions below write them.
  // new Array() starts with room for four (V8), where [] grows to sixteen at the first push.
  readonly to: readonly RecipientInfo[] = new Array<RecipientInfo>()
  readonly via: 'DATA' | 'BDAT' | null = null
  readonly size: number = 0
  readonly startedAt = new Date()
  private controller: AbortController | null = null
  private endedBecause: string | null = null
  // An ES private field: listeners see this object, and the body is not theirs to read.
  #body: MessageBody | null = null

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

  /** The body being read (DATA accepted or a BDAT chunk arrived), or null before. */
  get body(): MessageBody | null {
    return this.#body
  }

  /** RCPT TO was accepted. */
  recipientAdded(recipient: RecipientInfo): void {
    const to = this.to as RecipientInfo[]
    to.push(recipient)
  }

  /** DATA or the first BDAT: the transaction's data comes this way from now on. */
  dataStarted(via: 'DATA' | 'BDAT'): void {
    const record: Writable<TransactionState> = this
    record.via = via
  }

  /** The data was accepted for reading: its body lives here until the transaction ends. */
  bodyStarted(body: MessageBody): void {
    this.#body = body
  }

  /** Decoded message octets arrived. */
  received(octets: number): void {
    const record: Writable<TransactionState> = this
    record.size += octets
  }

  /** The data passed `maxMessageSize`: the size stays at the limit, and the rest is read and dropped. */
  overLimit(limit: number): void {
    const record: Writable<TransactionState> = this
    record.size = limit
  }

  /** The transaction ended without its message being accepted. */
  abort(because: string): void {
    if (this.endedBecause !== null) return
    this.endedBecause = because
    this.controller?.abort(abortReason(because))
  }
}

type Writable<T> = { -readonly [K in keyof T]: T[K] }

function abortReason(because: string): Error {
  const error = new Error(`transaction ended: ${because}`)
  error.name = 'AbortError'
  return error
}

// Session ids are unique per process: a random prefix, then a sequence. The one counter kept at
// module level; transaction ids count per session.
const ID_PREFIX = randomBytes(3).toString('hex')
let nextId = 0

/** A new session record from the transport's facts. */
export function newSession(facts: SessionFacts = {}, id = nextSessionId()): SessionState {
  return {
    id,
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

function nextSessionId(): string {
  nextId = (nextId + 1) % Number.MAX_SAFE_INTEGER
  return `${ID_PREFIX}${nextId.toString(36)}`
}

/** Client facts a trusted proxy passes on with XCLIENT; an undefined field is left as it is. */
export interface ProxiedFacts {
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
  readonly localAddress?: string | undefined
  readonly localPort?: number | undefined
  /** A string or null replaces the client's name. */
  readonly clientHostname?: string | null | undefined
  /** A string or null replaces the authenticated identity. */
  readonly user?: string | null | undefined
  /** The client's HELO name until the proxy greets again; undefined keeps the current one. */
  readonly heloName?: string | undefined
}

/**
 * The owner of one session's state: the record listeners see (`info`, updated in place), the open
 * transaction, and the counters. Nothing else writes them; each change below is named for what
 * happened on the wire. `onTransactionEnd` is told every end, so the `transaction` event cannot be
 * forgotten on a new path.
 */
export class Session {
  readonly info: SessionState
  private current: TransactionState | null = null
  private transactionSerial = 0
  /** `<session id>.`, made at the first transaction: each id is then one concatenation, not two. */
  private idPrefix: string | null = null
  private refusedAtConnect = false

  constructor(private readonly onTransactionEnd: (reason: TransactionEndReason, transaction: TransactionState | null) => void) {
    this.info = newSession()
  }

  /** The open mail transaction, or null. */
  get transaction(): TransactionState | null {
    return this.current
  }

  /** True after the connect decision refused the client: only QUIT is served (RFC 5321 §3.1). */
  get refused(): boolean {
    return this.refusedAtConnect
  }

  /** The connect decision is being asked (again, after XCLIENT): the client is not refused meanwhile. */
  connecting(): void {
    this.refusedAtConnect = false
  }

  /** The connect decision refused the client. */
  connectRefused(): void {
    this.refusedAtConnect = true
  }

  /** The transport handed over the connection: its facts replace the defaults (the id stays). */
  opened(facts: SessionFacts): void {
    // Written in place, as newSession(facts, id) would fill them: no second record per connection.
    const info = this.info
    info.remoteAddress = facts.remoteAddress ?? ''
    info.remotePort = facts.remotePort ?? 0
    info.localAddress = facts.localAddress ?? ''
    info.localPort = facts.localPort ?? 0
    info.clientHostname = facts.clientHostname ?? null
    info.connectedAt = facts.connectedAt ?? new Date()
    info.heloName = null
    info.heloVerb = null
    info.tls = facts.tls ?? null
    info.secureAt = facts.tls ? (facts.connectedAt ?? new Date()) : null
    info.user = null
    info.authenticatedAt = null
    info.forwarded = null
    const counters = info.counters
    counters.commands = counters.errors = counters.transactions = counters.messages = counters.authFailures = counters.bytesIn = counters.bytesOut = 0
  }

  /** HELO, EHLO or LHLO was accepted. */
  greeted(verb: 'HELO' | 'EHLO' | 'LHLO', name: string): void {
    this.info.heloName = name
    this.info.heloVerb = verb
  }

  /**
   * TLS is up after STARTTLS. RFC 3207 §4.2: everything learnt from the client before TLS is
   * forgotten (greeting name, AUTH, the transaction), except that it greeted.
   */
  secured(tls: TlsInfo): void {
    const info = this.info
    info.heloName = null
    info.heloVerb = null
    info.user = null
    info.authenticatedAt = null
    info.tls = tls
    info.secureAt = new Date()
    if (this.current) this.endTransaction('tls')
  }

  /** AUTH succeeded. */
  authenticated(user: string): void {
    this.info.user = user
    this.info.authenticatedAt = new Date()
  }

  /** AUTH credentials were refused; returns the failures so far. */
  authFailed(): number {
    return ++this.info.counters.authFailures
  }

  /** XCLIENT: a trusted proxy names the real client; it must greet again, as the client would. */
  proxied(facts: ProxiedFacts): void {
    const info = this.info
    if (facts.remoteAddress !== undefined) info.remoteAddress = facts.remoteAddress
    if (facts.remotePort !== undefined) info.remotePort = facts.remotePort
    if (facts.localAddress !== undefined) info.localAddress = facts.localAddress
    if (facts.localPort !== undefined) info.localPort = facts.localPort
    if (facts.clientHostname !== undefined) info.clientHostname = facts.clientHostname
    if (facts.user !== undefined) {
      info.user = facts.user
      info.authenticatedAt = facts.user === null ? null : new Date()
    }
    info.heloVerb = null
    info.heloName = facts.heloName ?? info.heloName
  }

  /** XFORWARD: the original client's facts for the next transaction (Postfix: they last one transaction). */
  forwardedFor(attributes: Readonly<Record<string, string>>): void {
    this.info.forwarded = attributes
  }

  /** MAIL FROM was accepted: a transaction begins, with any XFORWARD facts given for it. */
  beginTransaction(from: Mailbox | null, params: MailParams): TransactionState {
    const info = this.info
    this.transactionSerial = (this.transactionSerial + 1) % Number.MAX_SAFE_INTEGER
    const prefix = (this.idPrefix ??= `${info.id}.`)
    this.current = new TransactionState(prefix + this.transactionSerial.toString(36), from, params, info.forwarded)
    info.counters.transactions++
    return this.current
  }

  /**
   * The transaction (if any) is over: cleared, aborted unless delivered, and reported. XFORWARD
   * facts describe one transaction, so they go with it.
   */
  endTransaction(reason: TransactionEndReason): void {
    const transaction = this.current
    this.current = null
    this.info.forwarded = null
    if (transaction && reason !== 'delivered') transaction.abort(reason)
    this.onTransactionEnd(reason, transaction)
  }

  /** A message was accepted with 250. */
  delivered(): void {
    this.info.counters.messages++
  }

  /** A command line was read. */
  commandRead(): void {
    this.info.counters.commands++
  }

  /** A command was refused; returns the errors so far. */
  errorCounted(): number {
    return ++this.info.counters.errors
  }

  /** Octets read from the client. */
  bytesRead(octets: number): void {
    this.info.counters.bytesIn += octets
  }

  /** Octets written to the client. */
  bytesWritten(octets: number): void {
    this.info.counters.bytesOut += octets
  }
}

/** True once the client greeted with EHLO or LHLO: extensions and enhanced status codes apply. */
export function greetedExtended(session: SessionInfo): boolean {
  return session.heloVerb === 'EHLO' || session.heloVerb === 'LHLO'
}
