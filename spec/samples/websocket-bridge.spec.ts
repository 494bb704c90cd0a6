// The WebSocket bridge sample: SMTP in WebSocket frames cut anywhere, Maildir delivery, the close
// of a session both ways, backpressure through bufferedAmount, and the command line.

import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { SmtpProtocol, type CloseEvent } from '../../lib/index.js'
import {
  bridge,
  HIGH_WATER_MARK,
  startWebSocketServer,
  type DeliveredMessage,
  type WebSocketBridgeServer,
} from '../../samples/websocket-bridge.js'
import { splitTrace } from '../helpers/sample-server.js'

const SAMPLE = fileURLToPath(new URL('../../samples/websocket-bridge.js', import.meta.url))

const EHLO_REPLY = [
  '250-localhost greets client.test',
  '250-PIPELINING',
  '250-SIZE 26214400',
  '250-8BITMIME',
  '250-SMTPUTF8',
  '250-ENHANCEDSTATUSCODES',
  '250-CHUNKING',
  '250 BINARYMIME',
]

// A leading dot, a line of only dots, UTF-8 (cut mid-character below), a long line.
const MESSAGE = Buffer.from(
  [
    'From: Alice <alice@example.net>',
    'To: Bob <bob@example.org>',
    'Subject: over a WebSocket',
    '',
    '.a line that starts with a dot',
    '..',
    'über naïve café',
    'x'.repeat(900),
    '',
  ].join('\r\n'),
)

/** A `ws` client that collects reply lines from whatever frames they arrive in. */
class WsClient {
  private buffered = ''
  private readonly lines: string[] = []
  private waiters: Array<() => void> = []
  /** The local port of the client's TCP connection (the server's `remotePort`). */
  localPort = 0
  /** Resolves with the close code once the connection is closed. */
  readonly closed: Promise<number>

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.buffered += data.toString('utf8')
      const parts = this.buffered.split('\r\n')
      this.buffered = parts.pop() ?? ''
      this.lines.push(...parts)
      for (const wake of this.waiters.splice(0)) wake()
    })
    this.closed = new Promise((resolve) => socket.once('close', (code: number) => resolve(code)))
    void this.closed.then(() => {
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  static connect(url: string): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url)
      const client = new WsClient(socket)
      socket.once('upgrade', (response) => (client.localPort = response.socket.localPort ?? 0))
      socket.once('open', () => resolve(client))
      socket.once('error', reject)
    })
  }

  /** The lines of the next `count` replies (a multi-line reply counts once). */
  async replies(count: number): Promise<string[]> {
    let state: number = this.socket.readyState
    for (;;) {
      let complete = 0
      const end = this.lines.findIndex((line) => /^\d{3}(?: |$)/.test(line) && ++complete === count)
      if (end >= 0) return this.lines.splice(0, end + 1)
      if (state === WebSocket.CLOSED) throw new Error(`closed after ${JSON.stringify(this.lines)}`)
      await new Promise<void>((resolve) => this.waiters.push(resolve))
      state = this.socket.readyState
    }
  }

  /** Sends each piece as one frame, binary unless it is a string. */
  send(...frames: Array<string | Buffer>): void {
    for (const frame of frames) this.socket.send(frame, { binary: typeof frame !== 'string' })
  }
}

/** Dot-stuffs a message and adds the end-of-data line, as a client sends it after DATA. */
function dataOf(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(message.toString('latin1').replace(/^\./gm, '..'), 'latin1'), Buffer.from('.\r\n')])
}

/** Cuts `bytes` at the given offsets. */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const edges = [0, ...offsets, bytes.length]
  return edges.slice(1).map((end, i) => bytes.subarray(edges[i], end))
}

