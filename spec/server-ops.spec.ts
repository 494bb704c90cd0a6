import { expect } from 'chai'
import { createSelfSignedCertificate } from '../lib/certificate.js'
import type { SessionInfo } from '../lib/session-info.js'
import { SmtpServer, type SessionHandler, type SmtpServerOptions } from '../lib/server.js'
import { deferred } from './helpers/ladder.js'
import { SocketClient } from './helpers/socket-client.js'

/** A PROXY protocol v2 header built from its fields (HAProxy's proxy-protocol.txt §2.2). */
function proxyV2(command: 'PROXY' | 'LOCAL', family: number, addresses: Buffer): Buffer {
  const signature = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')
  const length = Buffer.alloc(2)
  length.writeUInt16BE(addresses.length)
  return Buffer.concat([signature, Buffer.from([command === 'PROXY' ? 0x21 : 0x20, family]), length, addresses])
}

function ipv4Block(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const ports = Buffer.alloc(4)
  ports.writeUInt16BE(sourcePort, 0)
  ports.writeUInt16BE(destinationPort, 2)
  return Buffer.concat([Buffer.from(source.split('.').map(Number)), Buffer.from(destination.split('.').map(Number)), ports])
}

function ipv6Block(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const octets = (address: string): Buffer => {
    const [head = '', tail = ''] = address.split('::')
    const groups = (text: string): number[] => (text ? text.split(':').map((g) => parseInt(g, 16)) : [])
    const all = [...groups(head), ...new Array<number>(8 - groups(head).length - groups(tail).length).fill(0), ...groups(tail)]
    return Buffer.from(all.flatMap((g) => [g >> 8, g & 0xff]))
  }
  const ports = Buffer.alloc(4)
  ports.writeUInt16BE(sourcePort, 0)
  ports.writeUInt16BE(destinationPort, 2)
  return Buffer.concat([octets(source), octets(destination), ports])
}

/** Connects, sends `bytes` first, and returns the client once connected. */
async function connectWith(port: number, bytes: Buffer, localAddress?: string): Promise<SocketClient> {
  const client = await SocketClient.connect(port, '127.0.0.1', localAddress)
  client.socket.write(bytes)
  return client
}

