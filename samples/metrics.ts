// Prometheus metrics for the sample server, fed from smtpwire's diagnostics channels (the library
// knows nothing of Prometheus) and served as text at /metrics with prom-client. Opt-in.

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import {
  CHANNELS,
  type AuthDiagnostic,
  type ChannelName,
  type CommandDiagnostic,
  type ConnectionCloseDiagnostic,
  type DecisionDiagnostic,
  type MessageDiagnostic,
  type ReplyDiagnostic,
  type TlsHandshakeDiagnostic,
} from '../lib/index.js'

// Seconds: most commands take well under a millisecond; a listener that calls out may take seconds.
const DURATION_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]

/** smtpwire's metrics in a prom-client registry, counted from the moment it is made until `stop()`. */
export class SmtpMetrics {
  readonly registry = new Registry()
  private readonly subscriptions: Array<[ChannelName, (message: unknown) => void]> = []

  constructor() {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    const connections = new Counter({ name: 'smtpwire_connections_total', help: 'SMTP sessions opened', registers })
    const open = new Gauge({ name: 'smtpwire_connections_open', help: 'SMTP sessions open now', registers })
    const closed = new Counter({ name: 'smtpwire_connections_closed_total', help: 'SMTP sessions closed, by reason', labelNames: ['reason'], registers })
    const messages = new Counter({ name: 'smtpwire_messages_total', help: 'Messages answered or cut off, by result', labelNames: ['result'], registers })
    const bytes = new Counter({ name: 'smtpwire_message_bytes_total', help: 'Octets of accepted messages', registers })
    const replies = new Counter({ name: 'smtpwire_replies_total', help: 'Replies sent, by code', labelNames: ['code'], registers })
    const authFailures = new Counter({ name: 'smtpwire_auth_failures_total', help: 'AUTH attempts whose credentials were refused', registers })
    const handshakes = new Counter({ name: 'smtpwire_tls_handshakes_total', help: 'TLS handshakes, by mode and result', labelNames: ['mode', 'result'], registers })
    const commands = new Histogram({ name: 'smtpwire_command_duration_seconds', help: 'Time from a command line to its reply, by verb', labelNames: ['verb'], buckets: DURATION_BUCKETS, registers })
    const decisions = new Histogram({ name: 'smtpwire_listener_decision_duration_seconds', help: 'Time listeners took to decide, by event', labelNames: ['event'], buckets: DURATION_BUCKETS, registers })
    // Zero rather than absent, so a rate() over them works from the first scrape.
    for (const result of ['accepted', 'refused', 'failed']) messages.labels(result).inc(0)

    this.on(CHANNELS.connectionOpen, () => {
      connections.inc()
      open.inc()
    })
    this.on(CHANNELS.connectionClose, ({ reason }: ConnectionCloseDiagnostic) => {
      open.dec()
      closed.labels(reason).inc()
    })
    this.on(CHANNELS.reply, ({ reply }: ReplyDiagnostic) => replies.labels(String(reply.code)).inc())
    this.on(CHANNELS.command, ({ verb, duration }: CommandDiagnostic) => commands.labels(verb).observe(duration / 1000))
    this.on(CHANNELS.decision, ({ event, duration }: DecisionDiagnostic) => decisions.labels(event).observe(duration / 1000))
    this.on(CHANNELS.message, ({ result, size }: MessageDiagnostic) => {
      messages.labels(result).inc()
      if (result === 'accepted') bytes.inc(size)
    })
    this.on(CHANNELS.auth, ({ result }: AuthDiagnostic) => {
      if (result === 'refused') authFailures.inc()
    })
    this.on(CHANNELS.tlsHandshake, ({ implicit, error }: TlsHandshakeDiagnostic) => {
      handshakes.labels(implicit ? 'implicit' : 'starttls', error ? 'failed' : 'ok').inc()
    })
  }

  /** Stops counting. */
  stop(): void {
    for (const [name, handler] of this.subscriptions.splice(0)) unsubscribe(name, handler)
  }

  private on<T>(name: ChannelName, handler: (message: T) => void): void {
    const untyped = handler as (message: unknown) => void
    this.subscriptions.push([name, untyped])
    subscribe(name, untyped)
  }
}

/** An HTTP server for the metrics, listening. */
export interface MetricsEndpoint {
  readonly address: string
  readonly port: number
  readonly family: string
  close(): Promise<void>
}

/** Serves `metrics` as Prometheus text at `http://host:port/metrics`; anything else is 404. */
export async function serveMetrics(metrics: SmtpMetrics, port: number, host: string): Promise<MetricsEndpoint> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n')
      return
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(request.method === 'HEAD' ? undefined : text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  return {
    address: address.address,
    port: address.port,
    family: address.family,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