describe('samples/websocket-bridge over a real WebSocket', () => {
  let maildir: string
  let server: WebSocketBridgeServer
  let delivered: DeliveredMessage[]
  let sessions: Array<{ smtp: SmtpProtocol; finished: Promise<CloseEvent> }>

  beforeEach(async () => {
    maildir = await mkdtemp(join(tmpdir(), 'smtpwire-ws-'))
    delivered = []
    sessions = []
    server = await startWebSocketServer(
      {
        port: 0,
        host: '127.0.0.1',
        maildir,
        fsync: false,
        onSession: (smtp, finished) => void sessions.push({ smtp, finished }),
      },
      (message) => delivered.push(message),
    )
  })

  afterEach(async () => {
    await server.close()
    await rm(maildir, { recursive: true, force: true })
  })

  it('delivers a message sent in frames cut at odd places byte for byte, and closes with 1000 after QUIT', async () => {
    const client = await WsClient.connect(server.url)
    expect(await client.replies(1)).to.deep.equal(['220 localhost ESMTP smtpwire'])
    client.send('EHLO client.test\r\n')
    expect(await client.replies(1)).to.deep.equal(EHLO_REPLY)
    // Two commands in one frame, then a command line split over two frames.
    client.send('MAIL FROM:<alice@example.net>\r\nRCPT TO:<bob@example.org>\r\n')
    expect(await client.replies(2)).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK'])
    client.send(Buffer.from('DA'), Buffer.from('TA\r\n'))
    expect(await client.replies(1)).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>'])

    const data = dataOf(MESSAGE)
    const crlf = data.indexOf('\r\n')
    const umlaut = data.indexOf(Buffer.from('ü'))
    const dotLine = data.indexOf('\r\n...') + 2
    // Between CR and LF, mid-character, before a stuffed dot, and inside the final CRLF.CRLF.
    const offsets = [1, crlf + 1, dotLine, dotLine + 1, umlaut + 1, data.length - 4, data.length - 3, data.length - 1]
    client.send(...cut(data, offsets))
    expect(await client.replies(1)).to.deep.equal(['250 2.0.0 Message accepted'])

    const names = await readdir(join(maildir, 'new'))
    expect(names).to.have.length(1)
    const file = await readFile(join(maildir, 'new', names[0] as string))
    const { trace, message } = splitTrace(file)
    expect(message.toString('latin1')).to.equal(MESSAGE.toString('latin1')) // one char per octet: byte for byte
    expect(trace).to.match(/^Return-Path: <alice@example\.net>\r\nReceived: /)
    expect(trace).to.include('from client.test (unknown [127.0.0.1])\r\n\tby localhost (smtpwire) with ESMTP id ')
    expect(trace).to.include('\tfor <bob@example.org>;')
    expect(await readdir(join(maildir, 'tmp'))).to.deep.equal([])
    expect(delivered.map((d) => d.path)).to.deep.equal([join(maildir, 'new', names[0] as string)])

    const session = sessions[0]?.smtp.session
    const facts = [session?.remoteAddress, session?.remotePort, session?.localPort]
    expect(facts).to.deep.equal(['127.0.0.1', client.localPort, server.address.port])

    client.send('QUIT\r\n')
    expect(await client.replies(1)).to.deep.equal(['221 2.0.0 localhost Service closing transmission channel'])
    expect(await client.closed).to.equal(1000)
    const closed = await sessions[0]?.finished
    expect([closed?.reason, closed?.aborted]).to.deep.equal(['quit', false])
  })

  it('leaves nothing in new/ or tmp/ when the client closes mid-DATA', async () => {
    const client = await WsClient.connect(server.url)
    await client.replies(1)
    client.send('EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n')
    expect((await client.replies(4)).at(-1)).to.equal('354 End data with <CR><LF>.<CR><LF>')
    // The 354 comes after the file was started in tmp/.
    expect(await readdir(join(maildir, 'tmp'))).to.have.length(1)
    client.send(Buffer.from('Subject: cut\r\n\r\npartial'))
    client.socket.close(1000)
    const closed = await sessions[0]?.finished
    expect([closed?.reason, closed?.aborted]).to.deep.equal(['peer', true])
    expect(await readdir(join(maildir, 'new'))).to.deep.equal([])
    expect(await readdir(join(maildir, 'tmp'))).to.deep.equal([])
    expect(delivered).to.deep.equal([])
  })

  it('ends idle sessions with 421 and close code 1000 when the server closes', async () => {
    const client = await WsClient.connect(server.url)
    await client.replies(1)
    client.send('EHLO client.test\r\n')
    await client.replies(1)
    await server.close()
    expect(await client.replies(1)).to.deep.equal(['421 4.3.2 Service shutting down, closing connection'])
    expect(await client.closed).to.equal(1000)
  })
})

