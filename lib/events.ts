// The typed event map, the listener registry, and how listener results are settled into one
// verdict: synchronously when no listener returned a thenable, else once every listener settled.

import type { Mailbox } from './address.js'
import { SmtpError, SmtpReply } from './errors.js'
import type { MailParams, RcptParams } from './params.js'
import { REPLIES, type Reply } from './replies.js'
import type { SaslCredentials } from './sasl/types.js'
import type { SessionInfo, TransactionEndReason, TransactionInfo } from './session-info.js'

export type { TransactionEndReason } from './session-info.js'

/**
 * A decision listener's answer: `true` or nothing accepts; `false` rejects with the command's
 * default reply; an `SmtpReply` answers with exactly that reply (2xx/3xx accepts, 4xx/5xx rejects).
 * Throwing (or rejecting with) an `SmtpError` sends that reply; any other exception sends the
 * command's 4xx (`451 4.3.0` for most) and is emitted on `error`.
 */
export type Verdict = boolean | void | undefined | SmtpReply

/** A `message` listener's answer: one verdict, or in LMTP mode one per recipient of `transaction.to`. */
export type MessageVerdict = Verdict | readonly Verdict[]

/** What every event payload carries. */
export interface WithSession {
  /** The live session record. */
  readonly session: SessionInfo
}
/** What the payload of an event inside a mail transaction carries. */
export interface WithTransaction extends WithSession {
  /** The transaction in progress. */
  readonly transaction: TransactionInfo
}

/** A client connected; rejecting answers `554` instead of the greeting (`421` closes at once). */
export type ConnectEvent = WithSession
/** HELO, EHLO or LHLO with the client's name for itself. */
export interface EhloEvent extends WithSession {
  /** The command the client used. */
  readonly verb: 'HELO' | 'EHLO' | 'LHLO'
  /** The domain or address literal it gave, as sent. */
  readonly domain: string
}
/** MAIL FROM: the reverse-path (null for `<>`) and its parameters. */
export interface SenderEvent extends WithSession {
  /** The reverse-path; null for the null sender `<>` (bounces). */
  readonly address: Mailbox | null
  /** The MAIL FROM parameters. */
  readonly params: MailParams
}
/** RCPT TO: one forward-path and its parameters. */
export interface RecipientEvent extends WithTransaction {
  /** The forward-path. */
  readonly address: Mailbox
  /** The RCPT TO parameters. */
  readonly params: RcptParams
}
/** DATA (before 354) or the first BDAT of a transaction (before its chunk is read). */
export type DataEvent = WithTransaction
/** The message header block is complete (a blank line was read), or `maxHeaderSize` was reached. */
export interface HeadersEvent extends WithTransaction {
  /** The raw header octets, up to and including the blank line when there was one. */
  readonly headers: Buffer
  /** True when the header block was longer than `maxHeaderSize` and `headers` holds only its start. */
  readonly truncated: boolean
}
/** A batch of message octets, at least `chunkSize` long unless it is the last one. */
export interface DataChunkEvent extends WithTransaction {
  /** The octets, dot-unstuffed (DATA) or as sent (BDAT); the listener may keep the Buffer. */
  readonly chunk: Buffer
}
/** The data ended; accept to send 250. */
export interface MessageEvent extends WithTransaction {
  /** The whole message when it was collected (see the `collectBody` option), else null. */
  readonly body: Buffer | null
  /**
   * The whole message, for listeners that know it is collected (the default when no `dataChunk`
   * listener exists, or `collectBody: true`): `body` without the null check. Throws
   * `SMTPWIRE_ERR_NO_BODY` when it was not collected, which answers the message `451` and reports
   * the mistake on `error`. Needs no `this`: `({ requireBody }) => save(requireBody())` works.
   */
  readonly requireBody: () => Buffer
}
/** AUTH PLAIN or LOGIN credentials. */
export interface PlainAuthEvent extends WithSession {
  /** The mechanism the client chose. */
  readonly mechanism: 'PLAIN' | 'LOGIN'
  /** The user name (for PLAIN, the authentication identity). */
  readonly username: string
  /** The password, in the clear. */
  readonly password: string
  /** The authorization identity (PLAIN only); empty when the client gave none. */
  readonly authorizationId: string
}
/**
 * AUTH with any mechanism finished its exchange: accept to authenticate the session. The
 * credentials depend on the mechanism: a password (PLAIN, LOGIN), `verify(secret)` (CRAM-MD5:
 * return `verify(secretOf(username))`), or a bearer token (XOAUTH2).
 */
