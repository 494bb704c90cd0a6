// The Maildir sample server (`npm start`): every extension smtpwire supports is on unless a flag
// turns it off. Each accepted message is on disk in <maildir>/new before its 250 is sent.

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { createSelfSignedCertificate, formatReceivedHeader, SmtpServer, type SaslMechanismName, type SmtpServerOptions } from '../lib/index.js'
import { AuthLockout } from './auth-lockout.js'
import { Maildir, type Delivery } from './maildir.js'

const FLAGS = {
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'string', default: '2525', help: 'port to listen on (0: any free port)' },
  maildir: { type: 'string', default: './maildir', help: 'Maildir to deliver into (created if missing)' },
  domain: { type: 'string', default: hostname(), help: 'server name in the greeting and Received headers' },
  'max-message-size': { type: 'string', default: String(25 * 1024 * 1024), help: 'largest message in octets (0: no limit)' },
  'max-recipients': { type: 'string', default: '100', help: 'recipients per message' },
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
  'smtps-port': { type: 'string', help: 'also listen with implicit TLS (SMTPS) on this port' },
  'auth-user': { type: 'string', multiple: true, help: 'NAME:PASSWORD allowed to AUTH (repeatable; default: one random user)' },
  'auth-token': { type: 'string', multiple: true, help: 'NAME:TOKEN allowed to AUTH XOAUTH2 (repeatable)' },
  'no-auth': { type: 'boolean', default: false, help: 'turn off AUTH (RFC 4954)' },
  'require-auth': { type: 'boolean', default: false, help: 'refuse MAIL before AUTH (530 5.7.0)' },
  'allow-insecure-auth': { type: 'boolean', default: false, help: 'offer PLAIN/LOGIN before TLS' },
  'max-auth-failures': { type: 'string', default: '3', help: 'failed AUTH attempts per session before 421' },
  'auth-lockout': { type: 'string', default: '10', help: 'failed AUTH attempts per client address in 15 minutes before it is refused (0: off)' },
  'no-fsync': { type: 'boolean', default: false, help: 'skip fsync before the 250 (faster, not crash-safe)' },
  quiet: { type: 'boolean', default: false, help: 'print only the listening line and errors' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const

function usage(): string {
  const lines = Object.entries(FLAGS).map(([name, flag]) => {
    const value = flag.type === 'string' ? ` <${name.split('-').pop()}>` : ''
    const fallback = flag.type === 'string' && 'default' in flag ? ` (default ${flag.default})` : ''
    return `  --${`${name}${value}`.padEnd(34)} ${flag.help}${fallback}`
  })
  return `Usage: npm start -- [flags]\n\nA Maildir SMTP server built on smtpwire.\n\n${lines.join('\n')}\n`
}

function integer(name: string, text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${text}`)
  return value
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: FLAGS, strict: true })
  if (values.help) {
    process.stdout.write(usage())
    return
  }
  const lineEndings = values['line-endings']
  if (lineEndings !== 'reject' && lineEndings !== 'normalize' && lineEndings !== 'keep') {
    throw new Error(`--line-endings must be reject, normalize or keep, got ${lineEndings}`)
  }
  const users = pairs('auth-user', values['auth-user'])
  const tokens = pairs('auth-token', values['auth-token'])
  const notices: string[] = []
  if (!values['no-auth'] && users.size === 0) {
    const password = randomBytes(9).toString('base64url')
    users.set('smtpwire', password)
    notices.push(`AUTH user smtpwire, password ${password} (set your own with --auth-user NAME:PASSWORD)`)
  }
  const mechanisms: SaslMechanismName[] = ['PLAIN', 'LOGIN', 'CRAM-MD5']
  if (tokens.size > 0) mechanisms.push('XOAUTH2')
  const options: SmtpServerOptions = {
    domain: values.domain,
    maxMessageSize: integer('max-message-size', values['max-message-size']),
    maxRecipients: integer('max-recipients', values['max-recipients']),
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
    tls: tlsOptions(values, notices),
    tlsPolicy: values['no-starttls'] ? 'forbidden' : values['require-tls'] ? 'required' : 'optional',
    authPolicy: values['no-auth'] ? 'forbidden' : values['require-auth'] ? 'required' : 'optional',
    authMechanisms: mechanisms,
    allowInsecureAuth: values['allow-insecure-auth'],
    maxAuthFailures: integer('max-auth-failures', values['max-auth-failures']),
  }
  const lockout = new AuthLockout(integer('auth-lockout', values['auth-lockout']), 15 * 60_000)
  const log = (text: string): void => {
    if (!values.quiet) process.stdout.write(`${new Date().toISOString()} ${text}\n`)
  }
  const maildir = new Maildir(values.maildir, !values['no-fsync'])
  await maildir.create()

  const server = new SmtpServer(options, (smtp) => {
    let delivery: Delivery | null = null
    lockout.watch(smtp)
    smtp.on('auth', ({ credentials }) => {
      switch (credentials.mechanism) {
        case 'CRAM-MD5':
          return credentials.verify(users.get(credentials.username) ?? randomBytes(16).toString('hex'))
        case 'XOAUTH2':
          return tokens.get(credentials.username) === credentials.token
        default:
          return users.get(credentials.username) === credentials.password
      }
    })
    smtp.on('data', async ({ session, transaction }) => {
      delivery = await maildir.begin()
      // Trace headers only: the rest of the file is the message exactly as received.
      const returnPath = `Return-Path: <${transaction.from?.address ?? ''}>\r\n`
      await delivery.write(returnPath + formatReceivedHeader(session, transaction, options.domain ?? 'localhost'))
    })
    smtp.on('dataChunk', async ({ chunk }) => {
      await delivery?.write(chunk)
    })
    smtp.on('message', async ({ session, transaction }) => {
      const path = await delivery!.commit()
      delivery = null
      log(`${session.id} delivered ${transaction.size} octets from <${transaction.from?.address ?? ''}> to ${transaction.to.length} recipient(s): ${path}`)
    })
    smtp.on('transaction', async ({ session, reason }) => {
      // Whatever ended the transaction, a message still in tmp/ was not delivered.
      const unfinished = delivery
      delivery = null
      if (!unfinished) return
      await unfinished.abort()
      log(`${session.id} discarded an unfinished message (${reason})`)
    })
    smtp.on('error', ({ session, error, event }) => log(`${session.id} error in ${event ?? 'transport'}: ${error.message}`))
  })
  server.on('error', (error: Error) => log(`server error: ${error.message}`))

  // Signal handlers go in before the listening line: whoever waits for that line may signal at once.
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      log(`${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    log(`${signal}: finishing open sessions, then exiting`)
    void server.close().then(() => process.exit(0))
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  const listeners = [server.listen(integer('port', values.port), values.host)]
  if (values['smtps-port'] !== undefined) {
    if (!options.tls) throw new Error('--smtps-port needs TLS: drop --no-starttls')
    listeners.push(server.listen(integer('smtps-port', values['smtps-port']), values.host, { secure: true }))
  }
  for (const notice of notices) log(notice)
  for (const address of await Promise.all(listeners)) {
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
    process.stdout.write(`smtpwire listening on ${shown}:${address.port}\n`)
  }
}

/** NAME:VALUE flags as a map. */
function pairs(flag: string, list: string[] | undefined): Map<string, string> {
  const map = new Map<string, string>()
  for (const item of list ?? []) {
    const colon = item.indexOf(':')
    if (colon <= 0) throw new Error(`--${flag} takes NAME:VALUE, got ${item}`)
    map.set(item.slice(0, colon), item.slice(colon + 1))
  }
  return map
}

/** TLS from files, or a self-signed certificate; none with --no-starttls. */
function tlsOptions(values: { 'tls-key'?: string; 'tls-cert'?: string; 'tls-self-signed'?: boolean; 'no-starttls'?: boolean; domain?: string }, notices: string[]): SmtpServerOptions['tls'] {
  if (values['no-starttls']) return undefined
  const key = values['tls-key']
  const cert = values['tls-cert']
  if ((key === undefined) !== (cert === undefined)) throw new Error('--tls-key and --tls-cert go together')
  if (key !== undefined && cert !== undefined && !values['tls-self-signed']) {
    return { key: readFileSync(key), cert: readFileSync(cert) }
  }
  const names = [...new Set([values.domain ?? 'localhost', 'localhost', '127.0.0.1', '::1'])]
  notices.push(`TLS with a self-signed certificate for ${names.join(', ')} (for local testing; use --tls-key/--tls-cert for a real one)`)
  return createSelfSignedCertificate({ commonName: names[0], altNames: names })
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
