// The Maildir sample server (`npm start`): every extension smtpwire supports is on unless a flag
// turns it off. Each accepted message is on disk in <maildir>/new before its 250 is sent.

import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { formatReceivedHeader, SmtpServer, type SmtpOptions } from '../lib/index.js'
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
  'no-fsync': { type: 'boolean', default: false, help: 'skip fsync before the 250 (faster, not crash-safe)' },
  quiet: { type: 'boolean', default: false, help: 'print only the listening line and errors' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const

function usage(): string {
  const lines = Object.entries(FLAGS).map(([name, flag]) => {
    const value = flag.type === 'string' ? ` <${name.split('-').pop()}>` : ''
    const fallback = flag.type === 'string' ? ` (default ${flag.default})` : ''
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
  const options: SmtpOptions = {
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
  }
  const log = (text: string): void => {
    if (!values.quiet) process.stdout.write(`${new Date().toISOString()} ${text}\n`)
  }
  const maildir = new Maildir(values.maildir, !values['no-fsync'])
  await maildir.create()

  const server = new SmtpServer(options, (smtp) => {
    let delivery: Delivery | null = null
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

  const port = integer('port', values.port)
  const address = await server.listen(port, values.host)
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  process.stdout.write(`smtpwire listening on ${shown}:${address.port}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
