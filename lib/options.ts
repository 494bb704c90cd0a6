// SmtpOptions: what a user may set, the defaults, and resolveOptions(), which checks them once and
// returns a frozen, complete copy. Pure: imports only other pure files (errors, ip-range, logger).

import type { LineEndingPolicy } from './dot-decoder.js'
import { SmtpwireError } from './errors.js'
import type { ProcessingGate } from './gate.js'
import { isIpRange } from './ip-range.js'
import { SILENT, type Logger } from './logger.js'

/** Options of one `SmtpProtocol` (and of every session an `SmtpServer` starts). */
export interface SmtpOptions {
  /** The server's name in the greeting, EHLO reply and Received header. Default `localhost`. */
  domain?: string
  /** Text after the domain in the 220 greeting. Default `ESMTP smtpwire` (`LMTP smtpwire` in LMTP mode). */
  greeting?: string
  /**
   * `dataChunk` batch size in octets: every chunk but the last is at least this long. Default 16 KiB:
   * a piece at least this long goes out as a view of the read it came in, so a default below Node's
   * 64 KiB reads spares the copy a read that came a little short would need to be joined to the next.
   */
  chunkSize?: number
  /** Largest message in octets, advertised as SIZE; 0 means no limit. Default 25 MiB. */
  maxMessageSize?: number
  /** Recipients per transaction; more get `452 4.5.3`. Default 100 (RFC 5321 §4.5.3.1.8). */
  maxRecipients?: number
  /**
   * Longest command line in octets including CRLF, before extension allowances. Default 512
   * (RFC 5321 §4.5.3.1.4). Enabled parameter extensions add their RFC allowances (see README).
   */
  maxLineLength?: number
  /**
   * Longest message text line in octets including CRLF; longer lines get `550 5.6.0`. Default 0
   * (no limit), as Postfix and Exim accept such lines; 1000 is RFC 5321 §4.5.3.1.6's limit, for a
   * receiver that must relay to strict servers. The decoder never buffers a line, so memory is
   * not at stake either way.
   */
  maxTextLineLength?: number
  /** Bare CR/LF in message data and commands: `reject` (default), `normalize` or `keep`. */
  lineEndings?: LineEndingPolicy
  /**
   * Collect the whole message into `message.body`: `true`, `false`, or `'auto'` (the default),
   * which collects only when no `dataChunk` listener is registered as the data starts.
   */
  collectBody?: boolean | 'auto'
  /** Most header octets held for the `headers` event. Default 64 KiB. */
  maxHeaderSize?: number
  /**
   * Reply octets a session lets wait in its stream for a client that does not read them (written,
   * not yet handed to the operating system). At this bound the session stops reading input until
   * the client reads; replies to commands already read still go out, so the queue can pass it by
   * less than 16 KiB plus one reply. The same on every Node version: the stream's highWaterMark
   * plays no part. Applies to `attach()` and `SmtpServer`; a transport given to `open()` says when
   * it is full through `write()`'s return value. Default 64 KiB.
   */
  maxQueuedReplyOctets?: number
  /** Failed commands (syntax, sequence, unknown) before `421` and close; 0 for no limit. Default 10. */
  maxErrors?: number
  /** Prepend an RFC 5321 §4.4 `Received:` header to the message data. Default false. */
  addReceivedHeader?: boolean
  /** RFC 1870 SIZE: advertise the limit and accept `SIZE=`. The limit applies either way. Default true. */
  size?: boolean
  /** RFC 2920 PIPELINING. Default true. */
  pipelining?: boolean
  /** RFC 6152 8BITMIME. Default true. */
  eightBitMime?: boolean
  /** RFC 6531 SMTPUTF8. Default true. */
  smtpUtf8?: boolean
  /** RFC 2034 ENHANCEDSTATUSCODES. Default true. */
  enhancedStatusCodes?: boolean
  /** RFC 3030 CHUNKING (BDAT). Default true. */
  chunking?: boolean
  /** RFC 3030 BINARYMIME; needs `chunking`. Default true. */
  binaryMime?: boolean
  /** RFC 3461 DSN. Off by default: advertising it promises the application honours DSN requests. */
  dsn?: boolean
  /** RFC 2033 LMTP: LHLO instead of HELO/EHLO and one reply per recipient after the data. Default false. */
  lmtp?: boolean
  /**
   * STARTTLS (RFC 3207): `optional` (offered when the transport can upgrade; the default),
   * `required` (before TLS only NOOP, EHLO, HELO, STARTTLS, RSET and QUIT work; the rest get
   * `530 5.7.0`), or `forbidden` (never offered).
   */
  tlsPolicy?: Policy
  /** AUTH (RFC 4954): `optional` (the default), `required` (MAIL before AUTH gets `530 5.7.0`), or `forbidden`. */
  authPolicy?: Policy
  /**
   * SASL mechanisms to offer. By default PLAIN and LOGIN, offered only when a `plainAuth` or `auth`
   * listener is registered; CRAM-MD5 and XOAUTH2 must be listed here (and answered by `auth`).
   */
  authMechanisms?: readonly SaslMechanismName[]
  /** Offer and accept PLAIN, LOGIN and XOAUTH2 before TLS. Default false: they send secrets in the clear. */
  allowInsecureAuth?: boolean
  /** Failed AUTH attempts in one session before `421 4.7.0` and close; 0 for no limit. Default 3. */
  maxAuthFailures?: number
  /**
   * Milliseconds to wait for a complete command line (RFC 5321 §4.5.3.2: at least 5 minutes).
   * Partial input does not restart it, so a client that sends a byte at a time cannot stall it.
   * Expiry: `421 4.4.2` and close. 0 turns it off. Default 300 000.
   */
  commandTimeout?: number
  /** Milliseconds without any input while message data is being read. 0: off. Default 180 000. */
  dataTimeout?: number
  /** Milliseconds a whole session may last, whatever it does. 0: off. Default 3 600 000. */
  sessionTimeout?: number
  /**
   * Milliseconds a decision may wait for its listeners. Past it the command gets the answer of a
   * listener that threw (`451 4.3.0` for most; `421` for `connect`, `454` for AUTH), `error` is
   * emitted with `SMTPWIRE_ERR_LISTENER_TIMEOUT`, and the session goes on; a late result is
   * ignored. 0 or `Infinity` turns it off. Default 60 000.
   */
  listenerTimeout?: number
  /** Where to log: anything with debug/info/warn/error (console, pino). Default: nowhere. */
  logger?: Logger
  /** Log every command and reply line at debug level (AUTH secrets are replaced by ***). Default false. */
  trace?: boolean
  /**
   * Clients allowed XCLIENT and XFORWARD (Postfix's proxy extensions): IP addresses or CIDR ranges
   * (`10.0.0.0/8`, `2001:db8::/32`). Default none.
   */
  trustedProxies?: readonly string[]
  /**
   * A gate shared by sessions that limits how many decisions run at once (SmtpServer's `maxProcessing`).
   * SmtpServer sets it from `maxProcessing`; sessions you run yourself can share one too.
   */
  gate?: ProcessingGate | null
}

