// One benchmark server in its own process: `node dist/bench/server-child.js smtpwire|smtp-server|raw`.
// Each discards what it receives and counts the messages it took, prints `listening on PORT`,
// answers the parent's IPC requests (see ChildRequest), and exits on SIGTERM or when the parent
// goes away.

import { pathToFileURL } from 'node:url'
import { SMTPServer } from 'smtp-server'
import { SmtpServer, type LineEndingPolicy } from '../lib/index.js'
import { startRawSink } from './raw-sink.js'

/**
 * The servers compare.ts measures. smtpwire-keep is smtpwire with `lineEndings: 'keep'` (no bare
 * CR/LF check), for case 2's BDAT only: beside smtpwire it shows what the check costs.
 */
export const SERVER_KINDS = ['smtpwire', 'smtp-server', 'raw', 'smtpwire-keep'] as const
/** One of SERVER_KINDS. */
export type ServerKind = (typeof SERVER_KINDS)[number]

// Far above the benchmark's largest message: the limit must never be what is measured.
const MAX_SIZE = 1024 * 1024 * 1024

/**
 * What the parent may ask over IPC; the child answers `{ request, value }`. gc: collect garbage
 * (value 0); count: messages taken so far; mark: the monotonic clock in µs (process.hrtime, the
 * clock V8's CPU profiler stamps its samples with), so a parent can cut a window out of a profile.
 */
export type ChildRequest = 'gc' | 'count' | 'mark'

/** The child's answer to a ChildRequest. */
export interface ChildReply {
  readonly request: ChildRequest
  readonly value: number
}

interface Started {
  readonly port: number
  messages(): number
  close(): Promise<void>
}

/** Starts smtpwire with a discarding handler; resolves with the port and a close function. */
async function startSmtpwire(lineEndings: LineEndingPolicy = 'reject'): Promise<Started> {
  let messages = 0
  const server = new SmtpServer(
    { domain: 'bench.test', collectBody: false, maxMessageSize: MAX_SIZE, maxConnections: 0, lineEndings },
    (smtp) => {
      smtp.on('dataChunk', () => undefined)
      smtp.on('message', () => {
        messages++
        return true
      })
    },
  )
  const { port } = await server.listen(0, '127.0.0.1')
  return { port, messages: () => messages, close: () => server.close() }
}

/** Starts nodemailer's smtp-server with an onData that drains the stream. */
async function startSmtpServer(): Promise<Started> {
  let messages = 0
  const server = new SMTPServer({
    name: 'bench.test',
    size: MAX_SIZE,
    disabledCommands: ['AUTH', 'STARTTLS'],
    // smtpwire does no reverse DNS unless asked; neither may this one.
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => undefined)
      stream.on('end', () => {
        messages++
        callback()
      })
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return { port, messages: () => messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

async function main(): Promise<void> {
  const kind = process.argv[2]
  const start = {
    smtpwire: () => startSmtpwire(),
    'smtpwire-keep': () => startSmtpwire('keep'),
    'smtp-server': startSmtpServer,
    raw: (): Promise<Started> => startRawSink(),
  }[kind ?? '']
  if (!start) throw new Error(`usage: server-child.js ${SERVER_KINDS.join('|')}`)
  const started = await start()
  process.on('message', (request: unknown) => {
    let value = 0
    if (request === 'count') value = started.messages()
    else if (request === 'mark') value = Number(process.hrtime.bigint() / 1000n)
    else globalThis.gc?.()
    const reply: ChildReply = { request: request === 'count' || request === 'mark' ? request : 'gc', value }
    process.send?.(reply)
  })
  // Without a parent there is nobody to measure for.
  process.on('disconnect', () => process.exit(0))
  process.on('SIGTERM', () => void started.close().finally(() => process.exit(0)))
  process.stdout.write(`listening on ${started.port}\n`)
}

// Imported (by compare.ts, for the kinds) it starts nothing.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}
