// AUTH (RFC 4954): runs a SASL exchange through `334` challenges in an input mode of its own,
// then asks `plainAuth` and `auth` listeners about the credentials. Counts failures.

import { AUTH_LINE_LIMIT, offeredMechanisms } from '../capabilities.js'
import { publishAuth } from '../diagnostics.js'
import { SmtpReply, SmtpwireError } from '../errors.js'
import { combine, type Outcome, type Settled } from '../events.js'
import type { Host, InputReader } from '../host.js'
import { LineReader } from '../line-reader.js'
import type { Command } from '../parser.js'
import { challengeReply, REPLIES, type Reply } from '../replies.js'
import { MECHANISMS, type SaslCredentials, type SaslExchange, type SaslStep } from '../sasl/index.js'
import { greetedExtended } from '../session.js'
import { hasAuthListener } from './guards.js'

type Auth = Extract<Command, { verb: 'AUTH' }>

// What XOAUTH2 servers send before the final 535 (Google's protocol): a 334 with a JSON error,
// which the client answers with an empty line.
const XOAUTH2_ERROR = Buffer.from(JSON.stringify({ status: '401', schemes: 'bearer' })).toString('base64')

/** Reads the client's SASL response lines while an exchange waits for them. */
class SaslReader implements InputReader {
  readonly needsInput = true
  private readonly lines: LineReader

  get buffered(): number {
    return this.lines.buffered
  }

  constructor(
    private readonly host: Host,
    private readonly onLine: (line: string) => void,
  ) {
    this.lines = new LineReader(host.options.lineEndings)
  }

  read(input: Buffer, pos: number): number {
    const end = this.lines.read(input, pos, AUTH_LINE_LIMIT)
    const { line, fault } = this.lines
    if (line === null && fault === null) return end
    this.host.setReader(null)
    this.host.trace('C', '***')
    if (fault) this.host.sendError(fault === 'tooLong' ? REPLIES.lineTooLong : REPLIES.bareLineFeed)
    else this.onLine((line as Buffer).toString('latin1'))
    return end
  }
}

/**
 * The refusal any AUTH gets in this state, before its arguments are read: RFC 4954 §4 refuses a
 * second AUTH and one during a mail transaction whatever follows the verb, a bare `AUTH` included.
 */
export function authOutOfSequence(host: Host): Reply | null {
  const session = host.session.info
  if (host.options.authPolicy === 'forbidden') return REPLIES.authForbidden
  if (!greetedExtended(session)) return REPLIES.needEhlo
  if (session.user !== null) return REPLIES.alreadyAuthenticated
  if (host.session.transaction) return REPLIES.authInTransaction
  return null
}

/** AUTH mechanism [initial-response]. */
export function auth(host: Host, command: Auth): void {
  const { options } = host
  const session = host.session.info
  const outOfSequence = authOutOfSequence(host)
  if (outOfSequence) return host.sendError(outOfSequence)
  const checkable = hasAuthListener(host)
  const underTls = offeredMechanisms(options, true, checkable)
  // Nothing to authenticate against (no auth listener, no mechanisms): AUTH is not an extension here.
  if (underTls.length === 0) return host.sendError(REPLIES.authForbidden)
  const mechanism = MECHANISMS.get(command.mechanism)
  if (!mechanism || !offeredMechanisms(options, session.tls !== null, checkable).includes(mechanism.name)) {
    // RFC 4954 §6: a mechanism offered only under TLS gets 538 before it.
    const secureOnly = mechanism && !session.tls && underTls.includes(mechanism.name)
    return host.sendError(secureOnly ? REPLIES.encryptionRequiredForAuth : REPLIES.unsupportedAuthMechanism)
  }
  const exchange = mechanism.exchange(options.domain)
  step(host, exchange, exchange.start(command.initialResponse))
}

/** Acts on one step of an exchange: a challenge, credentials to check, or a failure. */
function step(host: Host, exchange: SaslExchange, next: SaslStep): void {
  if (next.kind === 'fail') return host.sendError(REPLIES[next.reply])
  if (next.kind === 'challenge') {
    host.send(challengeReply(next.challenge))
    host.setReader(new SaslReader(host, (line) => step(host, exchange, exchange.respond(line))))
    return
  }
  check(host, next.credentials)
}

