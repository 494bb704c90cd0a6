// What this server offers a client: the EHLO keyword lines, the SASL mechanisms, XCLIENT/XFORWARD
// for trusted proxies, the parameter extensions and the command-line length they allow. Pure
// functions of resolved options and session facts; the only place that knows what EHLO offers.

import { inRanges } from './ip-range.js'
import type { ResolvedOptions, SaslMechanismName } from './options.js'
import type { ParamExtensions } from './params.js'
import { MECHANISMS } from './sasl/index.js'
import type { SessionInfo } from './session-info.js'

/** The attributes each Postfix proxy command takes, as advertised in EHLO. */
export const XCLIENT_ATTRIBUTES = ['NAME', 'ADDR', 'PORT', 'PROTO', 'HELO', 'LOGIN', 'DESTADDR', 'DESTPORT'] as const
export const XFORWARD_ATTRIBUTES = ['NAME', 'ADDR', 'PORT', 'PROTO', 'HELO', 'IDENT', 'SOURCE'] as const

/** True when the client is one of `trustedProxies`, so it may use XCLIENT and XFORWARD. */
export function isTrustedProxy(options: ResolvedOptions, session: SessionInfo): boolean {
  return options.trustedProxies.length > 0 && inRanges(session.remoteAddress, options.trustedProxies)
}

/** STARTTLS is on offer: TLS is allowed, the connection can upgrade, and it is not secure yet. */
export function canStartTls(options: ResolvedOptions, session: SessionInfo, canUpgrade: boolean): boolean {
  return options.tlsPolicy !== 'forbidden' && session.tls === null && canUpgrade
}

/**
 * What EHLO advertises now: STARTTLS while the connection can upgrade and is not yet secure, the
 * mechanisms on offer, and the proxy commands for a trusted proxy.
 */
export function capabilitiesOf(options: ResolvedOptions, session: SessionInfo, canUpgrade: boolean, hasAuthListener: boolean): CapabilityFacts {
  const secure = session.tls !== null
  const trusted = isTrustedProxy(options, session)
  return {
    canStartTls: canStartTls(options, session, canUpgrade),
    authMechanisms: offeredMechanisms(options, secure, hasAuthListener),
    xclient: trusted ? XCLIENT_ATTRIBUTES : null,
    xforward: trusted ? XFORWARD_ATTRIBUTES : null,
  }
}

/** Session facts that change what EHLO advertises. */
export interface CapabilityFacts {
  /** The transport can upgrade to TLS and the session is not yet secure. */
  readonly canStartTls: boolean
  /** SASL mechanisms on offer now (empty: AUTH is not advertised). */
  readonly authMechanisms: readonly string[]
  /** XCLIENT attribute names, when this client may use XCLIENT. */
  readonly xclient: readonly string[] | null
  /** XFORWARD attribute names, when this client may use XFORWARD. */
  readonly xforward: readonly string[] | null
}

/** The keyword lines after the first line of the EHLO (or LHLO) reply, in the order sent. */
export function ehloKeywords(options: ResolvedOptions, facts: CapabilityFacts): string[] {
  const lines: string[] = []
  if (options.pipelining) lines.push('PIPELINING')
  // RFC 1870 §4: SIZE with the limit, or SIZE alone when there is none.
  if (options.size) lines.push(options.maxMessageSize > 0 ? `SIZE ${options.maxMessageSize}` : 'SIZE')
  if (options.eightBitMime) lines.push('8BITMIME')
  if (options.smtpUtf8) lines.push('SMTPUTF8')
  if (options.enhancedStatusCodes) lines.push('ENHANCEDSTATUSCODES')
  if (options.chunking) lines.push('CHUNKING')
  if (options.binaryMime) lines.push('BINARYMIME')
  if (options.dsn) lines.push('DSN')
  if (facts.canStartTls) lines.push('STARTTLS')
  if (facts.authMechanisms.length > 0) lines.push(`AUTH ${facts.authMechanisms.join(' ')}`)
  if (facts.xclient) lines.push(`XCLIENT ${facts.xclient.join(' ')}`)
  if (facts.xforward) lines.push(`XFORWARD ${facts.xforward.join(' ')}`)
  return lines
}

/**
 * `ehloKeywords(options, capabilitiesOf(options, session, canUpgrade, hasAuthListener))`, frozen and
 * kept: the keywords depend only on the options, whether STARTTLS is on offer, the mechanisms on
 * offer (one frozen list per answer, see offeredMechanisms) and whether the client is a trusted
 * proxy, so each combination is worked out once (building them per EHLO showed in profiles of
 * one connection per message). The same array for the same combination, so its wire bytes can be
 * kept too (formatHelloReply).
 */
