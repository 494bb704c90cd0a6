// The JetStream front end (`npm run start:jetstream`): an SMTP server that hands each accepted
// message to a NATS JetStream stream and answers 250 only after JetStream's publish ack (a quorum
// write on a replicated stream). Stateless, so several run behind HAProxy (see samples/scale/).

import { SmtpServer } from '../lib/index.js'
import { openBroker } from './jetstream-broker.js'
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
      // Listener failures are logged by the library; this keeps Node from warning about them too.
      smtp.on('error', () => undefined)
    },
  )
  server.on('error', (error: Error) => log.error(`server error: ${error.message}`))

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    log.info(`${signal}: finishing open sessions, then exiting`)
    // Sessions finish first (their messages still need the broker), then the connection drains.
    void server
      .close()
      .then(() => broker.connection.drain())
      .then(() => process.exit(0))
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  const address = await server.listen(config.port, config.host, { proxyProtocol: config.proxyProtocol })
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  process.stdout.write(`smtpwire listening on ${shown}:${address.port}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
