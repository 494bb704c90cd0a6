// SMTP over WebSocket frames: a browser or a service behind an HTTP proxy talks to the same
// SmtpProtocol a TCP socket uses, through a transport built on a `ws` WebSocket. Mail lands in a Maildir.
// Run: npm run build && node dist/samples/websocket-bridge.js [--port N] [--host H] [--maildir DIR] (--help)

import type { IncomingMessage } from 'node:http'
import { pathToFileURL } from 'node:url'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { SmtpProtocol, type CloseEvent, type SessionFacts, type SmtpTransport } from '../lib/index.js'
import { integerFlag, readCommandLine, usageFailure } from './command-line.js'
import { Maildir } from './maildir.js'
import { deliverToMaildir, type DeliveredMessage } from './maildir-delivery.js'

/** Octets queued on a WebSocket above which `write()` tells the protocol to stop reading. */
export const HIGH_WATER_MARK = 64 * 1024

// Frames are transport framing, not messages: a client splits a large message over many frames, so
// one frame never needs to be big, and ws's 100 MiB default would let one frame bypass maxMessageSize.
const MAX_FRAME = 1024 * 1024

/** ws delivers a Buffer by default, but a fragmented or ArrayBuffer message arrives in other shapes. */
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

/**
 * Runs `smtp` over `socket`: every incoming frame (binary or text, cut anywhere) is fed to the
 * protocol, and replies go out as binary frames. When more than `HIGH_WATER_MARK` octets wait
 * to be sent, the protocol stops reading until they drain. The protocol's end closes the socket
 * with code 1000; the socket's close ends the session. Clients should send binary frames: ws closes
 * the connection (1007) on a text frame that is not valid UTF-8, and message data may be 8-bit.
 */
export function bridge(socket: WebSocket, smtp: SmtpProtocol, facts: SessionFacts): void {
  let blocked = false
  let inFlight = 0
  const sent = (): void => {
    inFlight--
    // ws has no 'drain' event: each send's callback is where the queue can be seen to have shrunk.
    // The last callback always unblocks, so pings or pongs ws queued itself can never stall us.
    if (blocked && (socket.bufferedAmount <= HIGH_WATER_MARK / 2 || inFlight === 0)) {
      blocked = false
      smtp.drained()
    }
  }
  const transport: SmtpTransport = {
    write(chunk) {
      // Closing or closed: ws would only fail the send, and 'close' is on its way to end the session.
      if (socket.readyState !== WebSocket.OPEN) return true
      inFlight++
      socket.send(chunk, { binary: true }, sent)
      if (socket.bufferedAmount > HIGH_WATER_MARK) blocked = true
      return !blocked
    },
    end() {
      // close() queues the close frame behind the replies already sent, so the last reply arrives.
      if (socket.readyState === WebSocket.OPEN) socket.close(1000)
    },
    pause() {
      socket.pause()
    },
    resume() {
      socket.resume()
    },
  }
  socket.on('message', (data) => {
    smtp.feed(toBuffer(data))
  })
  // A WebSocket has no half-close: ws answers a client's close frame at once, so once 'close' comes
  // nothing can be written any more. That is destroy(), never end() (which still expects to reply).
  socket.on('close', () => smtp.destroy())
  socket.on('error', (error) => smtp.destroy(error))
  smtp.open(transport, facts)
}

/** Where a connection came from, as the HTTP upgrade request saw it. */
function factsOf(request: IncomingMessage): SessionFacts {
  const { socket } = request
  return {
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    connectedAt: new Date(),
  }
}

export type { DeliveredMessage } from './maildir-delivery.js'

/** How to run `startWebSocketServer`. */
export interface WebSocketBridgeOptions {
  /** Port to listen on (default 8025; 0: any free port). */
  port?: number
  /** Address to listen on (default 127.0.0.1). */
  host?: string
  /** Maildir to deliver into, created if missing (default ./maildir). */
  maildir?: string
  /** Server name in the greeting and Received headers (default localhost). */
  domain?: string
  /** Flush each message to disk before its 250 (default true). */
  fsync?: boolean
  /**
   * Called for each new session before its greeting. `finished` resolves once the session closed
   * and an unfinished message it left (if any) was removed from tmp/.
   */
  onSession?: (smtp: SmtpProtocol, finished: Promise<CloseEvent>) => void
}