/** A policy for an optional feature. */
export type Policy = 'forbidden' | 'optional' | 'required'

/** The SASL mechanisms smtpwire implements. */
export type SaslMechanismName = 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'XOAUTH2'

const MECHANISM_NAMES: readonly SaslMechanismName[] = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2']
const POLICIES: readonly Policy[] = ['forbidden', 'optional', 'required']

/** Options after defaults and checks: every field present, frozen (`authMechanisms` null: automatic). */
export type ResolvedOptions = Readonly<Required<Omit<SmtpOptions, 'authMechanisms' | 'gate'>>> & {
  /** The mechanisms listed in the options, or null to offer PLAIN and LOGIN when a listener is there. */
  readonly authMechanisms: readonly SaslMechanismName[] | null
  /** @internal */
  readonly gate: ProcessingGate | null
}

/** Default message size limit: 25 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 25 * 1024 * 1024
/** Default bound on reply octets queued for a client that does not read them: 64 KiB. */
export const DEFAULT_MAX_QUEUED_REPLY_OCTETS = 64 * 1024
/**
 * Default `dataChunk` batch size: 16 KiB. Node reads at most 64 KiB at a time, and a bulk read often
 * comes a few octets short (a loopback or offloaded segment's worth). With a 64 KiB minimum each such
 * read had to wait for the next and be copied with it (a fifth of a 256 MiB BDAT body's octets); at
 * 16 KiB it goes out as it came. Slow links bring smaller reads, which are joined either way.
 */
export const DEFAULT_CHUNK_SIZE = 16 * 1024

