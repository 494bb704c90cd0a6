import { expect } from 'chai'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import sinon from 'sinon'
import { createSelfSignedCertificate } from '../lib/certificate.js'
import { SmtpwireError } from '../lib/errors.js'
import type { SessionInfo, TlsInfo } from '../lib/session-info.js'
import { SmtpServer, type SessionHandler } from '../lib/server.js'
import { STREAM_BUFFER_OCTETS, tlsUpgrade } from '../lib/tls.js'
import { deferred } from './helpers/ladder.js'
import { SocketClient } from './helpers/socket-client.js'

// A certificate made for these specs, in memory: no private key is copied from anywhere.
const CERT = createSelfSignedCertificate({ altNames: ['mx.test', 'localhost', '127.0.0.1'] })

describe('TLS over real sockets', () => {
  let server: SmtpServer | null = null

  afterEach(async () => {
    await server?.close()
    server = null
  })

  async function start(handler: SessionHandler = () => undefined, options = {}): Promise<{ port: number; securePort: number }> {
    server = new SmtpServer({ domain: 'mx.test', tls: { key: CERT.key, cert: CERT.cert }, ...options }, handler)
    const { port } = await server.listen(0, '127.0.0.1')
    const { port: securePort } = await server.listen(0, '127.0.0.1', { secure: true })
    return { port, securePort }
  }

  it('runs STARTTLS: 220, the handshake, a fresh EHLO with AUTH, then mail', async () => {
    let session: SessionInfo | null = null
    const bodies: string[] = []
    const { port } = await start((smtp) => {
      smtp.on('plainAuth', ({ username, password }) => username === 'alice' && password === 'secret')
      smtp.on('message', (e) => {
        session = e.session
        bodies.push(String(e.body))
      })
    })
    const client = await SocketClient.connect(port)
    await client.read()
    expect(await client.command('EHLO c.test')).to.match(/\n250 STARTTLS$/)
    expect(await client.command('STARTTLS')).to.equal('220 2.0.0 Ready to start TLS')
    const secure = await client.upgrade({ servername: 'mx.test' })
    expect(secure.getProtocol()).to.match(/^TLSv1\.[23]$/)
    const ehlo = await client.command('EHLO c.test')
    expect(ehlo).to.not.include('STARTTLS')
    expect(ehlo).to.match(/\n250 AUTH PLAIN LOGIN$/)
    expect(await client.command(`AUTH PLAIN ${Buffer.from('\0alice\0secret').toString('base64')}`)).to.equal('235 2.7.0 Authentication succeeded')
    client.write('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')
    await client.read(3)
    client.write('secret message', '.', 'QUIT')
    expect(await client.read(2)).to.deep.equal(['250 2.0.0 Message accepted', '221 2.0.0 mx.test Service closing transmission channel'])
    expect(bodies).to.deep.equal(['secret message\r\n'])
    expect(session).to.include({ user: 'alice' })
    expect(session!.tls).to.include({ servername: 'mx.test', implicit: false })
    expect(session!.tls?.protocol).to.match(/^TLSv1\.[23]$/)
    expect(session!.tls?.cipher).to.be.a('string')
  })

  it('never runs commands pipelined after STARTTLS in the same plaintext write', async () => {
    const sender = sinon.spy()
    const { port } = await start((smtp) => smtp.on('sender', sender))
    const client = await SocketClient.connect(port)
    await client.read()
    await client.command('EHLO c.test')
    client.socket.write('STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\nRCPT TO:<x@d.test>\r\n')
    expect(await client.read()).to.deep.equal(['220 2.0.0 Ready to start TLS'])
    await client.upgrade()
    // had the injected MAIL run, this would be 503 Sender already specified
    expect(await client.command('EHLO c.test')).to.match(/^250-mx\.test greets c\.test/)
    expect(await client.command('MAIL FROM:<real@b.test>')).to.equal('250 2.1.0 Sender OK')
    expect(sender.callCount).to.equal(1)
    expect(sender.firstCall.args[0].address.address).to.equal('real@b.test')
  })

  it('greets only after the handshake on a secure (implicit TLS) listener', async () => {
    let tls: TlsInfo | null = null
    const { securePort } = await start((smtp) => smtp.on('ehlo', ({ session }) => void (tls = session.tls)))
    const client = await SocketClient.connectTls(securePort, { servername: 'mx.test' })
    expect(await client.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    const ehlo = await client.command('EHLO c.test')
    expect(ehlo).to.not.include('STARTTLS')
    expect(tls).to.include({ implicit: true, servername: 'mx.test' })
    client.socket.destroy()
  })

  it('closes quietly and emits tlsError when the handshake fails, and keeps serving', async () => {
    const failed = deferred<Error>()
    const { port } = await start((smtp) => smtp.on('tlsError', ({ error }) => failed.resolve(error)))
    const client = await SocketClient.connect(port)
    await client.read()
    await client.command('EHLO c.test')
    await client.command('STARTTLS')
    client.socket.write('this is not a TLS ClientHello\r\n')
    const error = await failed.promise
    expect(error).to.be.instanceOf(SmtpwireError)
    expect((error as SmtpwireError).code).to.equal('SMTPWIRE_ERR_TLS')
    await client.ended()
    const next = await SocketClient.connect(port)
    expect(await next.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    next.socket.destroy()
  })

  it('refuses mail before STARTTLS under tlsPolicy required', async () => {
    const { port } = await start(() => undefined, { tlsPolicy: 'required' })
    const client = await SocketClient.connect(port)
    await client.read()
    await client.command('EHLO c.test')
    expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('530 5.7.0 Must issue a STARTTLS command first')
    await client.command('STARTTLS')
    await client.upgrade()
    await client.command('EHLO c.test')
    expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('250 2.1.0 Sender OK')
    client.socket.destroy()
  })

  it('gives every connection 64 KiB of stream buffer each way (plain, implicit TLS, STARTTLS), not Node\'s default', async () => {
    const streams: Duplex[] = []
    const { port, securePort } = await start((_smtp, socket) => void streams.push(socket))
    const plain = await SocketClient.connect(port)
    const secure = await SocketClient.connectTls(securePort)
    await Promise.all([plain.read(), secure.read()])
    // STARTTLS: the same upgrade SmtpServer runs, over a connection of its own
    const raw = net.createServer()
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve))
    const accepted = new Promise<net.Socket>((resolve) => raw.once('connection', resolve))
    const client = tls.connect({ port: (raw.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false })
    try {
      const { stream: upgraded } = await tlsUpgrade({ key: CERT.key, cert: CERT.cert }, false)(await accepted)
      streams.push(upgraded)
      // Node's default is 16 KiB on Node 20 and 64 KiB from Node 22 on: ours is the same on all.
      const buffers = streams.map((stream) => [stream.readableHighWaterMark, stream.writableHighWaterMark])
      expect(buffers).to.deep.equal([[65536, 65536], [65536, 65536], [65536, 65536]])
      expect(STREAM_BUFFER_OCTETS).to.equal(65536)
    } finally {
      for (const stream of [plain.socket, secure.socket, client, ...streams]) stream.destroy()
      raw.close()
    }
  })

  it('refuses a secure listener without tls options, and bad tls options', async () => {
    const plain = new SmtpServer({}, () => undefined)
    expect(() => plain.listen(0, '127.0.0.1', { secure: true })).to.throw(SmtpwireError, /needs the server's `tls` option/)
    expect(() => tlsUpgrade({ key: 'not a key', cert: 'not a cert' }, false)).to.throw(SmtpwireError, /cannot use the TLS options/)
  })

  it('refuses timeouts a Node timer cannot wait (it would fire after 1 ms), as option errors', () => {
    const tls = { key: CERT.key, cert: CERT.cert }
    const tooLong = 'must be at most 2147483647 ms (a longer timer would fire at once), got 2147483648'
    const refused = (run: () => unknown): string => {
      try {
        run()
      } catch (error) {
        return `${(error as SmtpwireError).code}: ${(error as Error).message}`
      }
      return 'accepted'
    }
    expect(refused(() => tlsUpgrade({ ...tls, handshakeTimeout: 2 ** 31 }, false))).to.equal(`SMTPWIRE_ERR_INVALID_OPTION: option \`handshakeTimeout\` ${tooLong}`)
    expect(refused(() => tlsUpgrade({ ...tls, handshakeTimeout: 0 }, true))).to.equal('SMTPWIRE_ERR_INVALID_OPTION: option `handshakeTimeout` must be an integer >= 1, got 0')
    expect(refused(() => new SmtpServer({ closeTimeout: 2 ** 31 }, () => undefined))).to.equal(`SMTPWIRE_ERR_INVALID_OPTION: option \`closeTimeout\` ${tooLong}`)
    const plain = new SmtpServer({}, () => undefined)
    expect(refused(() => plain.listen(0, '127.0.0.1', { proxyProtocol: true, proxyTimeout: 2 ** 31 }))).to.equal(`SMTPWIRE_ERR_INVALID_OPTION: option \`proxyTimeout\` ${tooLong}`)
    expect(refused(() => plain.listen(0, '127.0.0.1', { proxyProtocol: true, proxyTimeout: 0 }))).to.equal('SMTPWIRE_ERR_INVALID_OPTION: option `proxyTimeout` must be an integer >= 1, got 0')
    expect(refused(() => tlsUpgrade({ ...tls, handshakeTimeout: 2 ** 31 - 1 }, false))).to.equal('accepted')
  })
})

describe('createSelfSignedCertificate', () => {
  it('makes a valid self-signed EC certificate for the names and addresses given', () => {
    const { key, cert } = createSelfSignedCertificate({ commonName: 'mail.test', altNames: ['mail.test', '192.0.2.7', '2001:db8::1'], days: 7 })
    const x509 = new X509Certificate(cert)
    expect(x509.subject).to.equal('CN=mail.test')
    expect(x509.issuer).to.equal('CN=mail.test')
    expect(x509.subjectAltName).to.equal('DNS:mail.test, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1')
    expect(x509.verify(x509.publicKey)).to.equal(true)
    expect(x509.checkPrivateKey(createPrivateKey(key))).to.equal(true)
    expect(x509.ca).to.equal(false)
    expect(x509.checkHost('mail.test')).to.equal('mail.test')
    expect(x509.checkIP('192.0.2.7')).to.equal('192.0.2.7')
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000
    expect(days).to.equal(7)
  })

  // Regression (issue 4): a serial starting with 0x00 was encoded with a redundant zero octet, which
  // OpenSSL refuses ("illegal padding"); a random one did so once in 256.
  it('encodes serial numbers minimally', () => {
    const serials: Array<[string, string]> = [
      ['0001ff', '01FF'],
      ['00007f', '7F'],
      ['80', '80'], // encoded 00 80: a positive 128
      ['00', '0'],
    ]
    for (const [octets, expected] of serials) {
      const { cert } = createSelfSignedCertificate({ serialNumber: Buffer.from(octets, 'hex') })
      expect(new X509Certificate(cert).serialNumber, octets).to.equal(expected)
    }
  })

  it('makes a new key every time', () => {
    expect(createSelfSignedCertificate().key).to.not.equal(createSelfSignedCertificate().key)
  })
})
