// The Maildir sample's command line: every flag with its help text, and the server options and
// listeners they make. Every extension is on by default; a --no-… flag turns each off.

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { createSelfSignedCertificate, type ListenOptions, type Logger, type SaslMechanismName, type SmtpServerOptions } from '../lib/index.js'
import { consoleLogger, isLevel, isLogFormat } from './console-logger.js'

const FLAGS = {
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'string', default: '2525', help: 'port to listen on (0: any free port)' },
  listen: { type: 'string', multiple: true, help: 'HOST:PORT or [IPV6]:PORT to listen on instead of --host/--port (repeatable)' },
  'smtps-port': { type: 'string', help: 'also listen with implicit TLS (SMTPS) on this port' },
  'submission-port': { type: 'string', help: 'also listen on this port with AUTH required (587 style)' },
  maildir: { type: 'string', default: './maildir', help: 'Maildir to deliver into (created if missing)' },
  domain: { type: 'string', default: hostname(), help: 'server name in the greeting and Received headers' },
  'max-message-size': { type: 'string', default: String(25 * 1024 * 1024), help: 'largest message in octets (0: no limit)' },
  'max-recipients': { type: 'string', default: '100', help: 'recipients per message' },
  'max-errors': { type: 'string', default: '10', help: 'failed commands per session before 421 (0: no limit)' },
  'max-queued-reply-octets': { type: 'string', default: String(64 * 1024), help: 'reply octets queued for a client that does not read them before its input is paused' },
  'max-line-length': { type: 'string', default: '512', help: 'longest command line in octets, before extension allowances' },
  'max-text-line-length': { type: 'string', default: '0', help: 'longest message line in octets (0: no limit, the default; 1000: RFC 5321)' },
  'line-endings': { type: 'string', default: 'reject', help: 'bare CR/LF in message data: reject, normalize or keep' },
  lmtp: { type: 'boolean', default: false, help: 'speak LMTP (RFC 2033) instead of SMTP' },
  'no-size': { type: 'boolean', default: false, help: 'do not advertise SIZE (RFC 1870)' },
  'no-pipelining': { type: 'boolean', default: false, help: 'do not advertise PIPELINING (RFC 2920)' },
  'no-8bitmime': { type: 'boolean', default: false, help: 'turn off 8BITMIME (RFC 6152)' },
  'no-smtputf8': { type: 'boolean', default: false, help: 'turn off SMTPUTF8 (RFC 6531)' },
  'no-enhanced-status-codes': { type: 'boolean', default: false, help: 'turn off ENHANCEDSTATUSCODES (RFC 2034)' },
  'no-chunking': { type: 'boolean', default: false, help: 'turn off CHUNKING/BDAT (RFC 3030)' },
  'no-binarymime': { type: 'boolean', default: false, help: 'turn off BINARYMIME (RFC 3030)' },
  'no-dsn': { type: 'boolean', default: false, help: 'turn off DSN (RFC 3461)' },
  'tls-key': { type: 'string', help: 'TLS private key (PEM file) for STARTTLS and --smtps-port' },
  'tls-cert': { type: 'string', help: 'TLS certificate chain (PEM file)' },
  'tls-self-signed': { type: 'boolean', default: false, help: 'make an in-memory self-signed certificate (the default without --tls-key)' },
  'no-starttls': { type: 'boolean', default: false, help: 'turn off STARTTLS (RFC 3207) and TLS altogether' },
  'require-tls': { type: 'boolean', default: false, help: 'refuse mail commands before STARTTLS (530 5.7.0)' },
  'auth-user': { type: 'string', multiple: true, help: 'NAME:PASSWORD allowed to AUTH (repeatable; default: one random user)' },
  'auth-token': { type: 'string', multiple: true, help: 'NAME:TOKEN allowed to AUTH XOAUTH2 (repeatable)' },
  'no-auth': { type: 'boolean', default: false, help: 'turn off AUTH (RFC 4954)' },
  'require-auth': { type: 'boolean', default: false, help: 'refuse MAIL before AUTH (530 5.7.0) on every listener' },
  'allow-insecure-auth': { type: 'boolean', default: false, help: 'offer PLAIN/LOGIN before TLS' },
  'max-auth-failures': { type: 'string', default: '3', help: 'failed AUTH attempts per session before 421' },
  'auth-lockout': { type: 'string', default: '10', help: 'failed AUTH attempts per client address in 15 minutes before AUTH (only) is refused from it (0: off)' },
  'max-connections': { type: 'string', default: '1000', help: 'sessions open at once (0: no limit)' },
  'max-connections-per-address': { type: 'string', default: '20', help: 'sessions open at once from one address (0: no limit)' },
  'max-processing': { type: 'string', default: '0', help: 'sessions running listener code at once (0: no limit)' },
  'command-timeout': { type: 'string', default: '300', help: 'seconds to wait for a command line (0: none)' },
  'data-timeout': { type: 'string', default: '180', help: 'seconds to wait for more message data (0: none)' },
  'session-timeout': { type: 'string', default: '3600', help: 'seconds a whole session may last (0: none)' },
  'close-timeout': { type: 'string', default: '30', help: 'seconds to let sessions finish on shutdown before cutting them off' },
  'linger-timeout': { type: 'string', default: '5', help: 'seconds a client may keep its side open after the server ended the connection' },
  'listener-timeout': { type: 'string', default: '60', help: 'seconds a decision (delivery, AUTH check) may take before 451 4.3.0 (0: none)' },
  'proxy-protocol': { type: 'boolean', default: false, help: 'expect a PROXY protocol v1/v2 header on every connection' },
  'trusted-proxy': { type: 'string', multiple: true, help: 'address or CIDR allowed XCLIENT/XFORWARD (repeatable)' },
  'reverse-dns': { type: 'boolean', default: false, help: 'look up client names (reverse DNS) for the Received header' },
  'log-level': { type: 'string', default: 'info', help: 'debug, info, warn, error or silent' },
  'log-format': { type: 'string', default: 'text', help: 'text, or json: one object per line (time, level, message, session, client) for log shippers' },
  'metrics-port': { type: 'string', help: 'serve Prometheus metrics at http://HOST:PORT/metrics (off unless given; 0: any free port)' },
  'metrics-host': { type: 'string', default: '127.0.0.1', help: 'address for --metrics-port' },
  trace: { type: 'boolean', default: false, help: 'log every command and reply (AUTH secrets hidden) at debug level' },
  quiet: { type: 'boolean', default: false, help: 'same as --log-level error' },
  'no-fsync': { type: 'boolean', default: false, help: 'skip fsync before the 250 (faster, not crash-safe)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const

type Values = ReturnType<typeof parseArgs<{ options: typeof FLAGS; strict: true }>>['values']

/** The --help text: every flag, its argument and default. */
export function usage(): string {
  const lines = Object.entries(FLAGS).map(([name, flag]) => {
    const value = flag.type === 'string' ? ` <${name.split('-').pop()}>` : ''
    const fallback = flag.type === 'string' && 'default' in flag ? ` (default ${flag.default})` : ''
    return `  --${`${name}${value}`.padEnd(36)} ${flag.help}${fallback}`
  })
  return `Usage: npm start -- [flags]\n\nA Maildir SMTP server built on smtpwire.\n\n${lines.join('\n')}\n`
}

function integer(name: string, text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${text}`)
  return value
}

/** NAME:VALUE flags as a map. */
function pairs(flag: string, list: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>()
  for (const item of list ?? []) {
    const colon = item.indexOf(':')
    if (colon <= 0) throw new Error(`--${flag} takes NAME:VALUE, got ${item}`)
    map.set(item.slice(0, colon), item.slice(colon + 1))
  }
  return map
}

/** HOST:PORT or [IPV6]:PORT. */
function hostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text)
  if (!match) throw new Error(`--listen takes HOST:PORT or [IPV6]:PORT, got ${text}`)
  return { host: match[1] ?? match[2] ?? '', port: integer('listen', match[3] ?? '') }
}

/** TLS from files, or a self-signed certificate; none with --no-starttls. */
function tlsOptions(values: Values, notices: string[]): SmtpServerOptions['tls'] {
  if (values['no-starttls']) return undefined
  const key = values['tls-key']
  const cert = values['tls-cert']
  if ((key === undefined) !== (cert === undefined)) throw new Error('--tls-key and --tls-cert go together')
  if (key !== undefined && cert !== undefined && !values['tls-self-signed']) return { key: readFileSync(key), cert: readFileSync(cert) }
  const names = [...new Set([values.domain, 'localhost', '127.0.0.1', '::1'])]
  notices.push(`TLS with a self-signed certificate for ${names.join(', ')} (for local testing; use --tls-key/--tls-cert for a real one)`)
  return createSelfSignedCertificate({ commonName: names[0], altNames: names })
}

/** One listener to start. */
export interface Listener {
  readonly host: string
  readonly port: number
  readonly options: ListenOptions
}

/** Everything the command line asked for. */
export interface SampleConfig {
  readonly help: boolean
  readonly server: SmtpServerOptions & { domain: string; closeTimeout: number; logger: Logger }
  readonly listeners: readonly Listener[]
  readonly maildir: string
  readonly fsync: boolean
  readonly users: ReadonlyMap<string, string>
  readonly tokens: ReadonlyMap<string, string>
  readonly authLockout: number
  /** Where to serve Prometheus metrics, or null (the default: no metrics port). */
  readonly metrics: { readonly host: string; readonly port: number } | null
  /** Lines to log at start (the generated password, the self-signed certificate). */
  readonly notices: readonly string[]
}

/** Reads the command line. @throws Error with a message for the user on a bad flag. */
export function readFlags(argv: readonly string[]): SampleConfig {
  const { values } = parseArgs({ args: [...argv], options: FLAGS, strict: true })
  const lineEndings = values['line-endings']
  if (lineEndings !== 'reject' && lineEndings !== 'normalize' && lineEndings !== 'keep') {
    throw new Error(`--line-endings must be reject, normalize or keep, got ${lineEndings}`)
  }
  const level = values.quiet ? 'error' : values['log-level']
  if (!isLevel(level)) throw new Error(`--log-level must be debug, info, warn, error or silent, got ${level}`)
  const format = values['log-format']
  if (!isLogFormat(format)) throw new Error(`--log-format must be text or json, got ${format}`)
  const notices: string[] = []
  const users = pairs('auth-user', values['auth-user'])
  const tokens = pairs('auth-token', values['auth-token'])
  if (!values['no-auth'] && users.size === 0) {
    const password = randomBytes(9).toString('base64url')
    users.set('smtpwire', password)
    notices.push(`AUTH user smtpwire, password ${password} (set your own with --auth-user NAME:PASSWORD)`)
  }
  const mechanisms: SaslMechanismName[] = ['PLAIN', 'LOGIN', 'CRAM-MD5']
  if (tokens.size > 0) mechanisms.push('XOAUTH2')
  const tls = tlsOptions(values, notices)
  type Seconds = 'command-timeout' | 'data-timeout' | 'session-timeout' | 'close-timeout' | 'linger-timeout' | 'listener-timeout'
  const seconds = (name: Seconds): number => integer(name, values[name]) * 1000
  const server = {
    domain: values.domain,
    maxMessageSize: integer('max-message-size', values['max-message-size']),
    maxRecipients: integer('max-recipients', values['max-recipients']),
    maxErrors: integer('max-errors', values['max-errors']),
    maxLineLength: integer('max-line-length', values['max-line-length']),
    maxQueuedReplyOctets: integer('max-queued-reply-octets', values['max-queued-reply-octets']),
    maxTextLineLength: integer('max-text-line-length', values['max-text-line-length']),
    lineEndings,
    lmtp: values.lmtp,
    size: !values['no-size'],
    pipelining: !values['no-pipelining'],
    eightBitMime: !values['no-8bitmime'],
    smtpUtf8: !values['no-smtputf8'],
    enhancedStatusCodes: !values['no-enhanced-status-codes'],
    chunking: !values['no-chunking'],
    binaryMime: !values['no-binarymime'] && !values['no-chunking'],
    dsn: !values['no-dsn'],
    tls,
    tlsPolicy: values['no-starttls'] ? 'forbidden' : values['require-tls'] ? 'required' : 'optional',
    authPolicy: values['no-auth'] ? 'forbidden' : values['require-auth'] ? 'required' : 'optional',
    authMechanisms: mechanisms,
    allowInsecureAuth: values['allow-insecure-auth'],
    maxAuthFailures: integer('max-auth-failures', values['max-auth-failures']),
    maxConnections: integer('max-connections', values['max-connections']),
    maxConnectionsPerAddress: integer('max-connections-per-address', values['max-connections-per-address']),
    maxProcessing: integer('max-processing', values['max-processing']),
    commandTimeout: seconds('command-timeout'),
    dataTimeout: seconds('data-timeout'),
    sessionTimeout: seconds('session-timeout'),
    closeTimeout: seconds('close-timeout'),
    lingerTimeout: seconds('linger-timeout'),
    listenerTimeout: seconds('listener-timeout'),
    trustedProxies: values['trusted-proxy'] ?? [],
    reverseDns: values['reverse-dns'],
    logger: consoleLogger(level, format),
    trace: values.trace,
  } satisfies SampleConfig['server']
  const proxyProtocol = values['proxy-protocol']
  const plain = values.listen?.map(hostPort) ?? [{ host: values.host, port: integer('port', values.port) }]
  const listeners: Listener[] = plain.map(({ host, port }) => ({ host, port, options: { proxyProtocol } }))
  const host = plain[0]?.host ?? values.host
  if (values['smtps-port'] !== undefined) {
    if (!tls) throw new Error('--smtps-port needs TLS: drop --no-starttls')
    listeners.push({ host, port: integer('smtps-port', values['smtps-port']), options: { secure: true, proxyProtocol } })
  }
  if (values['submission-port'] !== undefined) {
    if (values['no-auth']) throw new Error('--submission-port requires AUTH: drop --no-auth')
    listeners.push({ host, port: integer('submission-port', values['submission-port']), options: { proxyProtocol, options: { authPolicy: 'required' } } })
  }
  return {
    help: values.help,
    server,
    listeners,
    maildir: values.maildir,
    fsync: !values['no-fsync'],
    users,
    tokens,
    authLockout: integer('auth-lockout', values['auth-lockout']),
    metrics: values['metrics-port'] === undefined ? null : { host: values['metrics-host'], port: integer('metrics-port', values['metrics-port']) },
    notices,
  }
}
