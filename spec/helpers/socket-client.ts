// A minimal SMTP client over a real TCP socket for specs: writes lines, reads whole replies.
// Waits on socket events only (no timers).

import net from 'node:net'
import tls from 'node:tls'
import { ReplySplitter } from '../../lib/driver.js'

/** A raw SMTP client connection. */
export class SocketClient {
  private readonly splitter = new ReplySplitter()
  private received = ''
  private readonly replies: string[] = []
  private waiters: Array<() => void> = []
  /** True once the server closed the connection. */
  closed = false

  private constructor(public socket: net.Socket) {
    this.listen(socket)
  }

  private listen(socket: net.Socket): void {
    socket.setEncoding('utf8')
    socket.on('data', (text: string) => this.take(text))
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => undefined) // a reset shows up as 'close'
  }

  /** Connects with TLS from the start (SMTPS). */
  static connectTls(port: number, options: tls.ConnectionOptions = {}): Promise<SocketClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options })
      socket.once('secureConnect', () => resolve(new SocketClient(socket)))
      socket.once('error', reject)
    })
  }

  /** Starts TLS on this connection (after the server's 220 to STARTTLS); resolves once it is up. */
  upgrade(options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
    const plain = this.socket
    plain.removeAllListeners('data')
    plain.removeAllListeners('close')
    return new Promise((resolve, reject) => {
      const secure = tls.connect({ socket: plain, rejectUnauthorized: false, ...options })
      secure.once('secureConnect', () => {
        this.socket = secure
        this.listen(secure)
        resolve(secure)
      })
      secure.once('error', reject)
    })
  }

  /** Connects (from `localAddress` if given) and waits for the connection, not the greeting. */
  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<SocketClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, localAddress })
      socket.once('connect', () => resolve(new SocketClient(socket)))
      socket.once('error', reject)
    })
  }

  /** Writes lines, each with CRLF, in one write. */
  write(...lines: string[]): void {
    this.socket.write(lines.map((line) => `${line}\r\n`).join(''))
  }

  /** The next `count` replies (lines joined by \n); rejects if the connection closes first. */
  async read(count = 1): Promise<string[]> {
    while (this.replies.length < count) {
      if (this.closed) throw new Error(`connection closed after ${JSON.stringify(this.replies)}`)
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
    return this.replies.splice(0, count)
  }

  /** Sends one command and returns its reply. */
  async command(line: string): Promise<string> {
    this.write(line)
    const [reply] = await this.read()
    return reply as string
  }

  /** Resolves once the server has closed the connection. */
  async ended(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  /** Everything the server sent so far. */
  transcript(): string {
    return this.received
  }

  private take(text: string): void {
    this.received += text
    this.replies.push(...this.splitter.push(text))
    this.wake()
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake()
  }
}
