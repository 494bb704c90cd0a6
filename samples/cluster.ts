// One SMTP port spread over every core with node:cluster: the primary forks the workers, restarts
// any that die and shuts them down on a signal; each worker runs an SmtpServer delivering into a Maildir.
// Run: npm run build && node dist/samples/cluster.js [--workers N] [--port 2525] [--host H] [--maildir DIR] (--help)

import cluster, { type Worker } from 'node:cluster'
import { availableParallelism, hostname } from 'node:os'
import { SmtpServer } from '../lib/index.js'
import { integerFlag, readCommandLine, usageFailure } from './command-line.js'
import { Maildir } from './maildir.js'
import { deliverToMaildir } from './maildir-delivery.js'

const FLAGS = {
  workers: { type: 'string', default: String(availableParallelism()), help: 'worker processes (one per core by default)' },
  port: { type: 'string', default: '2525', help: 'port every worker serves (0: any free port)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  maildir: { type: 'string', default: './maildir', help: 'Maildir to deliver into (created if missing)' },
  domain: { type: 'string', default: hostname(), help: 'server name in the greeting and Received headers' },
} as const

// Replacement workers are told the port the first ones got, so `--port 0` keeps one port for good.
const PORT_ENV = 'SMTPWIRE_CLUSTER_PORT'

/** The command line, defaults filled in. */
interface Flags {
  workers: string
  port: string
  host: string
  maildir: string
  domain: string
}

/** A worker tells the primary it is accepting connections. */
interface ListeningReport {
  type: 'listening'
  address: string
  port: number
}

/** The primary tells a worker to finish its sessions and exit. */
interface ShutdownOrder {
  type: 'shutdown'
}

function isListeningReport(message: unknown): message is ListeningReport {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'listening'
}

function isShutdownOrder(message: unknown): message is ShutdownOrder {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'shutdown'
}

function log(text: string): void {
  process.stdout.write(`${new Date().toISOString()} ${text}\n`)
}

/** Forks the workers, announces the port once all listen, replaces the dead, stops them all on a signal. */
async function primary(values: Flags): Promise<void> {
  const count = integerFlag('workers', values.workers, 1, 1024)
  // Only the primary sets it, for replacements; one inherited from the shell must not override --port.
  delete process.env[PORT_ENV]
  // Checked here once, not in every worker. With port 0 the workers share the one random port
  // cluster picks; replacements are told it (PORT_ENV), so it survives every worker dying at once.
  integerFlag('port', values.port, 0, 65535)
  // Created once here; workers share it safely since Maildir names hold the pid.
  await new Maildir(values.maildir).create()

  const alive = new Set<Worker>()
  const listening = new Set<Worker>()
  let announced = false
  let stopping = false
  let exitCode = 0
  let port: number | null = null

  const fork = (): void => {
    const worker = cluster.fork(port === null ? {} : { [PORT_ENV]: String(port) })
    alive.add(worker)
    // An IPC failure (a send racing the worker's death) must not kill the primary; 'exit' follows.
    worker.on('error', (error: Error) => log(`worker ${worker.process.pid} error: ${error.message}`))
    worker.on('message', (message: unknown) => {
      if (!isListeningReport(message)) return
      listening.add(worker)
      port ??= message.port
      if (announced) {
        log(`worker ${worker.process.pid} listening`)
      } else if (listening.size === count) {
        announced = true
        const host = message.address.includes(':') ? `[${message.address}]` : message.address
        process.stdout.write(`smtpwire listening on ${host}:${message.port} (${count} workers)\n`)
      }
    })
  }

  const stop = (reason: string): void => {
    stopping = true
    log(`${reason}: stopping ${alive.size} workers`)
    for (const worker of alive) {
      // A worker still starting may not listen for messages yet; it has no session to finish either.
      if (listening.has(worker) && worker.isConnected()) worker.send({ type: 'shutdown' } satisfies ShutdownOrder)
      else worker.process.kill('SIGTERM')
    }
  }

  cluster.on('exit', (worker, code, signal) => {
    alive.delete(worker)
    const started = listening.delete(worker)
    const how = signal ? `signal ${signal}` : `code ${code}`
    if (stopping) {
      if (alive.size > 0) return
      log(`all workers stopped, exiting`)
      process.exit(exitCode)
    } else if (!started) {
      // It never listened (a port in use, say): a replacement would fail the same way, forever.
      log(`worker ${worker.process.pid} exited with ${how} before listening`)
      exitCode = 1
      stop('startup failed')
      if (alive.size === 0) process.exit(exitCode)
    } else {
      log(`worker ${worker.process.pid} exited with ${how}: starting a replacement`)
      fork()
    }
  })

  // Signal handlers go in before the listening line: whoever waits for that line may signal at once.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) return stop(signal)
    log(`${signal} again: exiting now`)
    for (const worker of alive) worker.process.kill('SIGKILL')
    process.exit(1)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  for (let i = 0; i < count; i++) fork()
}

/** One SmtpServer on the shared port, delivering into the Maildir; closes gracefully when told to. */
async function worker(values: Flags): Promise<void> {
  const maildir = new Maildir(values.maildir)
  const domain = values.domain
  const server = new SmtpServer({ domain }, (smtp) => {
    deliverToMaildir(smtp, maildir, {
      domain,
      onDelivered: ({ path, transaction }) => log(`worker ${process.pid} delivered ${transaction.size} octets: ${path}`),
    })
    smtp.on('error', ({ session, error, event }) => {
      log(`worker ${process.pid} ${session.id} error in ${event ?? 'transport'}: ${error.message}`)
    })
  })
  server.on('error', (error: Error) => log(`worker ${process.pid} server error: ${error.message}`))

  let closing = false
  const close = (): void => {
    if (closing) return
    closing = true
    void server.close().then(() => process.exit(0))
  }
  process.on('message', (message: unknown) => {
    if (isShutdownOrder(message)) close()
  })
  // Ctrl-C in a terminal signals the whole process group: the worker finishes its sessions too.
  process.on('SIGINT', close)
  process.on('SIGTERM', close)

  // Every worker listens on the same port: cluster hands them one shared socket from the primary.
  const address = await server.listen(integerFlag('port', process.env[PORT_ENV] ?? values.port, 0, 65535), values.host)
  process.send?.({ type: 'listening', address: address.address, port: address.port } satisfies ListeningReport)
}

const values = readCommandLine(
  'cluster',
  'node dist/samples/cluster.js [flags]',
  'One SMTP port served by several worker processes (node:cluster), delivering into a Maildir.\n' +
    'Dead workers are replaced; SIGINT/SIGTERM let every worker finish its sessions, then exit.',
  FLAGS,
)
const run = cluster.isPrimary ? primary : worker
run(values).catch((error: unknown) => usageFailure('cluster', error))