/** Just enough of a ws WebSocket for bridge(): sends are queued until the spec flushes them. */
class FakeSocket extends EventEmitter {
  readyState: number = WebSocket.OPEN
  /** Octets some earlier, slow reader still has to take. */
  backlog = 0
  readonly sent: string[] = []
  private readonly queue: Array<{ length: number; callback: () => void }> = []
  pauses = 0
  resumes = 0
  closeCode: number | null = null

  get bufferedAmount(): number {
    return this.queue.reduce((sum, entry) => sum + entry.length, this.backlog)
  }

  send(data: Buffer, _options: { binary: boolean }, callback: () => void): void {
    this.sent.push(data.toString())
    this.queue.push({ length: data.length, callback })
  }

  /** The peer took the oldest queued frame: its callback runs. */
  flushOne(): void {
    this.queue.shift()?.callback()
  }

  pause(): void {
    this.pauses++
  }

  resume(): void {
    this.resumes++
  }

  close(code: number): void {
    this.closeCode = code
  }

  input(text: string): void {
    this.emit('message', Buffer.from(text), false)
  }
}

describe('samples/websocket-bridge backpressure', () => {
  it('stops reading while over HIGH_WATER_MARK octets wait to be sent, and resumes once send callbacks drain', () => {
    const socket = new FakeSocket()
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    bridge(socket as unknown as WebSocket, smtp, { remoteAddress: '192.0.2.1' })
    expect(socket.sent).to.deep.equal(['220 mx.test ESMTP smtpwire\r\n'])

    socket.backlog = HIGH_WATER_MARK
    socket.input('NOOP\r\n')
    expect(socket.sent).to.have.length(2)
    expect(socket.pauses).to.equal(1)
    // Frames ws had already read are taken, but not answered while the output is blocked.
    socket.input('NOOP\r\n')
    expect(socket.sent).to.have.length(2)

    socket.flushOne() // the greeting left; the backlog is still there
    expect(socket.sent).to.have.length(2)
    socket.backlog = 0
    socket.flushOne()
    expect(socket.sent).to.deep.equal(['220 mx.test ESMTP smtpwire\r\n', '250 OK\r\n', '250 OK\r\n'])
    expect(socket.resumes).to.equal(1)

    socket.input('QUIT\r\n')
    expect(socket.sent.at(-1)).to.equal('221 mx.test Service closing transmission channel\r\n')
    expect(socket.closeCode).to.equal(1000)
    expect(smtp.closed).to.equal(true)
  })

  it('ends the session, without writing, when the socket closes', () => {
    const socket = new FakeSocket()
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    const reasons: string[] = []
    smtp.on('close', ({ reason, aborted }) => void reasons.push(`${reason} ${aborted}`))
    bridge(socket as unknown as WebSocket, smtp, {})
    socket.input('EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n')
    socket.readyState = WebSocket.CLOSED
    socket.emit('close', 1006, Buffer.alloc(0))
    expect(reasons).to.deep.equal(['peer true'])
    expect(socket.closeCode).to.equal(null)
  })
})

describe('samples/websocket-bridge from the command line', () => {
  it('prints its ws:// URL, serves SMTP there, and exits 0 on SIGTERM after closing sessions with 421', async () => {
    const maildir = await mkdtemp(join(tmpdir(), 'smtpwire-ws-cli-'))
    const child = spawn(process.execPath, [SAMPLE, '--port', '0', '--maildir', maildir])
    try {
      let output = ''
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (text: Buffer) => {
          output += text.toString()
          const found = /smtpwire listening on (ws:\/\/127\.0\.0\.1:\d+)\n/.exec(output)
          if (found?.[1]) resolve(found[1])
        })
        void exited.then((code) => reject(new Error(`the sample exited with ${code}`)))
      })
      const client = await WsClient.connect(url)
      expect(await client.replies(1)).to.deep.equal(['220 localhost ESMTP smtpwire'])
      child.kill('SIGTERM')
      expect(await client.replies(1)).to.deep.equal(['421 Service shutting down, closing connection'])
      expect(await client.closed).to.equal(1000)
      expect(await exited).to.equal(0)
      expect(output).to.include('SIGTERM: finishing open sessions, then exiting')
    } finally {
      child.kill('SIGKILL')
      await rm(maildir, { recursive: true, force: true })
    }
  })
})
