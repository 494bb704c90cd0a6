// Graceful stop behind a load balancer, driven by its health checks (the JetStream front end's
// --health-port). The health checks come to a listener of their own, a second SmtpServer that
// serves nothing but checks, so no client session can be mistaken for one. On SIGTERM the front
// end starts *draining*: client sessions are served as before, but every health check is answered
// `421` (HAProxy's smtpchk counts it as failed). Once `checks` checks in a row were refused
// (HAProxy's `fall`, plus one more interval in which the connections it routed before marking the
// server DOWN were accepted), nothing new can be on its way and the drain ends; a client session
// that started since the previous refused check (accepted late) makes it wait for one more. A bound in time
// (`timeoutMs`) ends it too, so a front end with no balancer checking it still stops.

import { SmtpError, SmtpServer, type Logger } from '../lib/index.js'

/** How the health listener behaves and when draining ends. */
export interface HealthDrainOptions {
  readonly domain: string
  readonly logger: Logger
  /** Health checks to refuse while draining before it ends (HAProxy's `fall` + 1). */
  readonly checks: number
  /** Milliseconds draining may last at most. */
  readonly timeoutMs: number
}

/** The reply to a health check while draining: the check fails and the balancer takes the server out. */
const DRAINING = (): SmtpError => new SmtpError(421, 'Draining for shutdown, try another server', '4.3.2')

/** The health-check listener and the drain it drives. */
export class HealthDrain {
  readonly server: SmtpServer
  private draining: { refused: number; clients: boolean; done: () => void } | null = null

  constructor(private readonly options: HealthDrainOptions) {
    // Start/stop notices and warnings only: a check every few seconds is not worth a log line.
    const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: (text) => options.logger.warn(text), error: (text) => options.logger.error(text) }
    this.server = new SmtpServer(
      { domain: options.domain, logger: quiet, authPolicy: 'forbidden', tlsPolicy: 'forbidden', closeTimeout: 1000 },
      (smtp) => {
        smtp.on('connect', () => {
          if (!this.draining) return
          this.draining.refused++
          const { refused, clients, done } = this.draining
          this.draining.clients = false
          // A client session that started since the previous refused check was routed here before
          // HAProxy took us out and accepted late (a busy event loop): give it one more interval.
          if (refused >= options.checks && !clients) {
            options.logger.info(`draining: refused ${refused} health checks, closing`)
            done()
          }
          throw DRAINING()
        })
        // A health check says EHLO and leaves; this port takes no mail.
        smtp.on('sender', () => {
          throw new SmtpError(550, 'This port answers health checks only', '5.7.1')
        })
        smtp.on('error', () => undefined)
      },
    )
  }

  /** Tells it a client session started (on the client port): draining waits one more check after it. */
  clientStarted(): void {
    if (this.draining) this.draining.clients = true
  }

  /**
   * Starts draining; resolves once `checks` health checks in a row were refused, or `timeoutMs`
   * passed. Client sessions are not touched: closing them is the caller's next step.
   */
  drain(): Promise<'checks' | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.options.logger.warn(`draining: ${this.draining?.refused ?? 0} of ${this.options.checks} health checks refused after ${this.options.timeoutMs} ms, closing anyway`)
        resolve('timeout')
      }, this.options.timeoutMs)
      this.draining = {
        refused: 0,
        clients: false,
        done: () => {
          clearTimeout(timer)
          resolve('checks')
        },
      }
    })
  }
}