export function offeredKeywords(options: ResolvedOptions, session: SessionInfo, canUpgrade: boolean, hasAuthListener: boolean): readonly string[] {
  const startTls = canStartTls(options, session, canUpgrade)
  const mechanisms = offeredMechanisms(options, session.tls !== null, hasAuthListener)
  const trusted = isTrustedProxy(options, session)
  let byMechanisms = keywordCache.get(options)
  if (!byMechanisms) keywordCache.set(options, (byMechanisms = new WeakMap()))
  let kept = byMechanisms.get(mechanisms)
  if (!kept) byMechanisms.set(mechanisms, (kept = [undefined, undefined, undefined, undefined]))
  const slot = (startTls ? 2 : 0) + (trusted ? 1 : 0)
  let keywords = kept[slot]
  if (!keywords) {
    const facts: CapabilityFacts = {
      canStartTls: startTls,
      authMechanisms: mechanisms,
      xclient: trusted ? XCLIENT_ATTRIBUTES : null,
      xforward: trusted ? XFORWARD_ATTRIBUTES : null,
    }
    kept[slot] = keywords = Object.freeze(ehloKeywords(options, facts))
  }
  return keywords
}

// Keyword lists per options, then per offered-mechanisms list, then per (STARTTLS, trusted proxy).
const keywordCache = new WeakMap<ResolvedOptions, WeakMap<readonly SaslMechanismName[], Array<readonly string[] | undefined>>>()

/** Which MAIL/RCPT parameters are accepted, from the options and whether AUTH is on offer. */
export function paramExtensions(options: ResolvedOptions, authOffered: boolean): ParamExtensions {
  return {
    size: options.size,
    eightBitMime: options.eightBitMime,
    binaryMime: options.binaryMime,
    smtpUtf8: options.smtpUtf8,
    dsn: options.dsn,
    auth: authOffered,
  }
}

// Octets each parameter extension adds to the longest MAIL/RCPT line: RFC 1870 §3 (SIZE, 26),
// RFC 3461 §4 (DSN: ORCPT and NOTIFY on RCPT, 500), RFC 4954 §5 (AUTH=, 500); BODY= and
// SMTPUTF8 fit in a small round allowance of their own.
const SIZE_ALLOWANCE = 26
const DSN_ALLOWANCE = 500
const AUTH_ALLOWANCE = 500
const BODY_AND_UTF8_ALLOWANCE = 32

/** The longest command line accepted, in octets including CRLF. */
export function commandLineLimit(options: ResolvedOptions, authOffered: boolean): number {
  return (
    options.maxLineLength +
    (options.size ? SIZE_ALLOWANCE : 0) +
    (options.dsn ? DSN_ALLOWANCE : 0) +
    (authOffered ? AUTH_ALLOWANCE : 0) +
    (options.eightBitMime || options.smtpUtf8 || options.binaryMime ? BODY_AND_UTF8_ALLOWANCE : 0)
  )
}

/**
 * The SASL mechanisms on offer now: none when AUTH is forbidden; the configured list, or PLAIN and
 * LOGIN when an auth listener exists; without TLS, only those that send no secret in the clear
 * unless `allowInsecureAuth` (RFC 4954 §4, §14).
 */
export function offeredMechanisms(options: ResolvedOptions, secure: boolean, hasAuthListener: boolean): readonly SaslMechanismName[] {
  if (options.authPolicy === 'forbidden') return NONE
  const wanted = options.authMechanisms ?? (hasAuthListener ? PLAIN_AND_LOGIN : NONE)
  if (wanted.length === 0 || secure || options.allowInsecureAuth) return wanted
  let safe = beforeTls.get(wanted)
  if (!safe) beforeTls.set(wanted, (safe = Object.freeze(wanted.filter((name) => MECHANISMS.get(name)?.plaintext === false))))
  return safe
}

// Asked before every command line, so no answer allocates: the lists are frozen, and each one's
// pre-TLS subset is worked out once.
const beforeTls = new WeakMap<readonly SaslMechanismName[], readonly SaslMechanismName[]>()
const NONE: readonly SaslMechanismName[] = Object.freeze([])
const PLAIN_AND_LOGIN: readonly SaslMechanismName[] = Object.freeze(['PLAIN', 'LOGIN'])

/** RFC 4954 §4: an AUTH command or SASL response line may be up to 12288 octets. */
export const AUTH_LINE_LIMIT = 12288