const DEFAULTS: Omit<ResolvedOptions, 'greeting'> = {
  domain: 'localhost',
  chunkSize: DEFAULT_CHUNK_SIZE,
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
  maxRecipients: 100,
  maxLineLength: 512,
  maxTextLineLength: 0,
  lineEndings: 'reject',
  collectBody: 'auto',
  maxHeaderSize: 64 * 1024,
  maxQueuedReplyOctets: DEFAULT_MAX_QUEUED_REPLY_OCTETS,
  maxErrors: 10,
  addReceivedHeader: false,
  size: true,
  pipelining: true,
  eightBitMime: true,
  smtpUtf8: true,
  enhancedStatusCodes: true,
  chunking: true,
  binaryMime: true,
  dsn: false,
  lmtp: false,
  tlsPolicy: 'optional',
  authPolicy: 'optional',
  authMechanisms: null,
  allowInsecureAuth: false,
  maxAuthFailures: 3,
  commandTimeout: 300_000,
  dataTimeout: 180_000,
  sessionTimeout: 3_600_000,
  listenerTimeout: 60_000,
  logger: SILENT,
  trace: false,
  trustedProxies: [],
  gate: null,
}

const BOOLEANS = [
  'addReceivedHeader',
  'size',
  'pipelining',
  'eightBitMime',
  'smtpUtf8',
  'enhancedStatusCodes',
  'chunking',
  'binaryMime',
  'dsn',
  'lmtp',
  'allowInsecureAuth',
  'trace',
] as const satisfies ReadonlyArray<keyof ResolvedOptions>

function invalid(name: string, why: string): SmtpwireError {
  return new SmtpwireError('SMTPWIRE_ERR_INVALID_OPTION', `option \`${name}\` ${why}`)
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw invalid(name, `must be an integer >= ${min}, got ${value}`)
}

/** The longest delay a Node timer takes: a longer one fires after 1 ms instead, on every version. */
export const MAX_TIMEOUT = 2_147_483_647

/**
 * Checks a number of milliseconds for a timer: an integer from `min` to MAX_TIMEOUT (24.8 days).
 * @throws SmtpwireError `SMTPWIRE_ERR_INVALID_OPTION` naming the option.
 */
export function checkTimeout(name: string, value: number, min = 0): void {
  checkInteger(name, value, min)
  if (value > MAX_TIMEOUT) throw invalid(name, `must be at most ${MAX_TIMEOUT} ms (a longer timer would fire at once), got ${value}`)
}

// Marks what resolveOptions returned (frozen, arrays frozen too): resolving it again returns it as
// it is, so a server resolves its options once, not once per connection. Not enumerable, so the
// options still look (and compare) like a plain record.
const RESOLVED = Symbol('smtpwire.resolvedOptions')

/**
 * Fills in defaults and checks every option. Options this function returned are returned as they are.
 * @throws SmtpwireError `SMTPWIRE_ERR_INVALID_OPTION` naming the first bad option.
 */