export interface AuthEvent extends WithSession {
  /** The mechanism the client chose. */
  readonly mechanism: SaslCredentials['mechanism']
  /** The user name the client gave, whatever the mechanism. */
  readonly username: string
  /** What the mechanism produced; switch on `credentials.mechanism`. */
  readonly credentials: SaslCredentials
}
/** An AUTH attempt failed (refused credentials): the hook for locking out an address across sessions. */
export interface AuthFailureEvent extends WithSession {
  /** The mechanism of the refused attempt. */
  readonly mechanism: SaslCredentials['mechanism']
  /** The user name of the refused attempt. */
  readonly username: string
  /** Failed attempts in this session so far. */
  readonly failures: number
}
/** TLS is up after STARTTLS (`session.tls` says which protocol and cipher). */
export type SecureEvent = WithSession
/** The TLS handshake after STARTTLS failed; the connection is closed without a reply. */
export interface TlsErrorEvent extends WithSession {
  /** Why the handshake failed, as the TLS layer reported it. */
  readonly error: Error
}
/** VRFY, EXPN or HELP with its argument; answer with an `SmtpReply` to say more than the default. */
export interface QueryEvent extends WithSession {
  /** Everything after the command and its space, as sent; '' when none. */
  readonly argument: string
}
/** RSET was received. */
export type ResetEvent = WithSession
/** Transaction state was cleared (EHLO, RSET, after a message, ...). */
export interface TransactionEvent extends WithSession {
  /** What cleared it. */
  readonly reason: TransactionEndReason
  /** The transaction that ended, or null when none was open. */
  readonly transaction: TransactionInfo | null
}
/** Why a session ended. */
export type CloseReason = 'quit' | 'peer' | 'error' | 'protocol' | 'timeout' | 'shutdown'
/** The session is over. */
export interface CloseEvent extends WithSession {
  /** What ended it. */
  readonly reason: CloseReason
  /** True when a transaction was open (MAIL accepted, message not yet answered) and was cut off. */
  readonly aborted: boolean
}
/** A listener threw something that is not an `SmtpError`, or the transport failed. */
export interface ErrorEvent extends WithSession {
  /** What was thrown (a non-Error value is wrapped in one). */
  readonly error: Error
  /** The event whose listener threw, or null for transport errors. */
  readonly event: string | null
}

/** Events whose listeners decide the reply. */
export interface DecisionEvents {
  /** A client connected: refuse to answer `554` (or a thrown `421` to close at once). */
  connect: ConnectEvent
  /** HELO, EHLO or LHLO: refuse to answer `550 5.7.1 Hello rejected`. */
  ehlo: EhloEvent
  /** MAIL FROM: refuse to answer `550 5.7.1 Sender rejected`. */
  sender: SenderEvent
  /** RCPT TO: refuse to answer `550 5.1.1 Recipient rejected`. */
  recipient: RecipientEvent
  /** DATA or the first BDAT: refuse to answer `554 5.7.1 Transaction rejected`. */
  data: DataEvent
  /** The header block was read: refuse to answer the message with `550 5.7.1 Message rejected` once its data ends. */
  headers: HeadersEvent
  /** A batch of the message; reading waits while a returned Promise is pending, and a refusal rejects the message like `headers`. */
  dataChunk: DataChunkEvent
  /** The whole message was read: accept for `250`, refuse for `550 5.7.1 Message rejected`. */
  message: MessageEvent
  /** AUTH PLAIN or LOGIN: accept to authenticate, refuse for `535 5.7.8`. */
  plainAuth: PlainAuthEvent
  /** AUTH with any mechanism: accept to authenticate, refuse for `535 5.7.8`. */
  auth: AuthEvent
  /** VRFY: by default `252`; refuse for `550 5.1.1 User unknown`. */
  vrfy: QueryEvent
  /** EXPN: by default `502`; refuse for `550 5.1.1 List unknown`. */
  expn: QueryEvent
  /** HELP: by default a `214` pointing at RFC 5321. */
  help: QueryEvent
}

