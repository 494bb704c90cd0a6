import { expect } from 'chai'
import net from 'node:net'
import sinon from 'sinon'
import type { SessionInfo } from '../lib/session-info.js'
import type { SmtpProtocol } from '../lib/protocol.js'
import { SmtpServer, type SessionHandler } from '../lib/server.js'
import { deferred } from './helpers/ladder.js'
import { SocketClient } from './helpers/socket-client.js'

describe('SmtpServer', () => {
  let server: SmtpServer | null = null

  afterEach(async () => {
    await server?.close()
    server = null
  })

  async function start(handler: SessionHandler = () => undefined, options = {}): Promise<number> {
    server = new SmtpServer({ domain: 'mx.test', ...options }, handler)
    const { port } = await server.listen(0, '127.0.0.1')
    return port
  }

  it('greets, takes a message over TCP and ends the connection after QUIT', async () => {
    const bodies: string[] = []
    const port = await start((smtp) => smtp.on('message', ({ body }) => void bodies.push(String(body))))
    const client = await SocketClient.connect(port)
    expect(await client.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    client.write('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')
    const replies = await client.read(4)
    expect(replies.slice(1)).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK', '354 End data with <CR><LF>.<CR><LF>'])
    client.write('Subject: over TCP', '', 'hello', '.', 'QUIT')
    expect(await client.read(2)).to.deep.equal(['250 2.0.0 Message accepted', '221 2.0.0 mx.test Service closing transmission channel'])
    await client.ended()
    expect(bodies).to.deep.equal(['Subject: over TCP\r\n\r\nhello\r\n'])
  })

  it('tells listeners where the client is', async () => {
    let session: SessionInfo | null = null
    const port = await start((smtp) => smtp.on('ehlo', (e) => void (session = e.session)))
    const client = await SocketClient.connect(port)
    await client.read()
    await client.command('EHLO client.test')
    expect(session).to.include({ remoteAddress: '127.0.0.1', remotePort: client.socket.localPort, localAddress: '127.0.0.1', localPort: port })
    expect(session!.connectedAt).to.be.instanceOf(Date)
    client.socket.destroy()
  })

  it('gives the socket\'s own local address and port, on a listener bound to one address or to all', async () => {
    const seen: Array<{ session: SessionInfo; socket: { address: string | undefined; port: number | undefined } }> = []
    server = new SmtpServer({ domain: 'mx.test' }, (smtp, stream) => {
      const socket = stream as net.Socket
      smtp.on('connect', ({ session }) => void seen.push({ session, socket: { address: socket.localAddress, port: socket.localPort } }))
    })
    const one = await server.listen(0, '127.0.0.1')
    const all = await server.listen(0)
    for (const port of [one.port, all.port]) {
      const client = await SocketClient.connect(port)
      await client.read()
      client.socket.destroy()
    }
    expect(seen).to.have.length(2)
    for (const { session, socket } of seen) {
      expect({ address: session.localAddress, port: session.localPort }).to.deep.equal(socket)
    }
    expect(seen[0]?.session.localPort).to.equal(one.port)
    expect(seen[1]?.session.localPort).to.equal(all.port)
  })

  it('resolves its options once per listener: every session shares them', async () => {
    const sessions: SmtpProtocol[] = []
    const port = await start((smtp) => void sessions.push(smtp))
    const clients = [await SocketClient.connect(port), await SocketClient.connect(port)]
    for (const client of clients) await client.read()
    expect(sessions).to.have.length(2)
    expect(sessions[0]!.options).to.equal(sessions[1]!.options)
    expect(sessions[0]!.options.domain).to.equal('mx.test')
    for (const client of clients) client.socket.destroy()
  })

  it('listens on several ports at once', async () => {
    const port = await start()
    const second = await server!.listen(0, '127.0.0.1')
    expect(server!.addresses().map((a) => a.port)).to.deep.equal([port, second.port])
    const client = await SocketClient.connect(second.port)
    expect(await client.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    client.socket.destroy()
  })

  it('rejects listen() when the port is taken', async () => {
    const port = await start()
    const other = new SmtpServer({}, () => undefined)
    let failure: unknown
    try {
      await other.listen(port, '127.0.0.1')
    } catch (error) {
      failure = error
    }
    expect((failure as { code?: string }).code).to.equal('EADDRINUSE')
  })

  describe('close()', () => {
    it('answers 421 to idle sessions, refuses new connections, and resolves when all are gone', async () => {
      const port = await start()
      const client = await SocketClient.connect(port)
      await client.read()
      await client.command('EHLO client.test')
      await server!.close()
      expect(await client.read()).to.deep.equal(['421 4.3.2 Service shutting down, closing connection'])
      await client.ended()
      const refused = await new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1')
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? ''))
        socket.on('connect', () => resolve('connected'))
      })
      expect(refused).to.equal('ECONNREFUSED')
    })

    it('lets a message in DATA finish and be acknowledged before the 421', async () => {
      const accepted = deferred<void>()
      const messageSeen = deferred<void>()
      const port = await start((smtp) =>
        smtp.on('message', async () => {
          messageSeen.resolve()
          await accepted.promise
        }),
      )
      const client = await SocketClient.connect(port)
      await client.read()
      client.write('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')
      await client.read(4)
      client.write('Subject: in flight', '', 'body')
      const closed = server!.close()
      client.write('.')
      await messageSeen.promise
      accepted.resolve()
      expect(await client.read(2)).to.deep.equal(['250 2.0.0 Message accepted', '421 4.3.2 Service shutting down, closing connection'])
      await closed
    })
  })

  it('survives a client that resets mid-DATA and reports the aborted transaction', async () => {
    const closes: Array<{ reason: string; aborted: boolean }> = []
    const closed = deferred<void>()
    const port = await start((smtp) =>
      smtp.on('close', ({ reason, aborted }) => {
        closes.push({ reason, aborted })
        closed.resolve()
      }),
    )
    const client = await SocketClient.connect(port)
    await client.read()
    client.write('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'partial')
    await client.read(4)
    client.socket.resetAndDestroy()
    await closed.promise
    expect(closes).to.deep.equal([{ reason: 'peer', aborted: true }])
    const next = await SocketClient.connect(port)
    expect(await next.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    next.socket.destroy()
  })

  it('reads no more than a bound while a listener decides, then pauses the socket; answers in order afterwards', async () => {
    const verdict = deferred<boolean>()
    let socket: net.Socket | null = null
    let session: SmtpProtocol | null = null
    const port = await start((smtp: SmtpProtocol, s) => {
      socket = s as net.Socket
      session = smtp
      smtp.on('sender', () => verdict.promise)
    })
    const client = await SocketClient.connect(port)
    await client.read()
    await client.command('EHLO client.test')
    const until = (condition: () => boolean): Promise<void> =>
      new Promise<void>((resolve) => {
        const check = (): void => (condition() ? resolve() : void setImmediate(check))
        check()
      })
    client.write('MAIL FROM:<a@b.test>')
    await until(() => session!.isWaiting)
    // 60 KB of commands behind the pending MAIL: more than is held before the socket is paused.
    client.write(...Array<string>(10_000).fill('NOOP'))
    await until(() => socket!.isPaused())
    verdict.resolve(true)
    const replies = await client.read(10_001)
    expect(replies[0]).to.equal('250 2.1.0 Sender OK')
    expect(replies.slice(1).every((reply) => reply === '250 2.0.0 OK')).to.equal(true)
    expect(socket!.isPaused()).to.equal(false)
    client.socket.destroy()
  })

  it('closes the connection and keeps serving when the session handler throws', async () => {
    let calls = 0
    const port = await start(() => {
      calls++
      if (calls === 1) throw new Error('handler bug')
    })
    const warning = sinon.stub(process, 'emitWarning')
    try {
      const first = await SocketClient.connect(port)
      await first.ended()
      expect(warning.calledOnce).to.equal(true)
    } finally {
      warning.restore()
    }
    const second = await SocketClient.connect(port)
    expect(await second.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    second.socket.destroy()
  })
})