/** Asks the listeners about credentials: `plainAuth` (PLAIN, LOGIN), then `auth`. */
function check(host: Host, credentials: SaslCredentials): void {
  const session = host.session.info
  const username = credentials.username
  const finish = (outcome: Outcome): void => {
    if (outcome.kind === 'accept') {
      host.session.authenticated(username)
      host.log.info(`authenticated as ${username} (${credentials.mechanism})`)
      const reply = outcome.reply ?? REPLIES.authSucceeded
      publishAuth(session, credentials.mechanism, username, 'accepted', reply.code)
      host.send(reply)
    } else if (outcome.kind === 'fail') {
      publishAuth(session, credentials.mechanism, username, 'failed', REPLIES.temporaryAuthFailure.code)
      host.send(REPLIES.temporaryAuthFailure)
    } else {
      refuse(host, credentials, outcome.reply ?? REPLIES.authFailed)
    }
  }
  // A plainAuth listener's own 2xx reply is sent when no auth listener follows it.
  const askAuth = (reply: Reply | null): void => {
    if (!host.hasListeners('auth')) return finish({ kind: 'accept', reply })
    host.decide('auth', { session, mechanism: credentials.mechanism, username, credentials }, (settled) => finish(authOutcome(host, 'auth', settled)))
  }
  const plain = credentials.mechanism === 'PLAIN' || credentials.mechanism === 'LOGIN'
  // Credentials nobody checks are refused: accepting them would let anyone in.
  if (!host.hasListeners('auth') && !(plain && host.hasListeners('plainAuth'))) return finish({ kind: 'reject', reply: null })
  if (!plain || !host.hasListeners('plainAuth')) return askAuth(null)
  const payload = {
    session,
    mechanism: credentials.mechanism,
    username,
    password: credentials.password,
    authorizationId: credentials.authorizationId,
  }
  host.decide('plainAuth', payload, (settled: readonly Settled[]) => {
    const outcome = authOutcome(host, 'plainAuth', settled)
    if (outcome.kind === 'accept') askAuth(outcome.reply)
    else finish(outcome)
  })
}

/**
 * AUTH fails closed: only an explicit `true` or a 2xx SmtpReply from every listener authenticates.
 * Anything else a listener returns is a refusal (535), and when it is not even a boolean (`undefined`
 * from a forgotten `return`, `null` from a lookup that found nobody, a returned Error) the mistake
 * is reported on `error`, so it is found before it locks everyone out, or lets anyone in.
 */
function authOutcome(host: Host, event: 'plainAuth' | 'auth', settled: readonly Settled[]): Outcome {
  const outcome = combine(settled)
  if (outcome.kind !== 'accept') return outcome
  for (const result of settled) {
    const value = result.ok ? result.value : undefined
    if (value === true || (value instanceof SmtpReply && value.code < 300)) continue
    const what = `${event} listener returned ${describe(value)}: only true (or a 2xx SmtpReply) authenticates`
    const error = new SmtpwireError('SMTPWIRE_ERR_LISTENER_RESULT', what)
    host.log.error(what)
    host.notice('error', { session: host.session.info, error, event })
    return { kind: 'reject', reply: null }
  }
  return outcome
}

/** What a listener returned, named without its content (it may hold a secret). */
function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value)
  if (value instanceof SmtpReply) return `a ${value.code} reply`
  if (value instanceof Error) return 'an Error'
  return `a ${typeof value}`
}

/** A refusal: count it, tell `authFailure` listeners, and close after too many. */
function refuse(host: Host, credentials: SaslCredentials, reply: Reply): void {
  const { options } = host
  const session = host.session.info
  const failures = host.session.authFailed()
  host.log.warn(`AUTH ${credentials.mechanism} failed for ${credentials.username} (${failures} so far)`)
  host.notice('authFailure', { session, mechanism: credentials.mechanism, username: credentials.username, failures })
  const final = options.maxAuthFailures > 0 && failures >= options.maxAuthFailures ? REPLIES.tooManyAuthFailures : reply
  publishAuth(session, credentials.mechanism, credentials.username, 'refused', final.code)
  if (credentials.mechanism !== 'XOAUTH2') return host.send(final)
  host.send(challengeReply(XOAUTH2_ERROR))
  host.setReader(new SaslReader(host, () => host.send(final)))
}