/** Events that only report; listener results are ignored. */
export interface NoticeEvents {
  /** RSET was received. */
  reset: ResetEvent
  /** Transaction state was cleared, with the reason. */
  transaction: TransactionEvent
  /** The session ended. */
  close: CloseEvent
  /** A listener threw something that is not an `SmtpError`, or the transport failed. */
  error: ErrorEvent
  /** An AUTH attempt was refused. */
  authFailure: AuthFailureEvent
  /** TLS came up after STARTTLS. */
  secure: SecureEvent
  /** The STARTTLS handshake failed. */
  tlsError: TlsErrorEvent
}

/** Every event of `SmtpProtocol` and its payload. */
export interface SmtpEvents extends DecisionEvents, NoticeEvents {}

/** What a listener of event K may return. */
export type ListenerResult<K extends keyof SmtpEvents> = K extends 'message'
  ? MessageVerdict | PromiseLike<MessageVerdict>
  : K extends keyof DecisionEvents
    ? Verdict | PromiseLike<Verdict>
    : void | PromiseLike<void>

/** A listener for event K. */
export type Listener<K extends keyof SmtpEvents> = (event: SmtpEvents[K]) => ListenerResult<K>

/** One listener's result: its value, or what it threw. */
export type Settled = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown }

/** The combined answer of all listeners of one decision. */
export type Outcome =
  /** Accepted; `reply` is a listener's own positive reply, if one gave one. */
  | { readonly kind: 'accept'; readonly reply: Reply | null }
  /** Rejected; `reply` is the listener's reply, or null for the command's default rejection. */
  | { readonly kind: 'reject'; readonly reply: Reply | null }
  /** A listener threw something other than an SmtpError: the command's temporary failure. */
  | { readonly kind: 'fail' }

/** The reply for an outcome: the listener's own reply, or the command's default for accept, reject and failure. */
export function replyFor(outcome: Outcome, accepted: Reply, rejected: Reply, failed: Reply = REPLIES.localError): Reply {
  if (outcome.kind === 'fail') return failed
  return outcome.reply ?? (outcome.kind === 'accept' ? accepted : rejected)
}

/** What a decision without listeners settles to: one shared empty answer, as nobody can change it. */
export const NO_ANSWERS: readonly Settled[] = Object.freeze([])

// The usual answers of a listener that returned at once (nothing, true), shared: nobody changes a Settled.
const RETURNED_NOTHING: Settled = Object.freeze({ ok: true, value: undefined })
const RETURNED_TRUE: Settled = Object.freeze({ ok: true, value: true })

function settledValue(value: unknown): Settled {
  if (value === undefined) return RETURNED_NOTHING
  if (value === true) return RETURNED_TRUE
  return { ok: true, value }
}

// The one listener of most events returned at once: the whole answer shared too.
const ONLY_NOTHING: readonly Settled[] = Object.freeze([RETURNED_NOTHING])
const ONLY_TRUE: readonly Settled[] = Object.freeze([RETURNED_TRUE])

/** Waits for the thenables among listener results. */
function settleAll(results: ReadonlyArray<Settled | PromiseLike<unknown>>): Promise<Settled[]> {
  return Promise.all(
    results.map((r) =>
      isThenable(r)
        ? Promise.resolve(r).then(
            (value): Settled => ({ ok: true, value }),
            (error: unknown): Settled => ({ ok: false, error }),
          )
        : r,
    ),
  )
}