describe('SmtpServer operations', () => {
  let server: SmtpServer | null = null
  const sessions: SessionInfo[] = []

  afterEach(async () => {
    await server?.close()
    server = null
    sessions.length = 0
  })

  function create(options: SmtpServerOptions = {}, handler: SessionHandler = () => undefined): SmtpServer {
    server = new SmtpServer({ domain: 'mx.test', ...options }, (smtp, socket) => {
      smtp.on('ehlo', ({ session }) => void sessions.push(session))
      handler(smtp, socket)
    })
    return server
  }

  describe('listeners', () => {
    it('listens on IPv4 and IPv6 at once, each listener with its own options', async () => {
      const s = create()
      const mx = await s.listen(0, '127.0.0.1')
      const submission = await s.listen(0, '::1', { options: { authPolicy: 'required' } })
      expect(submission.family).to.equal('IPv6')
      const a = await SocketClient.connect(mx.port)
      await a.read()
      await a.command('EHLO c.test')
      expect(await a.command('MAIL FROM:<a@b.test>')).to.equal('250 2.1.0 Sender OK')
      const b = await SocketClient.connect(submission.port, '::1')
      await b.read()
      await b.command('EHLO c.test')
      expect(await b.command('MAIL FROM:<a@b.test>')).to.equal('530 5.7.0 Authentication required')
      expect(sessions.map((session) => session.remoteAddress)).to.deep.equal(['127.0.0.1', '::1'])
      a.socket.destroy()
      b.socket.destroy()
    })
  })

  describe('limits', () => {
    it('answers 421 4.7.0 to a client past maxConnections, and lets one in once a session ended', async () => {
      const { port } = await create({ maxConnections: 1 }).listen(0, '127.0.0.1')
      const first = await SocketClient.connect(port)
      await first.read()
      const second = await SocketClient.connect(port)
      expect(await second.read()).to.deep.equal(['421 4.7.0 Too many connections, try again later'])
      await second.ended()
      await first.command('QUIT')
      await first.ended()
      const third = await SocketClient.connect(port)
      expect(await third.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      third.socket.destroy()
    })

    it('answers 421 4.7.0 past maxConnectionsPerAddress, for that address only', async () => {
      const { port } = await create({ maxConnectionsPerAddress: 1 }).listen(0, '127.0.0.1')
      const first = await SocketClient.connect(port)
      await first.read()
      const again = await SocketClient.connect(port)
      expect(await again.read()).to.deep.equal(['421 4.7.0 Too many connections from your address, try again later'])
      const other = await SocketClient.connect(port, '127.0.0.1', '127.0.0.2')
      expect(await other.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      first.socket.destroy()
      other.socket.destroy()
    })

    it('holds maxConnections from accept: clients that arrive while reverse DNS answers are refused without a query', async () => {
      const lookups: Array<(name: string) => void> = []
      const looking = deferred<void>()
      const s = create({
        maxConnections: 1,
        reverseDns: () =>
          new Promise<string>((resolve) => {
            lookups.push(resolve)
            looking.resolve()
          }),
      })
      const { port } = await s.listen(0, '127.0.0.1')
      const clients = await Promise.all([1, 2, 3].map(() => SocketClient.connect(port)))
      await looking.promise
      const refused = await Promise.all(clients.slice(1).map((client) => client.read()))
      expect(refused.map(([line]) => line)).to.deep.equal(Array(2).fill('421 4.7.0 Too many connections, try again later'))
      expect(lookups).to.have.length(1)
      for (const answer of lookups) answer('client.example.net')
      expect(await clients[0]!.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      for (const client of clients) client.socket.destroy()
    })

    it('gives the per-address slot back when the session handler throws', async () => {
      let calls = 0
      const errors: unknown[] = []
      const s = create({ maxConnectionsPerAddress: 1 }, () => {
        if (++calls === 1) throw new Error('handler bug')
      })
      s.on('error', (error) => void errors.push(error))
      const { port } = await s.listen(0, '127.0.0.1')
      const first = await SocketClient.connect(port)
      await first.ended()
      expect(errors.map((error) => (error as Error).message)).to.deep.equal(['handler bug'])
      const second = await SocketClient.connect(port)
      expect(await second.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      second.socket.destroy()
    })
  })

  describe('shutdown', () => {
    it('cuts off a session still in DATA after closeTimeout, without acknowledging its message', async () => {
      const messages: string[] = []
      const s = create({ closeTimeout: 50 }, (smtp) => smtp.on('message', ({ body }) => void messages.push(String(body))))
      const { port } = await s.listen(0, '127.0.0.1')
      const client = await SocketClient.connect(port)
      await client.read()
      client.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'never finished')
      await client.read(4)
      await s.close()
      await client.ended()
      expect(messages).to.deep.equal([])
      expect(client.transcript()).to.not.include('250 2.0.0 Message accepted')
    })

    it('closes when its AbortSignal is aborted', async () => {
      const controller = new AbortController()
      const { port } = await create({ signal: controller.signal }).listen(0, '127.0.0.1')
      const client = await SocketClient.connect(port)
      await client.read()
      await client.command('EHLO c.test')
      controller.abort()
      expect(await client.read()).to.deep.equal(['421 4.3.2 Service shutting down, closing connection'])
      await client.ended()
    })
  })

  describe('PROXY protocol', () => {
    const cases: Array<[name: string, header: Buffer, facts: Partial<SessionInfo> | 'socket']> = [
      ['v1 TCP4', Buffer.from('PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\n'), { remoteAddress: '192.0.2.10', remotePort: 56324, localAddress: '198.51.100.1', localPort: 25 }],
      ['v1 TCP6', Buffer.from('PROXY TCP6 2001:db8::10 2001:db8::1 40000 587\r\n'), { remoteAddress: '2001:db8::10', remotePort: 40000, localAddress: '2001:db8::1', localPort: 587 }],
      ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), 'socket'],
      ['v2 TCP4', proxyV2('PROXY', 0x11, ipv4Block('203.0.113.9', '198.51.100.2', 61000, 465)), { remoteAddress: '203.0.113.9', remotePort: 61000, localAddress: '198.51.100.2', localPort: 465 }],
      ['v2 TCP6', proxyV2('PROXY', 0x21, ipv6Block('2001:db8::beef', '2001:db8::25', 1234, 25)), { remoteAddress: '2001:db8::beef', remotePort: 1234, localAddress: '2001:db8::25', localPort: 25 }],
      ['v2 LOCAL', proxyV2('LOCAL', 0x00, Buffer.alloc(0)), 'socket'],
    ]
    for (const [name, header, facts] of cases) {
      it(`takes the client address from a ${name} header`, async () => {
        const { port } = await create().listen(0, '127.0.0.1', { proxyProtocol: true })
        const client = await connectWith(port, Buffer.concat([header, Buffer.from('EHLO c.test\r\n')]))
        const [greeting, ehlo] = await client.read(2)
        expect(greeting).to.equal('220 mx.test ESMTP smtpwire')
        expect(ehlo).to.match(/^250-mx\.test greets c\.test/)
        const expected = facts === 'socket' ? { remoteAddress: '127.0.0.1', remotePort: client.socket.localPort, localPort: port } : facts
        expect(sessions[0]).to.include(expected)
        client.socket.destroy()
      })
    }

    it('reads a v2 header written in pieces', async () => {
      const { port } = await create().listen(0, '127.0.0.1', { proxyProtocol: true })
      const header = proxyV2('PROXY', 0x11, ipv4Block('203.0.113.9', '198.51.100.2', 61000, 25))
      const client = await SocketClient.connect(port)
      for (let at = 0; at < header.length; at += 5) {
        client.socket.write(header.subarray(at, at + 5))
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
      expect(await client.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      await client.command('EHLO c.test')
      expect(sessions[0]?.remoteAddress).to.equal('203.0.113.9')
      client.socket.destroy()
    })

    it('closes without a greeting on a malformed or missing header', async () => {
      const errors: string[] = []
      const s = create()
      s.on('connectionError', (error: Error) => void errors.push(error.message))
      const { port } = await s.listen(0, '127.0.0.1', { proxyProtocol: true })
      for (const bytes of ['PROXY TCP4 192.0.2.10 198.51.100.1 99999 25\r\n', 'EHLO c.test\r\n']) {
        const client = await connectWith(port, Buffer.from(bytes))
        await client.ended()
        expect(client.transcript()).to.equal('')
      }
      expect(errors).to.deep.equal(['invalid PROXY header: bad port in v1 header', 'invalid PROXY header: not a PROXY protocol header'])
    })

    it('reads the header before an implicit TLS handshake', async () => {
      const { key, cert } = createSelfSignedCertificate()
      const { port } = await create({ tls: { key, cert } }).listen(0, '127.0.0.1', { secure: true, proxyProtocol: true })
      const plain = await connectWith(port, Buffer.from('PROXY TCP4 192.0.2.44 198.51.100.1 5000 465\r\n'))
      await plain.upgrade()
      expect(await plain.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      await plain.command('EHLO c.test')
      expect(sessions[0]).to.include({ remoteAddress: '192.0.2.44' })
      expect(sessions[0]?.tls?.implicit).to.equal(true)
      plain.socket.destroy()
    })
  })

  it('looks up the client’s name with reverseDns and puts it in the Received header', async () => {
    let body = ''
    const looked = deferred<string>()
    const s = create(
      {
        addReceivedHeader: true,
        reverseDns: async (address) => {
          looked.resolve(address)
          return 'client.example.net'
        },
      },
      (smtp) => smtp.on('message', (e) => void (body = String(e.body))),
    )
    const { port } = await s.listen(0, '127.0.0.1')
    const client = await SocketClient.connect(port)
    await client.read()
    expect(await looked.promise).to.equal('127.0.0.1')
    client.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.')
    await client.read(5)
    expect(sessions[0]?.clientHostname).to.equal('client.example.net')
    expect(body).to.match(/^Received: from c\.test \(client\.example\.net \[127\.0\.0\.1\]\)/)
    client.socket.destroy()
  })
})
