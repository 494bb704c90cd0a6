// The Maildir sample server (`npm start`): every extension smtpwire supports is on unless a flag
// turns it off (see server-flags.ts, or --help). Each accepted message is on disk in
// <maildir>/new before its 250 is sent; SIGINT/SIGTERM finish open sessions, then exit.

import { randomBytes } from 'node:crypto'
import { SmtpServer } from '../lib/index.js'
import { AuthLockout } from './auth-lockout.js'
import { heldLogger } from './console-logger.js'
import { Maildir } from './maildir.js'
import { deliverToMaildir } from './maildir-delivery.js'
import { serveMetrics, SmtpMetrics } from './metrics.js'
import { readFlags, usage } from './server-flags.js'

async function main(): Promise<void> {
  let config: ReturnType<typeof readFlags>
  try {
    config = readFlags(process.argv.slice(2))
  } catch (error) {
    // A usage error: one line and exit code 2 (the shell's convention), as the other samples do.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(2)
  }
  if (config.help) {
    process.stdout.write(usage())
    return
  }
  const { users, tokens } = config
  // Everything logged before the listening lines waits for them: they come first on stdout.
  const held = heldLogger(config.server.logger)
  const options = { ...config.server, logger: held.logger }
  const log = held.logger
  const lockout = new AuthLockout(config.authLockout, 15 * 60_000)
  const maildir = new Maildir(config.maildir, config.fsync)
  await maildir.create()
  // Counting starts before the first listener, so no session is missed.
  const metrics = config.metrics ? new SmtpMetrics() : null

  const server = new SmtpServer(options, (smtp) => {
    lockout.watch(smtp)
    smtp.on('auth', ({ credentials }) => {
      switch (credentials.mechanism) {
        case 'CRAM-MD5':
          // An unknown user still costs a digest check, so timing does not tell users apart.
          return credentials.verify(users.get(credentials.username) ?? randomBytes(16).toString('hex'))
        case 'XOAUTH2':
          return tokens.get(credentials.username) === credentials.token
        default:
          return users.get(credentials.username) === credentials.password
      }
    })
    deliverToMaildir(smtp, maildir, {
      domain: options.domain,
      onDelivered: ({ path, session }) => log.info(`[${session.id}] stored ${path}`),
      onDiscarded: (session, reason) => log.info(`[${session.id}] discarded an unfinished message (${reason})`),
    })
    // Listener failures are logged by the library; this keeps Node from warning about them too.
    smtp.on('error', () => undefined)
  })
  server.on('error', (error: Error) => log.error(`server error: ${error.message}`))

  // Signal handlers go in before the listening line: whoever waits for that line may signal at once.
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    log.info(`${signal}: finishing open sessions, then exiting`)
    void server.close().then(() => process.exit(0))
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  for (const notice of config.notices) log.info(notice)
  for (const listener of config.listeners) {
    const address = await server.listen(listener.port, listener.host, listener.options)
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
    process.stdout.write(`smtpwire listening on ${shown}:${address.port}\n`)
  }
  held.release()
  // After the listening line(s), which whoever started us waits for first.
  if (metrics && config.metrics) {
    const endpoint = await serveMetrics(metrics, config.metrics.port, config.metrics.host)
    const shown = endpoint.family === 'IPv6' ? `[${endpoint.address}]` : endpoint.address
    process.stdout.write(`smtpwire metrics on ${shown}:${endpoint.port}\n`)
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