/** A running WebSocket bridge server. */
export interface WebSocketBridgeServer {
  readonly wss: WebSocketServer
  /** The bound address; `url` is the same as a ws:// URL. */
  readonly address: { address: string; port: number; family: string }
  readonly url: string
  /**
   * Stops accepting connections, ends idle sessions with 421 and lets a message being received
   * finish and be acknowledged; resolves once every session is over and the server is closed.
   */
  close(): Promise<void>
}

/**
 * Starts a WebSocket server on which every connection is one SMTP session delivering into a
 * Maildir. `onMessage` is told about each delivered message.
 * @example
 * const server = await startWebSocketServer({ port: 0, maildir: './maildir' })
 * console.log(server.url) // → ws://127.0.0.1:54321
 * await server.close()
 */
export async function startWebSocketServer(
  options: WebSocketBridgeOptions = {},
  onMessage?: (delivered: DeliveredMessage) => void,
): Promise<WebSocketBridgeServer> {
  const domain = options.domain ?? 'localhost'
  const maildir = new Maildir(options.maildir ?? './maildir', options.fsync ?? true)
  await maildir.create()
  const sessions = new Map<SmtpProtocol, Promise<CloseEvent>>()

  const wss = new WebSocketServer({
    port: options.port ?? 8025,
    host: options.host ?? '127.0.0.1',
    maxPayload: MAX_FRAME,
  })
  await new Promise<void>((resolve, reject) => {
    wss.once('error', reject)
    wss.once('listening', () => {
      wss.off('error', reject)
      resolve()
    })
  })
  // An 'error' with no listener would throw; one after listening (rare) must not kill the server.
  wss.on('error', (error) => process.emitWarning(error))

  wss.on('connection', (socket, request) => {
    const smtp = new SmtpProtocol({ domain })
    deliverToMaildir(smtp, maildir, { domain, onDelivered: onMessage })
    const finished = new Promise<CloseEvent>((resolve) => {
      smtp.on('close', (event) => void smtp.settled().then(() => resolve(event)))
    })
    sessions.set(smtp, finished)
    void finished.then(() => sessions.delete(smtp))
    options.onSession?.(smtp, finished)
    bridge(socket, smtp, factsOf(request))
  })

  const bound = wss.address()
  if (bound === null || typeof bound === 'string') throw new Error('the WebSocket server has no TCP address')
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
  let closing: Promise<void> | null = null
  return {
    wss,
    address: { address: bound.address, port: bound.port, family: bound.family },
    url: `ws://${host}:${bound.port}`,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => wss.close(() => resolve()))
        const open = [...sessions.values()]
        for (const smtp of sessions.keys()) smtp.shutdown()
        await Promise.all(open)
        await stopped
      })()
      return closing
    },
  }
}

const FLAGS = {
  port: { type: 'string', default: '8025', help: 'port to listen on (0: any free port)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  maildir: { type: 'string', default: './maildir', help: 'Maildir to deliver into (created if missing)' },
  domain: { type: 'string', default: 'localhost', help: 'server name in the greeting and Received headers' },
} as const

async function main(): Promise<void> {
  const values = readCommandLine(
    'websocket-bridge',
    'node dist/samples/websocket-bridge.js [flags]',
    'SMTP over WebSocket: every connection to the printed ws:// URL is one SMTP session (binary\n' +
      'frames, cut anywhere), delivering into a Maildir. SIGINT/SIGTERM finish open sessions, then exit.',
    FLAGS,
  )
  const port = integerFlag('port', values.port, 0, 65535)
  const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`)
  const server = await startWebSocketServer(
    {
      port,
      host: values.host,
      maildir: values.maildir,
      domain: values.domain,
      onSession(smtp) {
        smtp.on('error', ({ session, error, event }) => {
          log(`${session.id} error in ${event ?? 'transport'}: ${error.message}`)
        })
      },
    },
    ({ path, session, transaction }) => {
      const from = transaction.from?.address ?? ''
      log(`${session.id} delivered ${transaction.size} octets from <${from}> over WebSocket: ${path}`)
    },
  )

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
  process.stdout.write(`smtpwire listening on ${server.url}\n`)
}

// Only when run as a program: a spec imports this module for bridge() and startWebSocketServer().
const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main().catch((error: unknown) => usageFailure('websocket-bridge', error))
}