export function resolveOptions(options: SmtpOptions | ResolvedOptions = {}): ResolvedOptions {
  if (isResolved(options)) return options
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
  // A scratch record for the checks; what is returned is made by shaped() below.
  const merged = Object.assign({}, DEFAULTS, defined) as Omit<ResolvedOptions, 'greeting'> & { greeting?: string }
  // Checked before anything is computed from them (binaryMime is combined with chunking below).
  for (const name of BOOLEANS) {
    if (typeof merged[name] !== 'boolean') throw invalid(name, `must be a boolean, got ${String(merged[name])}`)
  }
  if (typeof merged.domain !== 'string') throw invalid('domain', 'must be a string')
  if (merged.greeting !== undefined && typeof merged.greeting !== 'string') throw invalid('greeting', 'must be a string')
  const resolved: ResolvedOptions = Object.assign(merged, {
    greeting: merged.greeting ?? (merged.lmtp ? 'LMTP smtpwire' : 'ESMTP smtpwire'),
    // BINARYMIME rides on BDAT (RFC 3030 §3), so turning chunking off turns it off unless asked for.
    binaryMime: merged.binaryMime && (merged.chunking || options.binaryMime === true),
  })
  if (!/^[\x21-\x7E\u0080-\u{10FFFF}]+$/u.test(resolved.domain)) throw invalid('domain', 'must be one word of printable characters')
  if (/[\r\n]/.test(resolved.greeting)) throw invalid('greeting', 'must not contain CR or LF')
  checkInteger('chunkSize', resolved.chunkSize, 1)
  checkInteger('maxMessageSize', resolved.maxMessageSize, 0)
  checkInteger('maxRecipients', resolved.maxRecipients, 1)
  checkInteger('maxLineLength', resolved.maxLineLength, 64)
  checkInteger('maxTextLineLength', resolved.maxTextLineLength, 0)
  checkInteger('maxHeaderSize', resolved.maxHeaderSize, 0)
  checkInteger('maxQueuedReplyOctets', resolved.maxQueuedReplyOctets, 1)
  checkInteger('maxErrors', resolved.maxErrors, 0)
  if (!['reject', 'normalize', 'keep'].includes(resolved.lineEndings)) {
    throw invalid('lineEndings', "must be 'reject', 'normalize' or 'keep'")
  }
  if (![true, false, 'auto'].includes(resolved.collectBody)) throw invalid('collectBody', "must be true, false or 'auto'")
  if (resolved.binaryMime && !resolved.chunking) throw invalid('binaryMime', 'needs `chunking` (RFC 3030 §3)')
  checkInteger('maxAuthFailures', resolved.maxAuthFailures, 0)
  checkTimeout('commandTimeout', resolved.commandTimeout)
  checkTimeout('dataTimeout', resolved.dataTimeout)
  checkTimeout('sessionTimeout', resolved.sessionTimeout)
  if (resolved.listenerTimeout !== Infinity) checkTimeout('listenerTimeout', resolved.listenerTimeout)
  const logger = resolved.logger
  if (!logger || (['debug', 'info', 'warn', 'error'] as const).some((level) => typeof logger[level] !== 'function')) {
    throw invalid('logger', 'must have debug, info, warn and error methods')
  }
  if (!Array.isArray(resolved.trustedProxies) || resolved.trustedProxies.some((range) => !isIpRange(range))) {
    throw invalid('trustedProxies', 'must list IP addresses or CIDR ranges')
  }
  if (!POLICIES.includes(resolved.tlsPolicy)) throw invalid('tlsPolicy', "must be 'forbidden', 'optional' or 'required'")
  if (!POLICIES.includes(resolved.authPolicy)) throw invalid('authPolicy', "must be 'forbidden', 'optional' or 'required'")
  const mechanisms = resolved.authMechanisms
  if (mechanisms !== null) {
    if (!Array.isArray(mechanisms) || mechanisms.some((m) => !MECHANISM_NAMES.includes(m)) || new Set(mechanisms).size !== mechanisms.length) {
      throw invalid('authMechanisms', `must list distinct names among ${MECHANISM_NAMES.join(', ')}`)
    }
  }
  const result = shaped(resolved, mechanisms && Object.freeze([...mechanisms]), Object.freeze([...resolved.trustedProxies]))
  Object.defineProperty(result, RESOLVED, { value: true })
  return Object.freeze(result)
}

/**
 * The options as one object literal, so every result has the same V8 shape (map) on every Node
 * version: the session's hot paths read them, and code optimised for one map deoptimises at the
 * next. Made by spreads, the 9th to 13th results on Node 20 each had a map of their own (BDAT in
 * 64 KiB reads, in memory, 0.25-0.5 µs a read, 1.6-7 in those sessions, and 14 µs a call to make
 * them); made by Object.assign, they were dictionaries on Node 22 and 24. Options that are not
 * options are not copied.
 */
function shaped(o: ResolvedOptions, authMechanisms: ResolvedOptions['authMechanisms'], trustedProxies: ResolvedOptions['trustedProxies']): ResolvedOptions {
  return {
    domain: o.domain,
    greeting: o.greeting,
    chunkSize: o.chunkSize,
    maxMessageSize: o.maxMessageSize,
    maxRecipients: o.maxRecipients,
    maxLineLength: o.maxLineLength,
    maxTextLineLength: o.maxTextLineLength,
    lineEndings: o.lineEndings,
    collectBody: o.collectBody,
    maxHeaderSize: o.maxHeaderSize,
    maxQueuedReplyOctets: o.maxQueuedReplyOctets,
    maxErrors: o.maxErrors,
    addReceivedHeader: o.addReceivedHeader,
    size: o.size,
    pipelining: o.pipelining,
    eightBitMime: o.eightBitMime,
    smtpUtf8: o.smtpUtf8,
    enhancedStatusCodes: o.enhancedStatusCodes,
    chunking: o.chunking,
    binaryMime: o.binaryMime,
    dsn: o.dsn,
    lmtp: o.lmtp,
    tlsPolicy: o.tlsPolicy,
    authPolicy: o.authPolicy,
    authMechanisms,
    allowInsecureAuth: o.allowInsecureAuth,
    maxAuthFailures: o.maxAuthFailures,
    commandTimeout: o.commandTimeout,
    dataTimeout: o.dataTimeout,
    sessionTimeout: o.sessionTimeout,
    listenerTimeout: o.listenerTimeout,
    logger: o.logger,
    trace: o.trace,
    trustedProxies,
    gate: o.gate,
  }
}

/** True for what resolveOptions() returned. */
export function isResolved(options: SmtpOptions | ResolvedOptions): options is ResolvedOptions {
  return RESOLVED in options
}
