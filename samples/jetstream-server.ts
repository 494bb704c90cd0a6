// The JetStream front end (`npm run start:jetstream`): an SMTP server that hands each accepted
// message to a NATS JetStream stream and answers 250 only after JetStream's publish ack (a quorum
// write on a replicated stream). Stateless, so several run behind HAProxy (see samples/scale/).

import { SmtpServer, type ListenAddress } from '../lib/index.js'
import { openBroker } from './jetstream-broker.js'
import { HealthDrain } from './health-drain.js'
import { readFrontEndFlags } from './jetstream-flags.js'
import { handOffToJetStream } from './jetstream-publisher.js'

async function main(): Promise<void> {
  const config = readFrontEndFlags(process.argv.slice(2))
  if (config.help !== null) return void process.stdout.write(config.help)
  const log = config.logger
  // Waits for a first NATS server rather than failing: front ends may start before the cluster.
  log.info(`connecting to NATS at ${config.servers.join(', ')}`)
  const broker = await openBroker(config, `smtpwire ${config.domain} pid ${process.pid}`, config.replicas)
  const maxPayload = broker.connection.info?.max_payload ?? 1024 * 1024

  // With --health-port, HAProxy checks a listener of its own, and SIGTERM drains through it first.
  const health = config.healthPort === null ? null : new HealthDrain({ domain: config.domain, logger: log, checks: config.drainChecks, timeoutMs: config.drainTimeoutMs })

  const server = new SmtpServer(
    {
      domain: config.domain,
      logger: log,
      maxMessageSize: config.maxMessageSize,
      maxConnections: config.maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      closeTimeout: config.closeTimeoutMs,
      authPolicy: 'forbidden',
      tlsPolicy: 'forbidden',
    },
    (smtp) => {
      handOffToJetStream(smtp, {
        domain: config.domain,
        jetstream: broker.jetstream,
        subject: config.subject,
        bodies: broker.bodies,
        bucket: config.bucket,
        maxPayload,
        timeoutMs: config.publishTimeoutMs,
        onPublished: ({ session, ack, object }) =>
          log.info(`[${session.id}] queued as ${ack.stream} #${ack.seq}${object ? ` (body in ${config.bucket}/${object.name})` : ''}`),
        onFailed: (session, error) => log.warn(`[${session.id}] hand-off failed, answering 451: ${error instanceof Error ? error.message : String(error)}`),
        onRetry: (session, attempt, error) =>
          log.warn(`[${session.id}] publish attempt ${attempt} not acknowledged (${error instanceof Error ? error.message : String(error)}), trying again`),
      })
      health?.clientStarted()
      // Listener failures are logged by the library; this keeps Node from warning about them too.
      smtp.on('error', () => undefined)
    },
  )
  server.on('error', (error: Error) => log.error(`server error: ${error.message}`))

  let stopping = false
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    if (health) {
      // Still serving clients; the health checks now fail, and once HAProxy has taken this front
      // end out (see samples/health-drain.ts) nothing can be in the accept queue when it closes.
      log.info(`${signal}: draining, refusing health checks until ${config.drainChecks} were refused`)
      await health.drain()
    }
    log.info(`${signal}: finishing open sessions, then exiting`)
    // Sessions finish first (their messages still need the broker), then the connection drains.
    await Promise.all([server.close(), health?.server.close()])
    await broker.connection.drain()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))

  const address = await server.listen(config.port, config.host, { proxyProtocol: config.proxyProtocol })
  process.stdout.write(`smtpwire listening on ${shown(address)}:${address.port}\n`)
  if (health && config.healthPort !== null) {
    const checks = await health.server.listen(config.healthPort, config.host)
    process.stdout.write(`smtpwire health checks on ${shown(checks)}:${checks.port}\n`)
  }
}

function shown(address: ListenAddress): string {
  return address.family === 'IPv6' ? `[${address.address}]` : address.address
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
