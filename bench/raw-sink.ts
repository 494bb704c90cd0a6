// The ceiling for the benchmarks: a raw TCP server that answers SMTP with canned replies and parses
// nothing it can skip. It scans only to stay in step (command lines, the end of DATA, BDAT sizes),
// so no Node SMTP server can be faster.

import net from 'node:net'

const GREETING = '220 sink.test ESMTP raw sink\r\n'
const EHLO = '250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-CHUNKING\r\n250 SIZE 0\r\n'
const OK = '250 2.0.0 OK\r\n'
const GO_AHEAD = '354 Go ahead\r\n'
const BYE = '221 2.0.0 Bye\r\n'
const TERMINATOR = Buffer.from('\r\n.\r\n')
// After the DATA line, its CRLF counts as the start of the terminator (an empty message is `.` CRLF).
const DATA_START = Buffer.from('\r\n')
// A partial command line is carried to the next chunk; a "line" longer than this is garbage.
const MAX_LINE = 4096

/** Upper-cased first four octets of a line: all the sink looks at. */
function verb(line: Buffer, start: number): string {
  return line.toString('latin1', start, start + 4).toUpperCase()
}

/**
 * One connection's state: what to skip and what to answer. Transport-free, so specs can feed it
 * any chunking.
 */
export class SinkSession {
  private mode: 'command' | 'data' | 'bdat' = 'command'
  private partial: Buffer | null = null
  private tail: Buffer = DATA_START
  private remaining = 0
  /** True once QUIT was answered: the caller closes the connection. */
  quit = false
  /** Messages taken so far: DATA ended, or the BDAT LAST chunk read. */
  messages = 0
  private last = false

  /** The greeting to send on connect. */
  readonly greeting = GREETING

  /** Takes a chunk of client input; returns the replies it completes, concatenated ('' for none). */
  feed(chunk: Buffer): string {
    let replies = ''
    let at = 0
    while (at < chunk.length && !this.quit) {
      if (this.mode === 'data') {
        const end = this.skipData(chunk, at)
        if (end === -1) return replies
        replies += OK
        this.messages++
        this.mode = 'command'
        at = end
      } else if (this.mode === 'bdat') {
        const take = Math.min(this.remaining, chunk.length - at)
        this.remaining -= take
        at += take
        if (this.remaining > 0) return replies
        replies += OK
        if (this.last) this.messages++
        this.mode = 'command'
      } else {
        const newline = chunk.indexOf(0x0a, at)
        if (newline === -1) {
          this.keepPartial(chunk.subarray(at))
          return replies
        }
        replies += this.command(chunk, at, newline)
        at = newline + 1
      }
    }
    return replies
  }

  /** Answers the line that ends at `newline`; switches mode for DATA and BDAT. */
  private command(chunk: Buffer, start: number, newline: number): string {
    let line = chunk
    let end = newline
    if (this.partial) {
      line = Buffer.concat([this.partial, chunk.subarray(start, newline + 1)])
      this.partial = null
      start = 0
      end = line.length - 1
    }
    switch (verb(line, start)) {
      case 'EHLO':
      case 'HELO':
      case 'LHLO':
        return EHLO
      case 'DATA':
        this.mode = 'data'
        this.tail = DATA_START
        return GO_AHEAD
      case 'BDAT': {
        // `BDAT <size> [LAST]`: only the size matters.
        const args = line.toString('latin1', start + 5, Math.min(end, start + 40))
        this.remaining = Number.parseInt(args, 10) || 0
        this.last = /\sLAST\b/i.test(args)
        // BDAT 0 has nothing to skip: its reply is due now.
        if (this.remaining === 0) {
          if (this.last) this.messages++
          return OK
        }
        this.mode = 'bdat'
        return ''
      }
      case 'QUIT':
        this.quit = true
        return BYE
      default:
        return OK
    }
  }

  private keepPartial(piece: Buffer): void {
    const length = (this.partial?.length ?? 0) + piece.length
    // A runaway line is dropped (the sink is for benchmarks, not for defending itself).
    if (length > MAX_LINE) this.partial = null
    else this.partial = this.partial ? Buffer.concat([this.partial, piece]) : Buffer.from(piece)
  }

  /** Looks for CRLF.CRLF from `at`, the 4-octet tail included; returns the offset after it, or -1. */
  private skipData(chunk: Buffer, at: number): number {
    const head = Buffer.concat([this.tail, chunk.subarray(at, at + 4)])
    const across = head.indexOf(TERMINATOR)
    if (across !== -1) return at + across + TERMINATOR.length - this.tail.length
    const inside = chunk.indexOf(TERMINATOR, at)
    if (inside !== -1) return inside + TERMINATOR.length
    // Copy the tail: keeping a view would pin the whole chunk in memory.
    if (chunk.length - at >= 4) this.tail = Buffer.from(chunk.subarray(chunk.length - 4))
    else this.tail = head.subarray(Math.max(0, head.length - 4))
    return -1
  }
}

/** A listening raw sink. */
export interface RawSink {
  readonly port: number
  /** Messages taken so far, over all connections. */
  messages(): number
  close(): Promise<void>
}

/** Starts a raw sink on `host:port` (0: any free port). */
export function startRawSink(port = 0, host = '127.0.0.1'): Promise<RawSink> {
  const sockets = new Set<net.Socket>()
  let messages = 0
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    const session = new SinkSession()
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
    socket.on('data', (chunk: Buffer) => {
      const before = session.messages
      const replies = session.feed(chunk)
      messages += session.messages - before
      if (replies) socket.write(replies)
      if (session.quit) socket.end()
    })
    socket.write(session.greeting)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      const address = server.address()
      resolve({
        port: typeof address === 'object' && address ? address.port : 0,
        messages: () => messages,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          }),
      })
    })
  })
}
