// An SMTP server that parses every message with mailparser (nodemailer's MIME parser) as it
// arrives, through messageStream(), and prints its subject, addresses and attachment names.
// Run: npm run build && node dist/samples/parse-mail.js [--port 2525] [--host H] (--help)

import { hostname } from 'node:os'
import { pathToFileURL } from 'node:url'
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser'
import { messageStream, SmtpServer, type ListenAddress, type TransactionInfo } from '../lib/index.js'
import { integerFlag, readCommandLine, usageFailure } from './command-line.js'

/** mailparser keeps attachments in memory, so the sample takes smaller messages than the library's default. */
const MAX_MESSAGE_SIZE = 10 * 1024 * 1024

function addresses(field: AddressObject | AddressObject[] | undefined): string {
  if (field === undefined) return '(none)'
  return (Array.isArray(field) ? field : [field]).map((group) => group.text).join(', ')
}

/** What the sample prints for one parsed message: one line per fact, indented under the envelope. */
export function describeMessage(mail: ParsedMail, transaction: TransactionInfo): string {
  const recipients = transaction.to.map(({ address }) => `<${address.address}>`).join(' ')
  const attachments = mail.attachments.map((file) => `${file.filename ?? '(unnamed)'} (${file.contentType}, ${file.size} octets)`)
  return [
    `message ${transaction.id} from <${transaction.from?.address ?? ''}> to ${recipients}`,
    `  Subject: ${mail.subject ?? '(none)'}`,
    `  From: ${addresses(mail.from)}`,
    `  To: ${addresses(mail.to)}`,
    ...(mail.cc ? [`  Cc: ${addresses(mail.cc)}`] : []),
    `  Attachments: ${attachments.length > 0 ? attachments.join(', ') : '(none)'}`,
  ].join('\n')
}

/** How to run `startParseMailServer`. */
export interface ParseMailOptions {
  port?: number
  host?: string
  domain?: string
}

/**
 * Starts an SmtpServer that parses each message as it streams in and calls `onParsed` with it;
 * the 250 is sent once the message was parsed. A message mailparser cannot read gets `451 4.3.0`.
 */
export async function startParseMailServer(
  options: ParseMailOptions,
  onParsed: (mail: ParsedMail, transaction: TransactionInfo) => void,
): Promise<{ server: SmtpServer; address: ListenAddress }> {
  const server = new SmtpServer({ domain: options.domain ?? hostname(), maxMessageSize: MAX_MESSAGE_SIZE }, (smtp) => {
    messageStream(smtp, async (body, { transaction }) => {
      onParsed(await simpleParser(body), transaction)
    })
  })
  const address = await server.listen(options.port ?? 2525, options.host ?? '127.0.0.1')
  return { server, address }
}

async function main(): Promise<void> {
  const values = readCommandLine(
    'parse-mail',
    'node dist/samples/parse-mail.js [flags]',
    'An SMTP server that parses each message with mailparser and prints its subject, addresses and\n' +
      'attachment names. Nothing is stored. SIGINT/SIGTERM finish open sessions, then exit.',
    {
      port: { type: 'string', default: '2525', help: 'port to listen on (0: any free port)' },
      host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
      domain: { type: 'string', default: hostname(), help: 'server name in the greeting' },
    },
  )
  const { server, address } = await startParseMailServer(
    { port: integerFlag('port', values.port, 0, 65535), host: values.host, domain: values.domain },
    (mail, transaction) => process.stdout.write(`${describeMessage(mail, transaction)}\n`),
  )
  server.on('error', (error: Error) => process.stderr.write(`server error: ${error.message}\n`))
  const stop = (): void => void server.close().then(() => process.exit(0))
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  process.stdout.write(`smtpwire listening on ${shown}:${address.port}\n`)
}

// Only when run as a program: the spec imports describeMessage() and startParseMailServer().
const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main().catch((error: unknown) => usageFailure('parse-mail', error))
}