/** Listeners.dispatch() for a single listener. */
function dispatchOne<P>(listener: (payload: P) => unknown, payload: P): Settled[] | Promise<Settled[]> {
  let value: unknown
  try {
    value = listener(payload)
  } catch (error) {
    return [{ ok: false, error }]
  }
  // Settled as the general path settles it, tick for tick.
  if (isThenable(value)) return settleAll([value])
  // Read only by combine() and the error report, which never change it.
  if (value === undefined) return ONLY_NOTHING as Settled[]
  if (value === true) return ONLY_TRUE as Settled[]
  return [{ ok: true, value }]
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

type AnyListener = (event: never) => unknown

/**
 * The listener registry of one SmtpProtocol. Arrays are replaced, not changed, on `on`/`off`, so a
 * dispatch in progress keeps the listeners it started with.
 */
export class Listeners {
  private readonly byEvent = new Map<keyof SmtpEvents, readonly AnyListener[]>()

  add<K extends keyof SmtpEvents>(event: K, listener: Listener<K>): void {
    this.byEvent.set(event, [...(this.byEvent.get(event) ?? []), listener as AnyListener])
  }

  remove<K extends keyof SmtpEvents>(event: K, listener: Listener<K>): void {
    const current = this.byEvent.get(event) ?? []
    // A once() wrapper carries the function it wraps (as in Node's EventEmitter), so off() with
    // that function removes it too.
    let index = current.length - 1
    while (index >= 0 && current[index] !== listener && (current[index] as { listener?: unknown }).listener !== listener) index--
    if (index >= 0) this.byEvent.set(event, [...current.slice(0, index), ...current.slice(index + 1)])
  }

  count(event: keyof SmtpEvents): number {
    return this.byEvent.get(event)?.length ?? 0
  }

  /**
   * Calls every listener of `event` with `payload`, in the order they were added. Returns their
   * results at once when none returned a thenable, else a Promise that resolves when all settled.
   */
  dispatch<K extends keyof SmtpEvents>(event: K, payload: SmtpEvents[K]): Settled[] | Promise<Settled[]> {
    const listeners = this.byEvent.get(event)
    if (!listeners || listeners.length === 0) return []
    const count = listeners.length
    if (count === 1) return dispatchOne(listeners[0] as (e: SmtpEvents[K]) => unknown, payload)
    // Sized once: a list grown by push() from empty gets room for 16 (two of them per message
    // showed in allocation profiles).
    const results = new Array<Settled | PromiseLike<unknown>>(count)
    let async = false
    for (let i = 0; i < count; i++) {
      const listener = listeners[i] as (e: SmtpEvents[K]) => unknown
      try {
        const value = listener(payload)
        if (isThenable(value)) {
          async = true
          results[i] = value
        } else {
          results[i] = settledValue(value)
        }
      } catch (error) {
        results[i] = { ok: false, error }
      }
    }
    if (!async) return results as Settled[]
    return settleAll(results)
  }
}

// The outcome when every listener accepted plainly: shared, so the common case allocates nothing.
const ACCEPTED: Outcome = Object.freeze({ kind: 'accept', reply: null })

/**
 * Combines listener results in listener order: the first that does not accept decides; if all
 * accept, the first positive `SmtpReply` is used. `pick` maps a value first (LMTP per-recipient).
 */
export function combine(settled: readonly Settled[], pick?: (value: unknown) => unknown): Outcome {
  // No listener, or every listener accepted plainly: one shared answer, nothing allocated.
  if (settled.length === 0) return ACCEPTED
  let positive: Reply | null = null
  for (let i = 0; i < settled.length; i++) {
    const result = settled[i] as Settled
    if (!result.ok) {
      if (result.error instanceof SmtpError) return { kind: 'reject', reply: result.error }
      return { kind: 'fail' }
    }
    // No default function for `pick`: a default is a new closure on every call.
    const value = pick ? pick(result.value) : result.value
    if (value instanceof SmtpError) return { kind: 'reject', reply: value }
    if (value === false) return { kind: 'reject', reply: null }
    if (value instanceof SmtpReply) {
      if (value.code >= 400) return { kind: 'reject', reply: value }
      positive ??= value
    }
  }
  return positive ? { kind: 'accept', reply: positive } : ACCEPTED
}

const NO_ERRORS: readonly Error[] = Object.freeze([])

/** The errors in `settled` that are not SmtpErrors, to be reported on the `error` event. */
export function unexpectedErrors(settled: readonly Settled[]): readonly Error[] {
  // A loop, not every(): its callback would be a new closure per decision.
  let failed = false
  for (let i = 0; i < settled.length && !failed; i++) failed = !(settled[i] as Settled).ok
  if (!failed) return NO_ERRORS
  const errors: Error[] = []
  for (const result of settled) {
    if (!result.ok && !(result.error instanceof SmtpError)) {
      errors.push(result.error instanceof Error ? result.error : new Error(String(result.error)))
    }
  }
  return errors
}
