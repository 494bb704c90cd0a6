// The command lines of the JetStream samples: the SMTP front end (`npm run start:jetstream`) and
// the Maildir consumer (`npm run deliver:jetstream`), every flag with its help text.

import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { consoleLogger, isLevel } from './console-logger.js'
import type { Logger } from '../lib/index.js'

interface Flag {
  readonly type: 'string' | 'boolean'
  readonly default?: string | boolean
  readonly help: string
}

const BROKER = {
  nats: { type: 'string', default: 'nats://127.0.0.1:4222', help: 'NATS server URL(s), comma-separated (any member of the cluster)' },
  stream: { type: 'string', default: 'MAIL', help: 'JetStream stream holding the accepted messages (created if missing)' },
  subject: { type: 'string', default: 'mail.inbound', help: 'subject the records are published on' },
  'object-bucket': { type: 'string', default: 'MAIL_BODIES', help: 'object store bucket for messages too big for one NATS message' },
  'log-level': { type: 'string', default: 'info', help: 'debug, info, warn, error or silent' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, Flag>

const FRONT_END = {
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'string', default: '2525', help: 'port to listen on (0: any free port)' },
  domain: { type: 'string', default: hostname(), help: 'server name in the greeting and Received headers' },
  replicas: { type: 'string', default: '1', help: 'replicas of the stream and the bucket when this creates them (3 on a cluster)' },
  'publish-timeout': { type: 'string', default: '10', help: 'seconds to wait for the JetStream ack, retries included, before 451 4.3.0' },
  'proxy-protocol': { type: 'boolean', default: false, help: 'expect a PROXY protocol v1/v2 header on every connection (behind HAProxy)' },
  'max-message-size': { type: 'string', default: String(25 * 1024 * 1024), help: 'largest message in octets (0: no limit)' },
  'max-connections': { type: 'string', default: '1000', help: 'sessions open at once (0: no limit)' },
  'max-connections-per-address': { type: 'string', default: '20', help: 'sessions open at once from one client address (0: no limit)' },
  'close-timeout': { type: 'string', default: '30', help: 'seconds to let sessions finish on SIGTERM before cutting them off' },
  'health-port': { type: 'string', help: "port for HAProxy's health checks (`check port N`), plain SMTP on --host; with it SIGTERM drains first (0: any free port)" },
  'drain-checks': { type: 'string', default: '3', help: "health checks refused on SIGTERM before closing (HAProxy's fall + 1); one more while clients still arrive" },
  'drain-timeout': { type: 'string', default: '15', help: 'seconds draining may last at most (about 3 × inter × fall), then it closes anyway' },
  ...BROKER,
} as const satisfies Record<string, Flag>

const CONSUMER = {
  maildir: { type: 'string', default: './maildir', help: 'Maildir to deliver into (created if missing)' },
  durable: { type: 'string', default: 'maildir', help: 'durable pull consumer name (created if missing)' },
  batch: { type: 'string', default: '100', help: 'records fetched per pull' },
  parallel: { type: 'string', default: '16', help: 'records written to the Maildir at once' },
  'until-empty': { type: 'boolean', default: false, help: 'exit once every record is delivered and acknowledged' },
  'no-fsync': { type: 'boolean', default: false, help: 'skip fsync before the ack (faster, not crash-safe)' },
  ...BROKER,
} as const satisfies Record<string, Flag>

function usage(command: string, title: string, flags: Record<string, Flag>): string {
  const lines = Object.entries(flags).map(([name, flag]) => {
    const value = flag.type === 'string' ? ` <${name.split('-').pop()}>` : ''
    const fallback = flag.type === 'string' && flag.default !== undefined ? ` (default ${String(flag.default)})` : ''
    return `  --${`${name}${value}`.padEnd(36)} ${flag.help}${fallback}`
  })
  return `Usage: ${command} -- [flags]\n\n${title}\n\n${lines.join('\n')}\n`
}

function integer(name: string, text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${text}`)
  return value
}

function level(text: string): Logger {
  if (!isLevel(text)) throw new Error(`--log-level must be debug, info, warn, error or silent, got ${text}`)
  return consoleLogger(text)
}

/** Where the records go: the broker, the stream and the bucket. */
export interface BrokerConfig {
  readonly servers: readonly string[]
  readonly stream: string
  readonly subject: string
  readonly bucket: string
  readonly logger: Logger
}

/** The front end's command line. */
export interface FrontEndConfig extends BrokerConfig {
  readonly help: string | null
  readonly host: string
  readonly port: number
  readonly domain: string
  readonly replicas: number
  readonly publishTimeoutMs: number
  readonly proxyProtocol: boolean
  readonly maxMessageSize: number
  readonly maxConnections: number
  readonly maxConnectionsPerAddress: number
  readonly closeTimeoutMs: number
  /** The health-check port, or null: no health listener, and SIGTERM closes at once. */
  readonly healthPort: number | null
  readonly drainChecks: number
  readonly drainTimeoutMs: number
}

/** The consumer's command line. */
export interface ConsumerConfig extends BrokerConfig {
  readonly help: string | null
  readonly maildir: string
  readonly durable: string
  readonly batch: number
  readonly parallel: number
  readonly untilEmpty: boolean
  readonly fsync: boolean
}

function broker(values: { nats: string; stream: string; subject: string; 'object-bucket': string; 'log-level': string }): BrokerConfig {
  const servers = values.nats.split(',').map((url) => url.trim()).filter((url) => url !== '')
  if (servers.length === 0) throw new Error('--nats needs at least one URL')
  return { servers, stream: values.stream, subject: values.subject, bucket: values['object-bucket'], logger: level(values['log-level']) }
}

/** Reads the front end's flags. @throws Error with a message for the user on a bad flag. */
export function readFrontEndFlags(argv: readonly string[]): FrontEndConfig {
  const { values } = parseArgs({ args: [...argv], options: FRONT_END, strict: true })
  const help = values.help ? usage('npm run start:jetstream', 'An SMTP front end that answers 250 only once NATS JetStream has the message.', FRONT_END) : null
  const replicas = integer('replicas', values.replicas)
  if (replicas < 1 || replicas > 5) throw new Error(`--replicas must be 1 to 5, got ${values.replicas}`)
  const drainChecks = integer('drain-checks', values['drain-checks'])
  if (drainChecks < 1) throw new Error('--drain-checks must be at least 1')
  return {
    ...broker(values),
    help,
    host: values.host,
    port: integer('port', values.port),
    domain: values.domain,
    replicas,
    publishTimeoutMs: integer('publish-timeout', values['publish-timeout']) * 1000,
    proxyProtocol: values['proxy-protocol'],
    maxMessageSize: integer('max-message-size', values['max-message-size']),
    maxConnections: integer('max-connections', values['max-connections']),
    maxConnectionsPerAddress: integer('max-connections-per-address', values['max-connections-per-address']),
    closeTimeoutMs: integer('close-timeout', values['close-timeout']) * 1000,
    healthPort: values['health-port'] === undefined ? null : integer('health-port', values['health-port']),
    drainChecks,
    drainTimeoutMs: integer('drain-timeout', values['drain-timeout']) * 1000,
  }
}

/** Reads the consumer's flags. @throws Error with a message for the user on a bad flag. */
export function readConsumerFlags(argv: readonly string[]): ConsumerConfig {
  const { values } = parseArgs({ args: [...argv], options: CONSUMER, strict: true })
  const help = values.help ? usage('npm run deliver:jetstream', 'Delivers the JetStream records into a Maildir; acks each once its file is in new/.', CONSUMER) : null
  const batch = integer('batch', values.batch)
  if (batch < 1) throw new Error('--batch must be at least 1')
  const parallel = integer('parallel', values.parallel)
  if (parallel < 1) throw new Error('--parallel must be at least 1')
  return {
    ...broker(values),
    help,
    maildir: values.maildir,
    durable: values.durable,
    batch,
    parallel,
    untilEmpty: values['until-empty'],
    fsync: !values['no-fsync'],
  }
}
